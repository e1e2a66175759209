import { existsSync, statSync } from "node:fs";
import { SingleBar } from "cli-progress";
import { type Command, Option } from "commander";
import { connectDb } from "../../lancedb/connection.ts";
import { parseLanguageSpec, UnknownLanguageError } from "../../synth/languages.ts";
import {
  FromTableError,
  type FromTableSummary,
  generateFromTable,
  NEGATIVE_MINING,
  type NegativeMining,
} from "../../synth/llm/from-table.ts";
import { generateWithLlm, type SynthSummary } from "../../synth/llm/generate.ts";
import { CorruptJsonlError } from "../../synth/llm/jsonl-file.ts";
import {
  OFFLINE_SOURCES,
  OfflineOptionsError,
  type OfflineSource,
  type OfflineSummary,
  writeOffline,
} from "../../synth/offline/index.ts";
import { isLlmFamily, LLM_FAMILIES, type LlmFamily } from "../../synth/placeholders.ts";
import { dbOption } from "../db-option.ts";
import { type EmbedderCliOptions, loadEmbedderFromOptions } from "../embedder-options.ts";
import { CliError } from "../errors.ts";
import { type StorageOptionFlags, storageOptionFlag, storageOptionsOf } from "../storage-options.ts";

/** Exit codes of `lance-e5 synth` beyond 0 (done) and 1 (failure). */
export const SYNTH_EXIT = { usage: 2, incomplete: 3, interrupted: 130 } as const;

interface SynthFlags extends StorageOptionFlags, EmbedderCliOptions {
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
  offline?: boolean;
  sources?: string;
  force?: boolean;
  fromTable?: string;
  db: string;
  model?: string;
  negatives: string;
  docLanguage: string;
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

/** Endpoint, budget and robustness flags shared by the LLM modes. */
function parseLlmFlags(flags: SynthFlags) {
  if (!flags.llmBaseUrl) throw usage("--llm-base-url is required (or LANCE_E5_LLM_BASE_URL), unless --offline");
  if (!flags.llmModel) throw usage("--llm-model is required (or LANCE_E5_LLM_MODEL)");
  try {
    new URL(flags.llmBaseUrl);
  } catch {
    throw usage(`--llm-base-url is not a URL: "${flags.llmBaseUrl}"`);
  }
  return {
    baseUrl: flags.llmBaseUrl,
    model: flags.llmModel,
    apiKey: readApiKey(flags.llmApiKeyEnv),
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
  };
}

/**
 * Ctrl-C / SIGTERM: stop starting requests, abort those in flight, print the summary. Every accepted example is
 * already on disk, so rerunning the same command continues. A second Ctrl-C exits at once. cli-progress draws
 * only on a terminal; piped stderr gets the summary alone.
 */
async function runInterruptibly<S extends SynthSummary>(
  flags: SynthFlags,
  generate: (signal: AbortSignal, onProgress: (progress: SynthSummary) => void) => Promise<S>,
  extraLines: (summary: S) => string[] = () => [],
): Promise<void> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(SYNTH_EXIT.interrupted);
    process.stderr.write(`\nsynth: ${signal}, stopping (rerun the same command to resume)\n`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const bar = process.stderr.isTTY
    ? new SingleBar({
        stream: process.stderr,
        format: "synth [{bar}] {value}/{total} | dropped {dropped} | requests {requests} | tokens {tokens}",
        hideCursor: true,
      })
    : undefined;
  let summary: S;
  try {
    summary = await generate(controller.signal, (progress) => {
      if (!bar) return;
      const dropped = Object.values(progress.drops).reduce((sum, value) => sum + value, 0);
      if (!bar.isActive) bar.start(progress.requested, progress.written);
      bar.update(progress.written, { dropped, requests: progress.requests, tokens: progress.totalTokens });
    });
  } catch (error) {
    if (error instanceof CorruptJsonlError || error instanceof FromTableError) throw new CliError(error.message, 1);
    throw error;
  } finally {
    bar?.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  process.stderr.write(`${[formatSummary(summary), ...extraLines(summary)].join("\n")}\n`);
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

async function runLlmSynth(flags: SynthFlags): Promise<void> {
  const llm = parseLlmFlags(flags);
  const families = parseFamilies(flags.families);
  let languages: ReturnType<typeof parseLanguageSpec>;
  try {
    languages = parseLanguageSpec(flags.languages);
  } catch (error) {
    if (error instanceof UnknownLanguageError) throw usage(error.message);
    throw error;
  }
  if (families.includes("bitext") && languages.length < 2) throw usage("bitext needs at least two --languages");
  const examplesPerBrainstorm = integer("--examples-per-brainstorm", flags.examplesPerBrainstorm, 1);
  await runInterruptibly(flags, (signal, onProgress) =>
    generateWithLlm({ ...llm, families, languages, examplesPerBrainstorm, signal, onProgress }),
  );
}

async function runFromTableSynth(flags: SynthFlags, table: string): Promise<void> {
  const llm = parseLlmFlags(flags);
  if (!NEGATIVE_MINING.includes(flags.negatives as NegativeMining)) {
    throw usage(`--negatives must be one of ${NEGATIVE_MINING.join(", ")}, got "${flags.negatives}"`);
  }
  if (!/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(flags.docLanguage)) {
    throw usage(`--doc-language must be a BCP-47 code such as en or pt-BR, got "${flags.docLanguage}"`);
  }
  const db = await connectDb(flags.db, { storageOptions: storageOptionsOf(flags) });
  const embedder = await loadEmbedderFromOptions(flags);
  try {
    await runInterruptibly(
      flags,
      (signal, onProgress) =>
        generateFromTable({
          ...llm,
          db,
          table,
          embedder,
          negatives: flags.negatives as NegativeMining,
          language: flags.docLanguage,
          signal,
          onProgress,
        }),
      (summary: FromTableSummary) => [`  without a hard negative: ${summary.withoutNegative}`],
    );
  } finally {
    await embedder.dispose();
  }
}

export function parseSources(text: string | undefined): OfflineSource[] {
  if (text === undefined) return [...OFFLINE_SOURCES];
  const names = [...new Set(text.split(",").map((name) => name.trim()))].filter((name) => name !== "");
  const unknown = names.filter((name) => !(OFFLINE_SOURCES as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw usage(`--sources takes a comma-separated list of ${OFFLINE_SOURCES.join(", ")}; got "${text}"`);
  }
  return names as OfflineSource[];
}

/**
 * --offline: the corpora helper's generator (src/synth/offline). It is deterministic (same seed and installed
 * corpora give the same bytes) and writes a temporary file renamed at the end, so instead of resuming it
 * regenerates; an existing non-empty --out is kept unless --force.
 */
async function runOfflineSynth(flags: SynthFlags): Promise<void> {
  const sources = parseSources(flags.sources);
  const count = integer("--count", flags.count, 1);
  if (!flags.force && existsSync(flags.out) && statSync(flags.out).size > 0) {
    throw usage(`${flags.out} exists; --offline regenerates the whole file: pass --force to replace it`);
  }
  const bar = process.stderr.isTTY
    ? new SingleBar({ stream: process.stderr, format: "synth --offline [{bar}] {value}/{total} | {phase} {source}" })
    : undefined;
  let summary: OfflineSummary;
  try {
    summary = await writeOffline({
      sources,
      count,
      seed: flags.seed,
      out: flags.out,
      onProgress: (progress) => {
        if (!bar) return;
        if (!bar.isActive) bar.start(progress.total, progress.written);
        bar.update(progress.written, { phase: progress.phase, source: progress.source });
      },
    });
  } catch (error) {
    if (error instanceof OfflineOptionsError) throw usage(error.message);
    throw error;
  } finally {
    bar?.stop();
  }
  const shortfall = Object.values(summary.shortfall).reduce((sum, value) => sum + value, 0);
  const report = [
    `synth --offline: ${summary.written}/${summary.requested} examples in ${flags.out} (${summary.seconds} s)`,
    `  families:     ${formatCounts(summary.perFamily)}`,
    `  sources:      ${formatCounts(summary.perSource)}`,
    `  instructions: ${summary.distinctInstructions} distinct`,
    ...(shortfall > 0 ? [`  shortfall:    ${formatCounts(summary.shortfall)}`] : []),
  ];
  process.stderr.write(`${report.join("\n")}\n`);
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.written >= summary.requested ? 0 : SYNTH_EXIT.incomplete;
}

/** Flags given on the command line (not defaults or env) that the chosen mode does not use are errors. */
function rejectFlags(command: Command, mode: string, names: readonly string[]): void {
  const given = names.filter((name) => command.getOptionValueSource(name) === "cli");
  if (given.length > 0) {
    const flagsText = given.map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ");
    throw usage(`${flagsText} ${given.length === 1 ? "does" : "do"} not apply to ${mode}`);
  }
}

const LLM_FLAGS = [
  "llmBaseUrl",
  "llmModel",
  "llmApiKeyEnv",
  "concurrency",
  "llmTimeoutMs",
  "retries",
  "retryBaseMs",
  "maxRequests",
  "maxTokens",
  "temperature",
  "topP",
] as const;
const GENERATOR_FLAGS = ["families", "languages", "examplesPerBrainstorm"] as const;
const TABLE_FLAGS = ["db", "storageOption", "model", "negatives", "docLanguage"] as const;
const OFFLINE_FLAGS = ["sources", "force"] as const;

async function runSynth(flags: SynthFlags, command: Command): Promise<void> {
  if (flags.offline && flags.fromTable !== undefined) throw usage("give --offline or --from-table, not both");
  if (flags.offline) {
    rejectFlags(command, "--offline", [...LLM_FLAGS, ...GENERATOR_FLAGS, ...TABLE_FLAGS]);
    return runOfflineSynth(flags);
  }
  if (flags.fromTable !== undefined) {
    rejectFlags(command, "--from-table", [...GENERATOR_FLAGS, ...OFFLINE_FLAGS]);
    return runFromTableSynth(flags, flags.fromTable);
  }
  rejectFlags(command, "the LLM generator (without --from-table)", [...TABLE_FLAGS, ...OFFLINE_FLAGS]);
  return runLlmSynth(flags);
}

export function registerSynth(program: Command): void {
  program
    .command("synth")
    .description(
      "Generate synthetic training data (JSONL, schemas/synth-example.schema.json) with an OpenAI-compatible LLM: " +
        "the paper's brainstorm + example prompting, or --from-table queries grounded in your own table, or --offline " +
        "from installed corpora. LLM runs resume: rerun the same command after a crash or Ctrl-C.",
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
    .option("--offline", "no LLM: build every family from corpora installed offline (src/synth/offline)")
    .option("--sources <list>", `--offline corpora: ${OFFLINE_SOURCES.join(",")} (default: all)`)
    .option("--force", "--offline: replace an existing --out")
    .option("--from-table <name>", "corpus-grounded: queries for the passages of this lance-e5 table")
    .addOption(dbOption("--from-table: LanceDB directory or URI"))
    .addOption(storageOptionFlag())
    .addOption(
      new Option("--model <dir>", "--from-table: the table's model directory (default: LANCE_E5_MODEL, else shipped)"),
    )
    .option("--negatives <how>", `--from-table: hard-negative mining, ${NEGATIVE_MINING.join("|")}`, "fulltext")
    .option("--doc-language <code>", "--from-table: BCP-47 language of the table's passages", "en")
    .action(async (flags: SynthFlags, command: Command) => runSynth(flags, command));
}
