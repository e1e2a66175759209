import { SingleBar } from "cli-progress";
import { type Command, Option } from "commander";
import { parseLanguageSpec, UnknownLanguageError } from "../../synth/languages.ts";
import { generateWithLlm, type SynthSummary } from "../../synth/llm/generate.ts";
import { CorruptJsonlError } from "../../synth/llm/jsonl-file.ts";
import { isLlmFamily, LLM_FAMILIES, type LlmFamily } from "../../synth/placeholders.ts";
import { CliError } from "../errors.ts";

/** Exit codes of `lance-e5 synth` beyond 0 (done) and 1 (failure). */
export const SYNTH_EXIT = { usage: 2, incomplete: 3, interrupted: 130 } as const;

interface SynthFlags {
  llmBaseUrl?: string;
  llmModel?: string;
  llmApiKeyEnv?: string;
  families: string;
  count: string;
  languages: string;
  seed: string;
  out: string;
  concurrency: string;
  llmTimeoutMs: string;
  retries: string;
  retryBaseMs: string;
  maxRequests?: string;
  maxTokens?: string;
  temperature: string;
  topP: string;
  examplesPerBrainstorm: string;
  json?: boolean;
}

const usage = (message: string) => new CliError(message, SYNTH_EXIT.usage);

function integer(name: string, text: string, min: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min)
    throw usage(`${name} must be an integer ≥ ${min}, got "${text}"`);
  return Number(text);
}

function number(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < min || value > max) {
    throw usage(`${name} must be a number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

export function parseFamilies(text: string): LlmFamily[] {
  const names = [...new Set(text.split(",").map((name) => name.trim()))].filter((name) => name !== "");
  const unknown = names.filter((name) => !isLlmFamily(name));
  if (names.length === 0 || unknown.length > 0) {
    throw usage(`--families takes a comma-separated list of ${LLM_FAMILIES.join(", ")}; got "${text}"`);
  }
  return names as LlmFamily[];
}

/** The API key comes from an environment variable, never a flag, so it stays out of shell history and `ps`. */
function readApiKey(variable: string | undefined): string | undefined {
  if (variable === undefined) return process.env.OPENAI_API_KEY || undefined;
  const key = process.env[variable];
  if (!key) throw usage(`--llm-api-key-env names ${variable}, which is not set`);
  return key;
}

function formatCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length === 0 ? "none" : entries.map(([key, value]) => `${key} ${value}`).join(", ");
}

export function formatSummary(summary: SynthSummary): string {
  const dropped = Object.values(summary.drops).reduce((sum, value) => sum + value, 0);
  return [
    `synth: ${summary.written}/${summary.requested} examples in ${summary.out}` +
      `${summary.resumed > 0 ? ` (${summary.resumed} from an earlier run)` : ""} — ${summary.stopped}` +
      `${summary.error ? `: ${summary.error}` : ""}`,
    `  families:  ${formatCounts(summary.perFamily)}`,
    `  languages: ${formatCounts(summary.perLanguage)}`,
    `  dropped:   ${dropped}${dropped > 0 ? ` (${formatCounts(summary.drops)})` : ""}`,
    `  requests:  ${summary.requests} (${summary.retries} retries; ${summary.brainstorms} brainstorms, ${summary.attempts} examples attempted)`,
    `  tokens:    ${summary.totalTokens} (prompt ${summary.promptTokens}, completion ${summary.completionTokens})`,
    ...(summary.truncatedBytes > 0 ? [`  recovered: cut a partial last line of ${summary.truncatedBytes} bytes`] : []),
  ].join("\n");
}

async function runLlmSynth(flags: SynthFlags): Promise<void> {
  if (!flags.llmBaseUrl) throw usage("--llm-base-url is required (or LANCE_E5_LLM_BASE_URL)");
  if (!flags.llmModel) throw usage("--llm-model is required (or LANCE_E5_LLM_MODEL)");
  try {
    new URL(flags.llmBaseUrl);
  } catch {
    throw usage(`--llm-base-url is not a URL: "${flags.llmBaseUrl}"`);
  }
  const families = parseFamilies(flags.families);
  let languages: ReturnType<typeof parseLanguageSpec>;
  try {
    languages = parseLanguageSpec(flags.languages);
  } catch (error) {
    if (error instanceof UnknownLanguageError) throw usage(error.message);
    throw error;
  }
  if (families.includes("bitext") && languages.length < 2) throw usage("bitext needs at least two --languages");
  const options = {
    baseUrl: flags.llmBaseUrl,
    model: flags.llmModel,
    apiKey: readApiKey(flags.llmApiKeyEnv),
    families,
    languages,
    count: integer("--count", flags.count, 1),
    seed: flags.seed,
    out: flags.out,
    concurrency: integer("--concurrency", flags.concurrency, 1),
    timeoutMs: integer("--llm-timeout-ms", flags.llmTimeoutMs, 1),
    maxRetries: integer("--retries", flags.retries, 0),
    retryBaseMs: integer("--retry-base-ms", flags.retryBaseMs, 0),
    maxRequests: flags.maxRequests === undefined ? undefined : integer("--max-requests", flags.maxRequests, 1),
    maxTokens: flags.maxTokens === undefined ? undefined : integer("--max-tokens", flags.maxTokens, 1),
    temperature: number("--temperature", flags.temperature, 0, 2),
    topP: number("--top-p", flags.topP, 0, 1),
    examplesPerBrainstorm: integer("--examples-per-brainstorm", flags.examplesPerBrainstorm, 1),
  };

  // Ctrl-C / SIGTERM: stop starting requests, abort those in flight, print the summary. Every accepted example
  // is already on disk, so rerunning the same command continues. A second Ctrl-C exits at once.
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(SYNTH_EXIT.interrupted);
    process.stderr.write(`\nsynth: ${signal}, stopping (rerun the same command to resume)\n`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // cli-progress draws only on a terminal; piped stderr gets the summary alone.
  const bar = process.stderr.isTTY
    ? new SingleBar({
        stream: process.stderr,
        format: "synth [{bar}] {value}/{total} | dropped {dropped} | requests {requests} | tokens {tokens}",
        hideCursor: true,
      })
    : undefined;
  let summary: SynthSummary;
  try {
    summary = await generateWithLlm({
      ...options,
      signal: controller.signal,
      onProgress: (progress) => {
        if (!bar) return;
        const dropped = Object.values(progress.drops).reduce((sum, value) => sum + value, 0);
        if (!bar.isActive) bar.start(progress.requested, progress.written);
        bar.update(progress.written, { dropped, requests: progress.requests, tokens: progress.totalTokens });
      },
    });
  } catch (error) {
    if (error instanceof CorruptJsonlError) throw new CliError(error.message, 1);
    throw error;
  } finally {
    bar?.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  process.stderr.write(`${formatSummary(summary)}\n`);
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode =
    summary.stopped === "complete"
      ? 0
      : summary.stopped === "aborted"
        ? SYNTH_EXIT.interrupted
        : summary.stopped === "error"
          ? 1
          : SYNTH_EXIT.incomplete;
}

export function registerSynth(program: Command): void {
  program
    .command("synth")
    .description(
      "Generate synthetic training data (JSONL, schemas/synth-example.schema.json) with an OpenAI-compatible LLM: " +
        "the paper's brainstorm + example prompting. Resumable: rerun the same command after a crash or Ctrl-C.",
    )
    .requiredOption("--out <file>", "output JSONL; existing examples in it count towards --count and are kept")
    .addOption(
      new Option("--llm-base-url <url>", "OpenAI-compatible API base, including /v1").env("LANCE_E5_LLM_BASE_URL"),
    )
    .addOption(new Option("--llm-model <name>", "model name sent to the endpoint").env("LANCE_E5_LLM_MODEL"))
    .option("--llm-api-key-env <var>", "environment variable holding the API key (default: OPENAI_API_KEY if set)")
    .option("--families <list>", `comma-separated task families: ${LLM_FAMILIES.join(",")}`, LLM_FAMILIES.join(","))
    .option("--count <n>", "examples wanted in --out, split evenly over the families", "100")
    .option(
      "--languages <list>",
      'comma-separated codes (equal weights), or "paper" (XLM-R list, ~43% English)',
      "paper",
    )
    .option("--seed <s>", "seed of the placeholder/task sampling plan", "0")
    .option("--concurrency <n>", "requests in flight at once", "4")
    .addOption(
      new Option("--llm-timeout-ms <ms>", "per-request timeout (then retried)")
        .default("120000")
        .env("LANCE_E5_LLM_TIMEOUT_MS"),
    )
    .option("--retries <n>", "retries per request on 429/5xx/timeouts/network errors", "6")
    .option("--retry-base-ms <ms>", "first backoff delay, doubled per retry, with jitter; Retry-After wins", "1000")
    .option("--max-requests <n>", "stop after this many HTTP requests (retries count)")
    .option("--max-tokens <n>", "stop once this many tokens (usage.total_tokens) are spent")
    .option("--temperature <t>", "sampling temperature (paper: 1.0)", "1")
    .option("--top-p <p>", "nucleus sampling (paper: 1.0)", "1")
    .option("--examples-per-brainstorm <n>", "examples drawing tasks from one brainstormed list", "5")
    .option("--json", "also print the run summary as one JSON object on stdout")
    .action(async (flags: SynthFlags) => runLlmSynth(flags));
}
