import { type Command, Option } from "commander";
import { resolveModelDir } from "../defaults.ts";
import type { Embedder } from "../model/embedder.ts";
import { EmbedOptionsError } from "../model/errors.ts";
import { type LoadEmbedderOptions, loadEmbedder } from "../model/onnx-embedder.ts";
import { DEFAULT_REMOTE_BATCH_SIZE, DEFAULT_REMOTE_CONCURRENCY, loadRemoteEmbedder } from "../model/remote-embedder.ts";
import { DEFAULT_RETRY_POLICY } from "../model/remote-http.ts";
import type { RemoteModelSource } from "../model/remote-model.ts";
import { CliError } from "./errors.ts";
import { nonNegativeInt, positiveInt, ropeBase } from "./parsers.ts";

/**
 * The commands that embed, and so take the --embedder-* flags. registerEmbedderOptions adds the flags to each
 * (it runs after every command module registered itself); a command missing from the program is an error, so a
 * rename cannot silently drop the remote backend.
 */
export const EMBEDDING_COMMANDS = [
  "embed",
  "ingest",
  "search",
  "serve",
  "eval",
  "bitext",
  "sts",
  "passkey",
  "synth",
  "tune-fusion",
];

/** The commands with --long-context, which also take an explicit --rope-base / --max-length (passkey has its own). */
export const LONG_CONTEXT_COMMANDS = ["embed", "ingest", "search", "serve", "eval"];

/** Where the API key is read from when --embedder-api-key-env is not given (only if set). */
export const DEFAULT_API_KEY_ENV = "LANCE_E5_EMBEDDER_API_KEY";

/** What every embedding command's options hold, whichever backend it ends up using. */
export interface EmbedderCliOptions {
  model?: string;
  threads?: number;
  longContext?: boolean;
  /** Explicit RoPE base and max length of the local model (any model; win over --long-context's block). */
  ropeBase?: number;
  maxLength?: number;
  embedderUrl?: string;
  embedderModel?: string;
  embedderApiKeyEnv?: string;
  embedderDim?: number;
  embedderTemplate?: string;
  embedderDefaultTask?: string;
  embedderMaxLength?: number;
  embedderBatchSize?: number;
  embedderConcurrency?: number;
  embedderTimeoutMs?: number;
  embedderRetries?: number;
}

/** The --embedder-* flags (text-embeddings-inference style: each also reads an env var). */
export function embedderOptions(): Option[] {
  const remote = "remote embedding backend:";
  return [
    new Option(
      "--embedder-url <url>",
      `${remote} embed through this OpenAI-compatible API (lance-e5 serve, TEI, vLLM, OpenAI) instead of local ONNX`,
    ).env("LANCE_E5_EMBEDDER_URL"),
    new Option(
      "--embedder-model <name>",
      "model name sent in requests (default: the model directory's backend.model, else its name)",
    ).env("LANCE_E5_EMBEDDER_MODEL"),
    new Option(
      "--embedder-api-key-env <var>",
      `environment variable holding the API key (default: ${DEFAULT_API_KEY_ENV} if set)`,
    ),
    new Option("--embedder-dim <n>", "describe the remote model by flags instead of --model: its output dim").argParser(
      positiveInt,
    ),
    new Option("--embedder-template <text>", "with --embedder-dim: instruction template (\\n is a newline)"),
    new Option("--embedder-default-task <task>", "with --embedder-dim: default query task (default web_search)"),
    new Option("--embedder-max-length <n>", "with --embedder-dim: max tokens per text (default 512)").argParser(
      positiveInt,
    ),
    new Option("--embedder-batch-size <n>", `most inputs per request (default ${DEFAULT_REMOTE_BATCH_SIZE})`)
      .argParser(positiveInt)
      .env("LANCE_E5_EMBEDDER_BATCH_SIZE"),
    new Option("--embedder-concurrency <n>", `requests in flight at once (default ${DEFAULT_REMOTE_CONCURRENCY})`)
      .argParser(positiveInt)
      .env("LANCE_E5_EMBEDDER_CONCURRENCY"),
    new Option(
      "--embedder-timeout-ms <n>",
      `per-request timeout, then retried (default ${DEFAULT_RETRY_POLICY.timeoutMs})`,
    )
      .argParser(positiveInt)
      .env("LANCE_E5_EMBEDDER_TIMEOUT_MS"),
    new Option(
      "--embedder-retries <n>",
      `retries on 429/5xx/timeouts/network errors, Retry-After honoured (default ${DEFAULT_RETRY_POLICY.maxRetries})`,
    )
      .argParser(nonNegativeInt)
      .env("LANCE_E5_EMBEDDER_RETRIES"),
  ];
}

/** --rope-base / --max-length: run any local model at another RoPE base and length (the paper's 1e4 -> 1e5). */
export function longContextOptions(): Option[] {
  return [
    new Option(
      "--rope-base <b>",
      "run the model at this RoPE base (e.g. 1e5; the ONNX graph is rewritten at load, no re-export)",
    ).argParser(ropeBase),
    new Option("--max-length <n>", "max tokens per text incl. special tokens (default: the model's)").argParser(
      positiveInt,
    ),
  ];
}

/** A command module (src/cli/commands/index.ts, registered last): adds the flags to every embedding command. */
export function registerEmbedderOptions(program: Command): void {
  const find = (name: string) => {
    const command = program.commands.find((c) => c.name() === name);
    if (command === undefined) throw new Error(`embedder options: no "${name}" command registered`);
    return command;
  };
  for (const name of EMBEDDING_COMMANDS) for (const option of embedderOptions()) find(name).addOption(option);
  for (const name of LONG_CONTEXT_COMMANDS) for (const option of longContextOptions()) find(name).addOption(option);
}

const DESCRIPTION_FLAGS = [
  ["embedderTemplate", "--embedder-template"],
  ["embedderDefaultTask", "--embedder-default-task"],
  ["embedderMaxLength", "--embedder-max-length"],
] as const;

/**
 * The embedder the flags ask for: with --embedder-url, a remote one described by --model DIR (a full model
 * directory or a remote descriptor), by --embedder-dim and friends, or else by LANCE_E5_MODEL / the shipped
 * model; without it, the local ONNX model (`local` passes extra settings such as a RoPE base). Flag mistakes are
 * usage errors (exit 2).
 */
export async function loadEmbedderFromOptions(
  options: EmbedderCliOptions,
  local: LoadEmbedderOptions = {},
): Promise<Embedder> {
  if (options.embedderUrl === undefined) {
    const stray = remoteOnlyFlags(options);
    if (stray.length > 0) throw new CliError(`${stray.join(", ")} need(s) --embedder-url`, 2);
    return loadEmbedder(resolveModelDir(options.model), {
      threads: options.threads,
      longContext: options.longContext,
      ...(options.ropeBase !== undefined && { ropeBase: options.ropeBase }),
      ...(options.maxLength !== undefined && { maxLength: options.maxLength }),
      ...local,
    });
  }
  const localOnly = [
    [options.ropeBase, "--rope-base"],
    [options.maxLength, "--max-length"],
  ].filter(([value]) => value !== undefined);
  if (localOnly.length > 0) {
    throw new CliError(
      `${localOnly.map(([, flag]) => flag).join(", ")} apply to local models; with --embedder-url the server decides`,
      2,
    );
  }
  try {
    return await loadRemoteEmbedder({
      url: options.embedderUrl,
      source: remoteSource(options),
      model: options.embedderModel,
      apiKey: apiKeyOf(options),
      longContext: options.longContext,
      batchSize: options.embedderBatchSize,
      concurrency: options.embedderConcurrency,
      retry: {
        ...(options.embedderTimeoutMs !== undefined && { timeoutMs: options.embedderTimeoutMs }),
        ...(options.embedderRetries !== undefined && { maxRetries: options.embedderRetries }),
      },
    });
  } catch (error) {
    if (error instanceof EmbedOptionsError) throw new CliError(error.message, 2);
    throw error;
  }
}

function remoteOnlyFlags(options: EmbedderCliOptions): string[] {
  const flags: Array<[unknown, string]> = [
    [options.embedderModel, "--embedder-model"],
    [options.embedderApiKeyEnv, "--embedder-api-key-env"],
    [options.embedderDim, "--embedder-dim"],
    ...DESCRIPTION_FLAGS.map(([key, flag]): [unknown, string] => [options[key], flag]),
  ];
  return flags.filter(([value]) => value !== undefined).map(([, flag]) => flag);
}

function remoteSource(options: EmbedderCliOptions): RemoteModelSource {
  const described = DESCRIPTION_FLAGS.filter(([key]) => options[key] !== undefined).map(([, flag]) => flag);
  if (options.embedderDim === undefined) {
    if (described.length > 0) throw new CliError(`${described.join(", ")} need(s) --embedder-dim`, 2);
    return { kind: "directory", dir: resolveModelDir(options.model) };
  }
  if (options.model !== undefined) {
    throw new CliError("describe the remote model by --model DIR or by --embedder-dim (and friends), not both", 2);
  }
  return {
    kind: "flags",
    outputDim: options.embedderDim,
    // A shell passes "\n" through literally; templates need a real newline (e5: "Instruct: {task}\nQuery: {query}").
    instructionTemplate: options.embedderTemplate?.replaceAll("\\n", "\n"),
    defaultTask: options.embedderDefaultTask,
    maxLength: options.embedderMaxLength,
  };
}

function apiKeyOf(options: EmbedderCliOptions): string | undefined {
  if (options.embedderApiKeyEnv === undefined) return process.env[DEFAULT_API_KEY_ENV] || undefined;
  const key = process.env[options.embedderApiKeyEnv];
  if (key === undefined || key === "") {
    throw new CliError(`--embedder-api-key-env ${options.embedderApiKeyEnv}: that environment variable is not set`, 2);
  }
  return key;
}
