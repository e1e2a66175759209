import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_DB, isTaskName, resolveModelDir, SEARCH_MODES, type SearchMode, TASK_INSTRUCTIONS } from "lance-e5";

/** The env var holding the chat endpoint's API key (never a flag: flags end up in shell history and `ps`). */
export const LLM_API_KEY_ENV = "LANCE_E5_LLM_API_KEY";

/** The sample corpus shipped with lance-e5 (State of the Union excerpts), next to this example. */
export const SAMPLE_CORPUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../corpus/sotu");

/** Most passages one answer may cite: more than this bloats the prompt and the page without helping. */
export const MAX_PASSAGES = 20;

export interface LlmOptions {
  /** OpenAI-compatible base URL including the version prefix, e.g. http://localhost:8000/v1. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Longest wait for the first byte and between two streamed chunks. */
  timeoutMs: number;
}

export interface RagOptions {
  corpus: string;
  db: string;
  table: string;
  model: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Passages retrieved per question (the page may ask for another number up to MAX_PASSAGES). */
  k: number;
  task: string;
  mode: SearchMode;
  /** Chunk size in model tokens: short chunks make citations point at the sentence that matters. */
  chunkTokens: number;
  threads?: number;
  /** Absent: answers are extractive (offline). */
  llm?: LlmOptions;
}

/** A flag value that cannot be used; main prints the message and exits 2. */
export class RagOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RagOptionsError";
  }
}

export const USAGE = `usage: npm start -- [options]

  --corpus <dir>         folder of .txt/.md/.html/.jsonl files to answer from (default: lance-e5's sample corpus)
  --db <dir>             LanceDB directory (default ${DEFAULT_DB})
  --table <name>         table name (default rag)
  --model <dir>          model directory (default: $LANCE_E5_MODEL, else lance-e5's shipped model)
  --host <addr>          listen address (default 127.0.0.1)
  --port <n>             listen port, 0 = any free port (default 3000)
  --k <n>                passages per answer (default 5, at most ${MAX_PASSAGES})
  --task <name>          default query task (default question)
  --mode <mode>          default search mode: ${SEARCH_MODES.join(" | ")} (default hybrid)
  --chunk-tokens <n>     chunk size in model tokens when ingesting (default 128)
  --threads <n>          ONNX Runtime threads (default: all CPUs)
  --llm-base-url <url>   OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default: none, extractive answers)
  --llm-model <name>     chat model name at that endpoint (required with --llm-base-url)
  --llm-timeout-ms <n>   wait for the first byte and between streamed chunks (default 60000)
  -h, --help             show this help

The endpoint's API key is read from the environment variable ${LLM_API_KEY_ENV}.`;

/** Parses argv (without node and the script) and the environment; throws RagOptionsError naming the bad flag. */
export function parseRagOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): RagOptions | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        corpus: { type: "string" },
        db: { type: "string" },
        table: { type: "string" },
        model: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        k: { type: "string" },
        task: { type: "string" },
        mode: { type: "string" },
        "chunk-tokens": { type: "string" },
        threads: { type: "string" },
        "llm-base-url": { type: "string" },
        "llm-model": { type: "string" },
        "llm-timeout-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    throw new RagOptionsError((error as Error).message);
  }
  if (values.help) return "help";
  const text = (name: string): string | undefined => values[name] as string | undefined;

  const task = text("task") ?? "question";
  if (!isTaskName(task)) {
    throw new RagOptionsError(
      `--task: unknown task "${task}"; known tasks: ${Object.keys(TASK_INSTRUCTIONS).join(", ")}`,
    );
  }
  const mode = text("mode") ?? "hybrid";
  if (!(SEARCH_MODES as readonly string[]).includes(mode)) {
    throw new RagOptionsError(`--mode: unknown mode "${mode}"; modes: ${SEARCH_MODES.join(", ")}`);
  }
  const k = integerFlag("k", text("k"), 5, 1, MAX_PASSAGES);
  const threadsText = text("threads");

  const baseUrl = text("llm-base-url");
  const llmModel = text("llm-model");
  if ((baseUrl === undefined) !== (llmModel === undefined)) {
    throw new RagOptionsError(
      "--llm-base-url and --llm-model go together: give both, or neither for extractive answers",
    );
  }
  let llm: LlmOptions | undefined;
  if (baseUrl !== undefined && llmModel !== undefined) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new RagOptionsError(`--llm-base-url: "${baseUrl}" is not a URL (e.g. http://localhost:8000/v1)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new RagOptionsError(`--llm-base-url: "${baseUrl}" must be an http(s) URL`);
    }
    if (llmModel.trim() === "") throw new RagOptionsError("--llm-model: must not be empty");
    const apiKey = env[LLM_API_KEY_ENV];
    llm = {
      baseUrl,
      model: llmModel,
      apiKey: apiKey === undefined || apiKey === "" ? undefined : apiKey,
      timeoutMs: integerFlag("llm-timeout-ms", text("llm-timeout-ms"), 60_000, 1, 3_600_000),
    };
  } else if (text("llm-timeout-ms") !== undefined) {
    throw new RagOptionsError("--llm-timeout-ms needs --llm-base-url and --llm-model");
  }

  return {
    corpus: path.resolve(text("corpus") ?? SAMPLE_CORPUS_DIR),
    db: text("db") ?? DEFAULT_DB,
    table: nonEmpty("table", text("table") ?? "rag"),
    model: resolveModelDir(text("model")),
    host: nonEmpty("host", text("host") ?? "127.0.0.1"),
    port: integerFlag("port", text("port"), 3000, 0, 65_535),
    k,
    task,
    mode: mode as SearchMode,
    chunkTokens: integerFlag("chunk-tokens", text("chunk-tokens"), 128, 8, 1_000_000),
    threads: threadsText === undefined ? undefined : integerFlag("threads", threadsText, 1, 1, 1024),
    llm,
  };
}

function integerFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new RagOptionsError(`--${name}: "${value}" must be an integer from ${min} to ${max}`);
  }
  return n;
}

function nonEmpty(name: string, value: string): string {
  if (value.trim() === "") throw new RagOptionsError(`--${name}: must not be empty`);
  return value;
}
