import { readFile } from "node:fs/promises";
import { type Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_DB, DEFAULT_TABLE } from "../../defaults.ts";
import { ModelMismatchError, NotALanceE5TableError, TableNotFoundError } from "../../lancedb/errors.ts";
import { connectForSearch } from "../../search/index.ts";
import { createApp } from "../../server/app.ts";
import { parseApiKeys } from "../../server/middleware/auth.ts";
import {
  DEFAULT_BATCHING,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_LIMITS,
  DEFAULT_READ_CONSISTENCY_MS,
} from "../../server/options.ts";
import { listen } from "../../server/serve.ts";
import { type EmbedderCliOptions, loadEmbedderFromOptions } from "../embedder-options.ts";
import { CliError } from "../errors.ts";
import { type StorageOptionFlags, storageOptionFlag, storageOptionsOf } from "../storage-options.ts";

interface ServeCommandOptions extends StorageOptionFlags, EmbedderCliOptions {
  db: string;
  table: string;
  model?: string;
  port: number;
  host: string;
  apiKeysFile?: string;
  maxBodyBytes: number;
  maxK: number;
  maxInputs: number;
  maxInputTokens: number;
  requestTimeoutMs: number;
  rateLimit: number;
  rateLimitBurst?: number;
  corsOrigins?: string;
  batchWindowMs: number;
  maxBatchTokens: number;
  maxQueuedTexts: number;
  maxBatchesInFlight?: number;
  drainTimeoutMs: number;
  readConsistencyMs: number;
  readConsistencyS?: number;
  threads?: number;
  longContext?: boolean;
}

function int(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be an integer ≥ ${min}`);
    return n;
  };
}

/** A flag that also reads an env var (text-embeddings-inference style): the flag wins, then the env, then the default. */
function flag(flags: string, description: string, env: string, parse?: (v: string) => unknown, fallback?: unknown) {
  const option = new Option(flags, description).env(env);
  if (parse) option.argParser(parse);
  if (fallback !== undefined) option.default(fallback);
  return option;
}

/** `lance-e5 serve`: loads the model once, checks the default table, and serves the Hono app on a port. */
export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("serve POST /search and OpenAI-compatible POST /v1/embeddings over HTTP")
    .addOption(flag("--db <dir>", "LanceDB database directory or URI", "LANCE_E5_DB", undefined, DEFAULT_DB))
    .addOption(storageOptionFlag())
    .addOption(flag("--table <name>", "default table", "LANCE_E5_TABLE", undefined, DEFAULT_TABLE))
    .option("--model <dir>", "model directory (default: $LANCE_E5_MODEL, else the shipped model)")
    .addOption(flag("--port <n>", "port (0: any free port)", "LANCE_E5_PORT", int(0), 8080))
    .addOption(flag("--host <host>", "interface to bind", "LANCE_E5_HOST", undefined, "127.0.0.1"))
    .addOption(
      flag(
        "--api-keys-file <file>",
        "file of bearer API keys, one per line (also: LANCE_E5_API_KEYS=k1,k2)",
        "LANCE_E5_API_KEYS_FILE",
      ),
    )
    .addOption(
      flag(
        "--max-body-bytes <n>",
        "largest request body",
        "LANCE_E5_MAX_BODY_BYTES",
        int(1),
        DEFAULT_LIMITS.maxBodyBytes,
      ),
    )
    .addOption(flag("--max-k <n>", "largest k a search may ask for", "LANCE_E5_MAX_K", int(1), DEFAULT_LIMITS.maxK))
    .addOption(
      flag(
        "--max-inputs <n>",
        "most inputs per /v1/embeddings request",
        "LANCE_E5_MAX_INPUTS",
        int(1),
        DEFAULT_LIMITS.maxInputs,
      ),
    )
    .addOption(
      flag(
        "--max-input-tokens <n>",
        "most tokens per request",
        "LANCE_E5_MAX_INPUT_TOKENS",
        int(1),
        DEFAULT_LIMITS.maxInputTokens,
      ),
    )
    .addOption(
      flag(
        "--request-timeout-ms <n>",
        "per-request deadline (504)",
        "LANCE_E5_REQUEST_TIMEOUT_MS",
        int(1),
        DEFAULT_LIMITS.requestTimeoutMs,
      ),
    )
    .addOption(flag("--rate-limit <n>", "requests/minute per API key (0: off)", "LANCE_E5_RATE_LIMIT", int(0), 0))
    .addOption(
      flag(
        "--rate-limit-burst <n>",
        "burst allowance (default: one minute's worth)",
        "LANCE_E5_RATE_LIMIT_BURST",
        int(1),
      ),
    )
    .addOption(flag("--cors-origins <list>", "comma-separated allowed origins, or *", "LANCE_E5_CORS_ORIGINS"))
    .addOption(
      flag(
        "--batch-window-ms <n>",
        "micro-batching window (0: off)",
        "LANCE_E5_BATCH_WINDOW_MS",
        int(0),
        DEFAULT_BATCHING.batchWindowMs,
      ),
    )
    .addOption(
      flag(
        "--max-batch-tokens <n>",
        "tokens per model call",
        "LANCE_E5_MAX_BATCH_TOKENS",
        int(1),
        DEFAULT_BATCHING.maxBatchTokens,
      ),
    )
    .addOption(
      flag(
        "--max-queued-texts <n>",
        "queued texts before 429",
        "LANCE_E5_MAX_QUEUED_TEXTS",
        int(1),
        DEFAULT_BATCHING.maxQueuedTexts,
      ),
    )
    .addOption(
      flag(
        "--max-batches-in-flight <n>",
        "embedding batches running at once while the next one collects (default: the runtime's parallel sessions)",
        "LANCE_E5_MAX_BATCHES_IN_FLIGHT",
        int(1),
      ),
    )
    .addOption(
      flag(
        "--drain-timeout-ms <n>",
        "graceful-shutdown wait for in-flight requests",
        "LANCE_E5_DRAIN_TIMEOUT_MS",
        int(0),
        DEFAULT_DRAIN_TIMEOUT_MS,
      ),
    )
    .addOption(
      flag(
        "--read-consistency-ms <n>",
        "how soon searches see rows other processes commit: ms between checks for a newer table version (0: every read)",
        "LANCE_E5_READ_CONSISTENCY_MS",
        int(0),
        DEFAULT_READ_CONSISTENCY_MS,
      ),
    )
    // The first name of this setting, in whole seconds; kept working for existing scripts, no longer advertised.
    .addOption(
      flag("--read-consistency-s <n>", "seconds (old name)", "LANCE_E5_READ_CONSISTENCY_S", int(0))
        .conflicts("readConsistencyMs")
        .hideHelp(),
    )
    .option("--threads <n>", "ONNX Runtime threads (default: $LANCE_E5_THREADS, else all CPUs)", int(1))
    .option("--long-context", "load the model's long_context RoPE base and max length (as the table was ingested)")
    .action(async (options: ServeCommandOptions) => {
      const storageOptions = storageOptionsOf(options);
      let keysFile: string | undefined;
      if (options.apiKeysFile !== undefined) {
        try {
          keysFile = await readFile(options.apiKeysFile, "utf8");
        } catch (error) {
          throw new CliError(`--api-keys-file ${options.apiKeysFile}: ${(error as Error).message}`, 2);
        }
      }
      const apiKeys = parseApiKeys(process.env.LANCE_E5_API_KEYS, keysFile);
      if (options.apiKeysFile !== undefined && apiKeys.length === 0) {
        throw new CliError(`--api-keys-file ${options.apiKeysFile} holds no keys`, 2);
      }

      const embedder = await loadEmbedderFromOptions(options);
      const lanceE5 = createApp({
        embedder,
        db: await connectForSearch(options.db, readConsistencySeconds(options), { storageOptions }),
        defaultTable: options.table,
        apiKeys,
        version: program.version(),
        processMetrics: true,
        limits: {
          maxBodyBytes: options.maxBodyBytes,
          maxK: options.maxK,
          maxInputs: options.maxInputs,
          maxInputTokens: options.maxInputTokens,
          requestTimeoutMs: options.requestTimeoutMs,
          rateLimitPerMinute: options.rateLimit,
          rateLimitBurst: options.rateLimitBurst,
          corsOrigins: (options.corsOrigins ?? "")
            .split(",")
            .map((o) => o.trim())
            .filter(Boolean),
        },
        batching: {
          batchWindowMs: options.batchWindowMs,
          maxBatchTokens: options.maxBatchTokens,
          maxQueuedTexts: options.maxQueuedTexts,
          maxBatchesInFlight: options.maxBatchesInFlight,
        },
      });
      const log = (line: string) => process.stderr.write(`lance-e5 serve: ${line}\n`);
      try {
        await lanceE5.warmUp();
      } catch (error) {
        if (error instanceof ModelMismatchError || error instanceof NotALanceE5TableError) {
          await embedder.dispose();
          throw new CliError(error.message, 2);
        }
        if (!(error instanceof TableNotFoundError)) throw error;
        // Embeddings still work; /search and /ready answer once the table exists.
        log(`warning: ${error.message}; /ready is 503 until it exists`);
      }

      const running = await listen(lanceE5, {
        port: options.port,
        host: options.host,
        drainTimeoutMs: options.drainTimeoutMs,
      }).catch((error: Error) => {
        throw new CliError(`cannot listen on ${options.host}:${options.port}: ${error.message}`, 2);
      });
      log(
        `listening on ${running.url} (model ${embedder.config.name}, table ${options.table}, ` +
          `auth ${apiKeys.length > 0 ? `${apiKeys.length} key(s)` : "off"}, batch window ${options.batchWindowMs} ms)`,
      );

      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log(`${signal}: draining in-flight requests`);
          void running
            .shutdown()
            .then(() => embedder.dispose())
            .then(() => {
              log("stopped");
              resolve();
            });
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
    });
}

/** LanceDB's readConsistencyInterval is in (fractional) seconds; the old --read-consistency-s still wins if given. */
function readConsistencySeconds(options: ServeCommandOptions): number {
  return options.readConsistencyS ?? options.readConsistencyMs / 1000;
}
