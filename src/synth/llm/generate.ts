import type { WeightedLanguage } from "../languages.ts";
import { BRAINSTORM_FAMILIES, FIXED_TASKS, fillTemplate, type LlmFamily, samplePlaceholders } from "../placeholders.ts";
import { brainstormPrompt, examplePromptTemplate } from "../prompts/index.ts";
import { parseExampleAnswer, parseTaskList, type SynthExample, schemaErrors } from "../validate.ts";
import { resumeOutput } from "./checkpoint.ts";
import { type ChatResult, chatCompletion, RequestBudget, type RetryEvent } from "./client.ts";
import { pick, seededRandom } from "./rng.ts";
import { runAttemptLoop, type StopReason } from "./scheduler.ts";

export type { StopReason } from "./scheduler.ts";

/**
 * The paper's two-step generator (REFERENCE.md §3) against an OpenAI-compatible endpoint.
 *
 * Work plan: attempts are numbered; attempt k samples its placeholders (and its task from a brainstormed
 * list) with an RNG derived from (seed, k), for a family picked round-robin among those still short of
 * their quota (count split evenly over the families). Accepted examples are appended to `out` at once and
 * carry `meta.attempt`, so a restarted run reads the file back — dedup set, per-family counts, next attempt
 * number — and continues; nothing accepted is lost or written twice, and the file ends with `count` lines.
 */
export interface LlmSynthOptions {
  baseUrl: string;
  model: string;
  apiKey?: string;
  families: readonly LlmFamily[];
  /** Total examples wanted in `out` (existing lines from an earlier run count). */
  count: number;
  languages: readonly WeightedLanguage[];
  seed: string;
  out: string;
  temperature?: number;
  topP?: number;
  concurrency?: number;
  timeoutMs?: number;
  maxRetries?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  maxRequests?: number;
  maxTokens?: number;
  /** How many examples draw their task from one brainstormed list before a new list is asked for. */
  examplesPerBrainstorm?: number;
  /** Guard against an endpoint whose answers are all dropped: attempts allowed in this run. */
  maxAttempts?: number;
  signal?: AbortSignal;
  onProgress?: (summary: SynthSummary) => void;
  onRetry?: (event: RetryEvent) => void;
}

export interface SynthSummary {
  out: string;
  requested: number;
  /** Lines of the requested families now in the file. */
  written: number;
  /** Of those, found in the file when the run started. */
  resumed: number;
  /** Bytes of a torn last line cut off at start. */
  truncatedBytes: number;
  perFamily: Record<string, number>;
  perLanguage: Record<string, number>;
  drops: Record<string, number>;
  attempts: number;
  brainstorms: number;
  requests: number;
  retries: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  stopped: StopReason;
  error?: string;
}

export class SynthOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SynthOptionsError";
  }
}

function validateOptions(options: LlmSynthOptions): void {
  if (options.families.length === 0) throw new SynthOptionsError("no task families selected");
  if (!Number.isInteger(options.count) || options.count < 1)
    throw new SynthOptionsError("count must be a positive integer");
  if (options.languages.length === 0) throw new SynthOptionsError("no languages selected");
  if (options.families.includes("bitext") && options.languages.length < 2) {
    throw new SynthOptionsError("bitext needs at least two languages (--languages)");
  }
}

/** Splits `count` evenly over the families, earlier families taking the remainder. */
export function familyQuotas(families: readonly LlmFamily[], count: number): Map<LlmFamily, number> {
  const base = Math.floor(count / families.length);
  return new Map(families.map((family, index) => [family, base + (index < count % families.length ? 1 : 0)]));
}

export const increment = (record: Record<string, number>, key: string) => {
  record[key] = (record[key] ?? 0) + 1;
};

/** A run summary with every counter at zero (shared by the LLM and the corpus-grounded generators). */
export function emptySummary(out: string, requested: number): SynthSummary {
  return {
    out,
    requested,
    written: 0,
    resumed: 0,
    truncatedBytes: 0,
    perFamily: {},
    perLanguage: {},
    drops: {},
    attempts: 0,
    brainstorms: 0,
    requests: 0,
    retries: 0,
    promptTokens: 0,
    completionTokens: 0,
    totalTokens: 0,
    stopped: "complete",
  };
}

/** Copies the request budget's counters into the summary (called after every request). */
export function copyBudgetCounters(summary: SynthSummary, budget: RequestBudget): void {
  summary.requests = budget.requests;
  summary.retries = budget.retries;
  summary.promptTokens = budget.promptTokens;
  summary.completionTokens = budget.completionTokens;
  summary.totalTokens = budget.totalTokens;
}

export async function generateWithLlm(options: LlmSynthOptions): Promise<SynthSummary> {
  validateOptions(options);
  const families = [...options.families];
  const quotas = familyQuotas(families, options.count);
  const written = new Map<LlmFamily, number>(families.map((family) => [family, 0]));
  const pending = new Map<LlmFamily, number>(families.map((family) => [family, 0]));
  const summary = emptySummary(options.out, options.count);

  // Resume: the output file is the checkpoint.
  const { dedup, existing, nextAttempt, truncatedBytes, appender } = await resumeOutput(options.out);
  summary.truncatedBytes = truncatedBytes;
  for (const example of existing) {
    const family = example.task_family as LlmFamily;
    if (!written.has(family)) continue;
    written.set(family, (written.get(family) ?? 0) + 1);
    increment(summary.perFamily, family);
    increment(summary.perLanguage, example.language);
    summary.written += 1;
  }
  summary.resumed = summary.written;

  const budget = new RequestBudget(options.maxRequests, options.maxTokens);
  const syncBudget = () => copyBudgetCounters(summary, budget);
  const chat = (message: string): Promise<ChatResult> =>
    chatCompletion(
      {
        baseUrl: options.baseUrl,
        model: options.model,
        apiKey: options.apiKey,
        temperature: options.temperature ?? 1,
        topP: options.topP ?? 1,
        timeoutMs: options.timeoutMs ?? 120_000,
        maxRetries: options.maxRetries ?? 6,
        retryBaseMs: options.retryBaseMs ?? 1000,
        retryMaxMs: options.retryMaxMs ?? 60_000,
        budget,
        signal: options.signal,
        onRetry: options.onRetry,
      },
      message,
    );

  // One brainstormed list per family serves `examplesPerBrainstorm` examples; concurrent attempts share it.
  const examplesPerBrainstorm = options.examplesPerBrainstorm ?? 5;
  const pools = new Map<LlmFamily, { tasks: Promise<string[] | undefined>; uses: number }>();
  const brainstorm = async (family: LlmFamily): Promise<string[] | undefined> => {
    summary.brainstorms += 1;
    const tasks = parseTaskList((await chat(brainstormPrompt(family))).content);
    if (!tasks) increment(summary.drops, "brainstorm-invalid");
    return tasks;
  };
  const taskFor = async (family: LlmFamily, random: () => number): Promise<string | undefined> => {
    const fixed = FIXED_TASKS[family];
    if (fixed !== undefined || !BRAINSTORM_FAMILIES.has(family)) return fixed;
    let pool = pools.get(family);
    if (!pool || pool.uses >= examplesPerBrainstorm) {
      pool = { tasks: brainstorm(family), uses: 0 };
      pools.set(family, pool);
    }
    pool.uses += 1;
    const current = pool;
    const tasks = await current.tasks.catch((error: unknown) => {
      if (pools.get(family) === current) pools.delete(family);
      throw error;
    });
    if (!tasks) {
      if (pools.get(family) === current) pools.delete(family);
      return undefined;
    }
    return pick(tasks, random);
  };

  const runAttempt = async (family: LlmFamily, attempt: number): Promise<void> => {
    const random = seededRandom(options.seed, attempt);
    const sampled = samplePlaceholders(family, random, options.languages);
    const task = await taskFor(family, random);
    if (task === undefined) return;
    const answer = await chat(fillTemplate(examplePromptTemplate(family), { ...sampled.values, task }));
    const parsed = parseExampleAnswer(family, answer.content);
    if (!parsed.ok) return increment(summary.drops, parsed.reason);
    const example: SynthExample = {
      task_family: family,
      instruction: task,
      ...parsed.triple,
      language: sampled.languageCode,
      source: `llm:${options.model}`,
      meta: { placeholders: sampled.values, attempt },
    };
    if (schemaErrors(example)) return increment(summary.drops, "schema-invalid");
    const duplicate = dedup.check(example);
    if (duplicate) return increment(summary.drops, duplicate);
    appender.append(example);
    written.set(family, (written.get(family) ?? 0) + 1);
    increment(summary.perFamily, family);
    increment(summary.perLanguage, example.language);
    summary.written += 1;
  };

  const nextFamily = (attempt: number): LlmFamily | undefined => {
    for (let offset = 0; offset < families.length; offset++) {
      const family = families[(attempt + offset) % families.length] as LlmFamily;
      if ((written.get(family) ?? 0) + (pending.get(family) ?? 0) < (quotas.get(family) ?? 0)) return family;
    }
    return undefined;
  };
  const remaining = Math.max(0, options.count - summary.written);
  let loop: Awaited<ReturnType<typeof runAttemptLoop>>;
  try {
    loop = await runAttemptLoop({
      concurrency: options.concurrency ?? 4,
      maxAttempts: options.maxAttempts ?? 10 * remaining + 50,
      firstAttempt: nextAttempt,
      budget,
      signal: options.signal,
      next: (attempt) => {
        const family = nextFamily(attempt);
        if (family === undefined) return undefined;
        pending.set(family, (pending.get(family) ?? 0) + 1);
        return () => runAttempt(family, attempt).finally(() => pending.set(family, (pending.get(family) ?? 0) - 1));
      },
      onBadResponse: () => increment(summary.drops, "bad-response"),
      onSettled: () => {
        syncBudget();
        options.onProgress?.(summary);
      },
    });
  } finally {
    appender.close();
    syncBudget();
  }
  summary.attempts = loop.attempts;
  const fatal = loop.fatal;
  const stopReason: StopReason | undefined = loop.stopReason;
  const complete = families.every((family) => (written.get(family) ?? 0) >= (quotas.get(family) ?? 0));
  summary.stopped = fatal !== undefined ? "error" : complete ? "complete" : (stopReason ?? "complete");
  if (fatal !== undefined) summary.error = fatal instanceof Error ? fatal.message : String(fatal);
  return summary;
}
