import { randomUUID } from "node:crypto";
import { statSync } from "node:fs";
import { copyFile, link, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { InferenceSession } from "onnxruntime-node";
import { attentionGraph } from "./attention-graph.ts";
import { type PaddedBatch, padBatch, planBatches } from "./batching.ts";
import type { KvCacheConfig, ModelConfig, ModelIdentity } from "./config.ts";
import type { Embedder, EmbedOptions, EncodedText, LocalEmbedder } from "./embedder.ts";
import { EmbedOptionsError, InvalidInputError, ModelDirectoryError } from "./errors.ts";
import { identityAtRopeBase } from "./identity.ts";
import { checkArray, InstructedEmbedder } from "./instructed-embedder.ts";
import { ATTENTION_BUFFER_BYTES, chunkTokens, emptyPastFeeds, kvNames, runChunked } from "./kv-cache.ts";
import { isLastTokenGraph, LAST_TOKEN_INPUT, lastTokenFeed, lastTokenGraph } from "./last-token-graph.ts";
import { TOKENIZER_FILE } from "./model-dir.ts";
import { loadModelFiles, type ModelFiles, readModelBytes } from "./model-files.ts";
import { fromFloat16Bits } from "./onnx-proto.ts";
import { l2Normalize, lastTokenPool } from "./pooling.ts";
import { applyRopeBase, RopeOverrideError, ropeCachePositions, ropeInverseFrequencies } from "./rope.ts";
import { acquireSession, type SessionLease } from "./session-cache.ts";
import {
  openSessionRunner,
  planSessions,
  type RunnerTensor,
  type SessionPlan,
  type SessionRunner,
} from "./session-runner.ts";
import { type ContentPieces, type ModelTokenizer, validateText } from "./tokenize.ts";

export interface LoadEmbedderOptions {
  /** ORT threads in all (split between sessions). Default: env LANCE_E5_THREADS, else the number of CPUs. */
  threads?: number;
  /**
   * ORT sessions (worker threads) running batches at once. Default: env LANCE_E5_SESSIONS, else one per thread
   * for models up to 256 MiB (data parallelism beats intra-op threads on small matrices) and one for larger.
   */
  sessions?: number;
  /** Use the config's `long_context` block (extended RoPE base and max length). */
  longContext?: boolean;
  /** RoPE base to run at (overrides the native one, or the long-context one). */
  ropeBase?: number;
  /** Max tokens per text including special tokens (default: the config's, or the long-context one). */
  maxLength?: number;
  /** Upper bound on rows × padded length per ORT run (default DEFAULT_BATCH_TOKEN_BUDGET). */
  batchTokenBudget?: number;
  /**
   * Attention score-buffer bytes one run may use; texts that would need more run in chunks through the graph's
   * key-value cache (graphs with `onnx.kv_cache`). Default ATTENTION_BUFFER_BYTES (256 MiB).
   */
  attentionBufferBytes?: number;
  /**
   * Padding side override. The default is the config's `padding_side`; graphs with fused attention
   * (GroupQueryAttention) only support right padding, so override only for graphs that accept both.
   */
  paddingSide?: "left" | "right";
  /**
   * Run the graph's position-wise tail (last MLP, final norm) on the pooled row only (src/model/last-token-graph.ts;
   * default true). The vectors are the same (bit-identical in fp32 graphs); false runs the graph as exported.
   */
  lastTokenGraph?: boolean;
  /**
   * On GroupQueryAttention graphs, with the last-token graph: rotary embedding inside the attention op and the last
   * layer's attention for the pooled token only (src/model/attention-graph.ts; default true). fp32 graphs give the
   * same vectors (≤ 1e-6); fp16 graphs round the rotary once instead of after each op (vectors move ≤ 2e-4, well
   * within the fp16 graph's own distance from fp32). false keeps the last-token graph's attention as exported.
   */
  attentionGraph?: boolean;
}

/**
 * Rows × padded length per ORT run. Measured on bench-mistral (2 shared cores, man-page texts): 512 ran ~1.8×
 * faster than 8192 and no slower than 256–2048 — once texts are length-sorted there is no padding to amortise,
 * and small activations stay in cache. Raise it for wide models on many cores.
 */
export const DEFAULT_BATCH_TOKEN_BUDGET = 512;

/** Thread count from the option, else LANCE_E5_THREADS, else all CPUs. */
export function resolveThreads(threads?: number): number {
  const fromEnv = process.env.LANCE_E5_THREADS;
  const value = threads ?? (fromEnv !== undefined && fromEnv !== "" ? Number(fromEnv) : os.availableParallelism());
  if (!Number.isInteger(value) || value < 1) {
    throw new EmbedOptionsError(
      `threads must be a positive integer, got ${threads !== undefined ? threads : `LANCE_E5_THREADS=${fromEnv}`}`,
    );
  }
  return value;
}

/**
 * Loads a model directory (model.onnx, tokenizer.json, lance-e5.json) into an Embedder. Checks the files against
 * each other (schema, graph inputs/outputs, hidden size, tokenizer ids within the embedding table) so a broken
 * directory fails here with a ModelDirectoryError rather than with wrong vectors later.
 */
export async function loadEmbedder(modelDir: string, options: LoadEmbedderOptions = {}): Promise<LocalEmbedder> {
  const files = await loadModelFiles(modelDir);
  const { config, tokenizer } = files;

  const threads = resolveThreads(options.threads);
  if (options.longContext && !config.long_context) {
    throw new EmbedOptionsError(`model "${config.name}" has no long_context block in lance-e5.json`);
  }
  const longContext = options.longContext ? config.long_context : undefined;
  const ropeBase = options.ropeBase ?? longContext?.rope_base ?? config.rope.base;
  if (!(ropeBase > 1)) throw new EmbedOptionsError(`ropeBase must be greater than 1, got ${ropeBase}`);
  const maxLength = options.maxLength ?? longContext?.max_length ?? config.max_length;
  if (!Number.isInteger(maxLength) || maxLength < tokenizer.prefixIds.length + tokenizer.suffixIds.length + 2) {
    throw new EmbedOptionsError(`maxLength must be an integer large enough for special tokens, got ${maxLength}`);
  }
  const budget = options.batchTokenBudget ?? DEFAULT_BATCH_TOKEN_BUDGET;
  if (!Number.isInteger(budget) || budget < 1) {
    throw new EmbedOptionsError(`batchTokenBudget must be a positive integer, got ${budget}`);
  }
  const attentionBufferBytes = options.attentionBufferBytes ?? ATTENTION_BUFFER_BYTES;
  if (!Number.isInteger(attentionBufferBytes) || attentionBufferBytes < 1) {
    throw new EmbedOptionsError(`attentionBufferBytes must be a positive integer, got ${attentionBufferBytes}`);
  }
  const cachePositions = ropeCachePositions(files.initializers, config.rope);
  if (maxLength > cachePositions) {
    throw new EmbedOptionsError(`maxLength ${maxLength} exceeds the ${cachePositions} positions of the rotary caches`);
  }

  const plan = planSessions(threads, modelBytes(files), resolveSessions(options.sessions));
  const lastToken = (options.lastTokenGraph ?? true) && !config.onnx.pooling_in_graph;
  // 0: no attention rewrite, so no rotary caches.
  const positions = (options.attentionGraph ?? true) ? rotaryCacheRows(config, maxLength) : 0;
  const lease = await acquireSession(
    {
      modelPath: path.join(files.dir, config.onnx.file),
      ropeBase,
      threads,
      sessions: plan.sessions,
      lastToken,
      positions,
    },
    () => createCheckedSession(files, { ropeBase, positions }, plan, lastToken),
  );
  return new OnnxEmbedder(config, identityAtRopeBase(files.identity, config.rope.base, ropeBase), tokenizer, lease, {
    maxLength,
    budget,
    attentionBufferBytes,
    paddingSide: options.paddingSide ?? config.padding_side,
  });
}

/** Session count from the option, else LANCE_E5_SESSIONS, else undefined (planSessions decides). */
export function resolveSessions(sessions?: number): number | undefined {
  const fromEnv = process.env.LANCE_E5_SESSIONS;
  const value = sessions ?? (fromEnv !== undefined && fromEnv !== "" ? Number(fromEnv) : undefined);
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new EmbedOptionsError(
      `sessions must be a positive integer, got ${sessions !== undefined ? sessions : `LANCE_E5_SESSIONS=${fromEnv}`}`,
    );
  }
  return value;
}

/** Bytes of the graph and its external data (what each extra session would hold again). */
function modelBytes(files: ModelFiles): number {
  return [files.config.onnx.file, ...files.externalFiles].reduce(
    (sum, file) => sum + statSync(path.join(files.dir, file)).size,
    0,
  );
}

/** ORT session options for one worker session; the bench's ceiling uses the same. */
export function sessionOptionsFor(plan: SessionPlan): InferenceSession.SessionOptions {
  return {
    executionProviders: ["cpu"],
    intraOpNumThreads: plan.threadsPerSession,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
}

/**
 * The session for a model directory at a RoPE base. With `lastToken`, the graph's position-wise tail runs on the
 * pooled row only (last-token-graph.ts); where the graph has no such tail, or the rewritten graph fails to load or
 * to pass the probe, the graph as exported is used (same vectors, only slower).
 */
async function createCheckedSession(
  files: ModelFiles,
  { ropeBase, positions }: { ropeBase: number; positions: number },
  plan: SessionPlan,
  lastToken: boolean,
): Promise<SessionRunner> {
  const { dir, config } = files;
  let edited: Uint8Array | undefined;
  if (ropeBase !== config.rope.base) {
    try {
      edited = applyRopeBase(readModelBytes(files), files.initializers, config.rope, ropeBase);
    } catch (error) {
      if (error instanceof RopeOverrideError) throw new ModelDirectoryError(dir, error.message, { cause: error });
      throw error;
    }
  }
  const rewritten = lastToken ? runtimeGraph(files, { edited, ropeBase, positions }) : undefined;
  if (rewritten !== undefined) {
    try {
      const session = await openCheckedSession(files, rewritten.bytes, plan);
      graphEditsOf.set(session, rewritten.edits);
      return session;
    } catch {
      // Fall through to the graph as exported: its own errors (if any) are the ones worth reporting.
    }
  }
  return openCheckedSession(files, edited, plan);
}

/** Which load-time rewrites a session's graph has (runtimeGraph); none for the graph as exported. */
const graphEditsOf = new WeakMap<SessionRunner, readonly string[]>();

/**
 * Rows of the rotary caches an attention rewrite adds: every length a model is loaded with by default (native or
 * long-context) shares one session; a longer maxLength gets its own.
 */
function rotaryCacheRows(config: ModelConfig, maxLength = 0): number {
  return Math.max(maxLength, config.max_length, config.long_context?.max_length ?? 0);
}

/**
 * Bare worker sessions on the graph the embedder runs for a model at its native RoPE base (with the runtime's
 * rewrites where they apply, runtimeGraph), for benchmarks that time `session.run` alone on the same graph.
 */
export async function openRuntimeSessions(files: ModelFiles, plan: SessionPlan): Promise<SessionRunner> {
  const open = (model: string | Uint8Array) => openSessionRunner(model, plan, sessionOptionsFor(plan));
  const { config } = files;
  const rewritten = runtimeGraph(files, { ropeBase: config.rope.base, positions: rotaryCacheRows(config) });
  if (rewritten === undefined) return open(path.join(files.dir, config.onnx.file));
  return createFromEditedBytes(files.dir, rewritten.bytes, files.externalFiles, open);
}

/**
 * The graph the runtime runs for a model (or for `edited` bytes of it, at `ropeBase`): the last-token rewrite
 * (last-token-graph.ts) and, on GroupQueryAttention graphs, the attention rewrites (attention-graph.ts), with the
 * names of the rewrites applied; undefined where not even the last-token rewrite applies.
 */
function runtimeGraph(
  files: ModelFiles,
  { edited, ropeBase, positions }: { edited?: Uint8Array; ropeBase: number; positions: number },
): { bytes: Uint8Array; edits: string[] } | undefined {
  // positions: rows of the attention rewrite's rotary caches; 0 leaves attention as exported.
  const { config } = files;
  if (config.onnx.pooling_in_graph) return undefined;
  const lastToken = lastTokenGraph(edited ?? readModelBytes(files), config.onnx.output);
  if (!("bytes" in lastToken)) return undefined;
  if (positions === 0) return { bytes: lastToken.bytes, edits: [LAST_TOKEN_EDIT] };
  const attention = attentionGraph(lastToken.bytes, {
    invFreq: ropeInverseFrequencies(ropeBase, config.rope.dim),
    positions,
    positionIds: config.onnx.inputs.position_ids,
    invFreqInitializer: config.rope.inv_freq_initializer,
  });
  if (!("bytes" in attention)) return { bytes: lastToken.bytes, edits: [LAST_TOKEN_EDIT] };
  return { bytes: attention.bytes, edits: [LAST_TOKEN_EDIT, ...attention.edits] };
}

const LAST_TOKEN_EDIT = "last-token";

/** Opens and checks a session on the model's own file (`bytes` undefined) or on edited graph bytes. */
async function openCheckedSession(
  files: ModelFiles,
  bytes: Uint8Array | undefined,
  plan: SessionPlan,
): Promise<SessionRunner> {
  const { dir, config, tokenizer } = files;
  const open = (model: string | Uint8Array) => openSessionRunner(model, plan, sessionOptionsFor(plan));
  let session: SessionRunner;
  try {
    // Unedited: load by path so ORT resolves external data next to the file itself.
    session =
      bytes === undefined
        ? await open(path.join(dir, config.onnx.file))
        : await createFromEditedBytes(dir, bytes, files.externalFiles, open);
  } catch (error) {
    if (error instanceof ModelDirectoryError) throw error;
    throw new ModelDirectoryError(
      dir,
      `${config.onnx.file} cannot be loaded by onnxruntime (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  try {
    checkGraphNames(dir, config, session);
    await probeSession(dir, config, tokenizer, session);
  } catch (error) {
    await session.release();
    throw error;
  }
  return session;
}

/**
 * External data is resolved relative to the model file, and ORT refuses paths that leave the model's directory
 * (symlinks included). So an edited graph with external data is written beside the original as a hidden temp
 * file; where the directory is read-only, into a temp dir with hard links (or copies) of the data files.
 */
/** Error codes of a file system that will not take a file here (read-only, not ours, missing, full). */
const FILE_SYSTEM_REFUSALS = ["EACCES", "EPERM", "EROFS", "ENOENT", "ENOSPC"];

async function createFromEditedBytes(
  dir: string,
  edited: Uint8Array,
  externalFiles: string[],
  open: (model: string | Uint8Array) => Promise<SessionRunner>,
): Promise<SessionRunner> {
  // Bytes handed to the workers would be copied once per session and held by each (measured: +130 MiB peak RSS
  // for the default model's two sessions); from a file, ORT reads the graph itself, as for an unedited model.
  // Where no temp file can be written (read-only or missing temp dir), the bytes go as they are.
  if (externalFiles.length === 0) {
    try {
      return await createInTempCopy(dir, edited, [], open);
    } catch (error) {
      if (!FILE_SYSTEM_REFUSALS.includes((error as NodeJS.ErrnoException).code ?? "")) throw error;
      return open(edited);
    }
  }
  const beside = path.join(dir, `.lance-e5-graph-${process.pid}-${randomUUID()}.onnx`);
  try {
    await writeFile(beside, edited);
  } catch (error) {
    if (!FILE_SYSTEM_REFUSALS.includes((error as NodeJS.ErrnoException).code ?? "")) throw error;
    return createInTempCopy(dir, edited, externalFiles, open);
  }
  try {
    return await open(beside);
  } finally {
    await rm(beside, { force: true });
  }
}

async function createInTempCopy(
  dir: string,
  edited: Uint8Array,
  externalFiles: string[],
  open: (model: string | Uint8Array) => Promise<SessionRunner>,
): Promise<SessionRunner> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "lance-e5-graph-"));
  try {
    for (const file of externalFiles) {
      await mkdir(path.dirname(path.join(tmp, file)), { recursive: true });
      await link(path.join(dir, file), path.join(tmp, file)).catch(() =>
        copyFile(path.join(dir, file), path.join(tmp, file)),
      );
    }
    await writeFile(path.join(tmp, "model.onnx"), edited);
    return await open(path.join(tmp, "model.onnx"));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function checkGraphNames(dir: string, config: ModelConfig, session: SessionRunner): void {
  const cache = config.onnx.kv_cache;
  const wanted = [
    ...(Object.values(config.onnx.inputs) as string[]),
    ...(cache ? kvNames(cache, "past") : []),
    ...(isLastTokenGraph(session) ? [LAST_TOKEN_INPUT] : []),
  ];
  for (const name of wanted) {
    if (!session.inputNames.includes(name)) {
      throw new ModelDirectoryError(
        dir,
        `lance-e5.json onnx.inputs names "${name}" but the graph's inputs are ${session.inputNames.join(", ")}`,
      );
    }
  }
  const unfed = session.inputNames.filter((n) => !wanted.includes(n));
  if (unfed.length > 0) {
    throw new ModelDirectoryError(dir, `the graph needs inputs lance-e5.json does not map: ${unfed.join(", ")}`);
  }
  if (!session.outputNames.includes(config.onnx.output)) {
    throw new ModelDirectoryError(
      dir,
      `lance-e5.json onnx.output is "${config.onnx.output}" but the graph's outputs are ${session.outputNames.join(", ")}`,
    );
  }
  const missingPresent = cache ? kvNames(cache, "present").filter((n) => !session.outputNames.includes(n)) : [];
  if (missingPresent.length > 0) {
    throw new ModelDirectoryError(
      dir,
      `lance-e5.json onnx.kv_cache names outputs the graph lacks: ${missingPresent.join(", ")} (its outputs are ${session.outputNames.join(", ")})`,
    );
  }
}

/**
 * One tiny run with the tokenizer's largest id: ORT's Gather rejects an id past the embedding table (tokenizer /
 * vocab mismatch), and the output's last dimension must be the configured hidden size.
 */
async function probeSession(
  dir: string,
  config: ModelConfig,
  tokenizer: ModelTokenizer,
  session: SessionRunner,
): Promise<void> {
  // Two rows of different lengths: a rewritten last-token graph must return one row per text ([2, 1, hidden]).
  const ids = [tokenizer.maxTokenId, config.tokens.eos_id];
  let output: RunnerTensor;
  try {
    output = (await runBatch(config, session, padBatch([ids, [config.tokens.eos_id]], config.tokens.eos_id, "right")))
      .output;
  } catch (error) {
    const message = (error as Error).message;
    const problem = /out of (data )?bounds|out of range|indices/i.test(message)
      ? `${TOKENIZER_FILE} produces ids up to ${tokenizer.maxTokenId}, past the model's embedding table (tokenizer/vocab mismatch): ${message}`
      : `${config.onnx.file} fails on a probe input: ${message}`;
    throw new ModelDirectoryError(dir, problem, { cause: error });
  }
  const expectedRank = config.onnx.pooling_in_graph ? 2 : 3;
  const width = output.dims[output.dims.length - 1];
  if (isLastTokenGraph(session) && (output.dims[0] !== 2 || output.dims[1] !== 1)) {
    throw new ModelDirectoryError(dir, `the last-token graph returned shape [${output.dims.join(", ")}] for 2 texts`);
  }
  if (output.dims.length !== expectedRank) {
    throw new ModelDirectoryError(
      dir,
      `output "${config.onnx.output}" has shape [${output.dims.join(", ")}], expected rank ${expectedRank} (pooling_in_graph: ${config.onnx.pooling_in_graph})`,
    );
  }
  if (width !== config.hidden_size) {
    throw new ModelDirectoryError(
      dir,
      `the ONNX output's hidden size is ${width} but lance-e5.json hidden_size is ${config.hidden_size}`,
    );
  }
}

/**
 * The graph's feeds for a padded batch (the batch's id/mask/position buffers are handed over, not copied);
 * `lastToken`: the session runs a last-token graph (isLastTokenGraph).
 */
export function batchFeeds(config: ModelConfig, batch: PaddedBatch, lastToken = false): Record<string, RunnerTensor> {
  const dims = [batch.batch, batch.seqLength];
  const feeds: Record<string, RunnerTensor> = {
    [config.onnx.inputs.input_ids]: { type: "int64", data: batch.inputIds, dims },
    [config.onnx.inputs.attention_mask]: { type: "int64", data: batch.attentionMask, dims },
  };
  if (config.onnx.inputs.position_ids !== undefined) {
    feeds[config.onnx.inputs.position_ids] = { type: "int64", data: batch.positionIds, dims };
  }
  // A graph with a key-value cache needs its pasts on every run: empty ones when the whole batch runs at once.
  if (config.onnx.kv_cache) Object.assign(feeds, emptyPastFeeds(config.onnx.kv_cache, batch.batch));
  if (lastToken) Object.assign(feeds, lastTokenFeed(batch.lastTokenIndex));
  return feeds;
}

async function runBatch(
  config: ModelConfig,
  session: SessionRunner,
  batch: PaddedBatch,
): Promise<{ output: RunnerTensor; values: ArrayLike<number> }> {
  return hiddenValues(
    config,
    await session.run(batchFeeds(config, batch, isLastTokenGraph(session)), config.onnx.output),
  );
}

/** Hidden states of a run and where each row's last token sits in them. */
interface RunResult {
  values: ArrayLike<number>;
  seqLength: number;
  lastTokenIndex: readonly number[];
}

async function runPadded(config: ModelConfig, session: SessionRunner, batch: PaddedBatch): Promise<RunResult> {
  const { values } = await runBatch(config, session, batch);
  if (isLastTokenGraph(session)) return { values, seqLength: 1, lastTokenIndex: batch.lastTokenIndex.map(() => 0) };
  return { values, seqLength: batch.seqLength, lastTokenIndex: batch.lastTokenIndex };
}

/** One long text in chunks through the key-value cache: the output is the last chunk, its last row the EOS. */
async function runLongText(
  config: ModelConfig,
  cache: KvCacheConfig,
  session: SessionRunner,
  ids: readonly number[],
  chunk: number,
): Promise<RunResult> {
  const { output, values } = hiddenValues(config, await runChunked(config, cache, session, ids, chunk));
  const rows = output.dims[1] as number;
  return { values, seqLength: rows, lastTokenIndex: [rows - 1] };
}

function hiddenValues(config: ModelConfig, output: RunnerTensor): { output: RunnerTensor; values: ArrayLike<number> } {
  let values: ArrayLike<number>;
  if (output.type === "float32") values = output.data as Float32Array;
  else if (output.type === "float16") {
    // ORT hands float16 back as raw bits (Uint16Array) on Node 20, which has no Float16Array.
    const bits = output.data as Uint16Array;
    const converted = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) converted[i] = fromFloat16Bits(bits[i] as number);
    values = converted;
  } else throw new Error(`output "${config.onnx.output}" has type ${output.type}, expected float32 or float16`);
  return { output, values };
}

interface RuntimeSettings {
  maxLength: number;
  budget: number;
  attentionBufferBytes: number;
  paddingSide: "left" | "right";
}

class OnnxEmbedder extends InstructedEmbedder implements Embedder {
  readonly maxLength: number;
  readonly dim: number;
  private disposed = false;

  constructor(
    readonly config: ModelConfig,
    readonly identity: ModelIdentity,
    private readonly tokenizer: ModelTokenizer,
    private readonly lease: SessionLease,
    private readonly settings: RuntimeSettings,
  ) {
    super();
    this.maxLength = settings.maxLength;
    this.dim = config.output_dim;
  }

  get parallelism(): number {
    return this.lease.session.parallelism;
  }

  get lastTokenGraph(): boolean {
    return isLastTokenGraph(this.lease.session);
  }

  /** The load-time rewrites of the graph this embedder runs ("last-token", "rotary-in-attention", ...). */
  get graphEdits(): readonly string[] {
    return graphEditsOf.get(this.lease.session) ?? [];
  }

  encode(text: string, maxLength = this.maxLength): EncodedText {
    validateText(text, 0);
    return this.tokenizer.encode(text, maxLength);
  }

  countTokens(text: string): number {
    return this.tokenizer.countTokens(text);
  }

  encodeContent(text: string): number[] {
    // No validation, like countTokens: the chunker measures pieces (whitespace runs included) of texts that
    // were validated whole; embedContentIds checks the ids themselves.
    return this.tokenizer.contentIds(text);
  }

  encodeContentPieces(text: string): ContentPieces {
    return this.tokenizer.contentPieces(text);
  }

  async embedContentIds(contents: readonly (readonly number[])[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    this.checkIdArrays(contents, Number.POSITIVE_INFINITY);
    return this.embedIds(
      contents.length,
      (index) => {
        const result = this.tokenizer.fromContentIds(contents[index] as number[], this.maxLength);
        if (result.truncated && options.truncate === false) {
          throw new InvalidInputError(index, `text is longer than ${this.maxLength} tokens and truncate is false`);
        }
        return result.ids;
      },
      options,
    );
  }

  async embedEncoded(encoded: readonly (readonly number[])[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    this.checkIdArrays(encoded, this.maxLength);
    return this.embedIds(encoded.length, (index) => [...(encoded[index] as number[])], options);
  }

  /** Non-empty arrays of ids within the vocabulary, at most `maxIds` each; else a typed error naming the input. */
  private checkIdArrays(arrays: readonly (readonly number[])[], maxIds: number): void {
    checkArray(arrays);
    const largest = this.tokenizer.maxTokenId;
    arrays.forEach((ids, index) => {
      if (!Array.isArray(ids) || ids.length === 0) throw new InvalidInputError(index, "expected a non-empty id array");
      if (ids.length > maxIds) {
        throw new InvalidInputError(index, `${ids.length} ids are longer than the model's ${maxIds} tokens`);
      }
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id > largest) {
          throw new InvalidInputError(index, `token id ${id} is not in the tokenizer's vocabulary (0..${largest})`);
        }
      }
    });
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.lease.release();
  }

  private outputDims(options: EmbedOptions): number {
    const { dimensions } = options;
    if (dimensions === undefined || dimensions === this.config.output_dim) return this.config.output_dim;
    const allowed = this.config.matryoshka_dims ?? [];
    if (allowed.length === 0) {
      throw new EmbedOptionsError(
        `model "${this.config.name}" has no Matryoshka dims; only its full ${this.config.output_dim} dimensions are available`,
      );
    }
    if (!allowed.includes(dimensions)) {
      throw new EmbedOptionsError(
        `dimensions ${dimensions} is not one of the model's Matryoshka dims: ${[...allowed, this.config.output_dim].join(", ")}`,
      );
    }
    return dimensions;
  }

  protected async embedFormatted(texts: string[], options: EmbedOptions): Promise<Float32Array[]> {
    return this.embedIds(
      texts.length,
      (index) => {
        const result = this.tokenizer.encode(texts[index] as string, this.maxLength);
        if (result.truncated && options.truncate === false) {
          throw new InvalidInputError(index, `text is longer than ${this.maxLength} tokens and truncate is false`);
        }
        return result.ids;
      },
      options,
    );
  }

  /**
   * Embeds `count` inputs whose model ids come from `idsAt(i)`. The first FIRST_GROUP inputs are tokenised and
   * their batch sent to the session workers before the rest is tokenised, so tokenising overlaps inference; the
   * rest is length-sorted as a whole (smaller groups would pad more: measured on 32-token chunks, doubling groups
   * padded 11% and ran 33% more batches than one sort). At most RUNS_QUEUED_PER_SESSION runs per session are queued per
   * call, so concurrent calls (server requests) interleave instead of waiting behind a long one, and memory stays
   * bounded.
   */
  private async embedIds(
    count: number,
    idsAt: (index: number) => number[],
    options: EmbedOptions,
  ): Promise<Float32Array[]> {
    if (this.disposed) throw new Error("this embedder was disposed");
    const dims = this.outputDims(options);
    const { session } = this.lease;
    const { hidden_size: hidden, onnx } = this.config;
    const padId = this.config.tokens.pad_id ?? this.config.tokens.eos_id;
    const results = new Array<Float32Array>(count);
    const window = session.parallelism * RUNS_QUEUED_PER_SESSION;
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let done = 0;
    try {
      for (let start = 0, size = FIRST_GROUP; start < count && !failure; start += size, size = count - start) {
        const group: number[][] = [];
        for (let i = start; i < Math.min(count, start + size); i++) group.push(idsAt(i));
        for (const plan of planBatches(
          group.map((ids) => ids.length),
          this.settings.budget,
          Number.POSITIVE_INFINITY,
        )) {
          while (inFlight.size >= window && !failure) await Promise.race(inFlight);
          if (failure) break;
          // A text too long for one run of the attention buffer is always alone in its batch (the budget is far
          // smaller); it runs in chunks through the key-value cache, and its vector is the last row of the last chunk.
          const cache = onnx.pooling_in_graph ? null : onnx.kv_cache;
          const chunk =
            cache && plan.rows.length === 1
              ? chunkTokens(cache, plan.seqLength, this.settings.attentionBufferBytes)
              : plan.seqLength;
          const run =
            cache && chunk < plan.seqLength
              ? runLongText(this.config, cache, session, group[plan.rows[0] as number] as number[], chunk)
              : runPadded(
                  this.config,
                  session,
                  padBatch(
                    plan.rows.map((r) => group[r] as number[]),
                    padId,
                    this.settings.paddingSide,
                  ),
                );
          const task: Promise<void> = run.then(
            ({ values, seqLength, lastTokenIndex }) => {
              plan.rows.forEach((r, row) => {
                const vector = onnx.pooling_in_graph
                  ? lastTokenPool(values, 1, hidden, row, 0, dims)
                  : lastTokenPool(values, seqLength, hidden, row, lastTokenIndex[row] as number, dims);
                results[start + r] = this.config.normalize ? l2Normalize(vector) : vector;
              });
              done += plan.rows.length;
              options.onProgress?.(done, count);
            },
            (error: unknown) => {
              failure ??= { error };
            },
          );
          const tracked = task.finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
        }
      }
    } finally {
      // Runs never reject (failures are recorded), so this only waits for them, also when idsAt threw.
      await Promise.all(inFlight);
    }
    if (failure) throw failure.error;
    return results;
  }
}

/** Inputs in the first tokenisation group of a call (see embedIds); the second group is the rest. */
const FIRST_GROUP = 16;

/**
 * Runs a call keeps queued per worker session: enough that a worker never idles while the main thread tokenises
 * the next group or chunks the next documents (a 512-token batch runs in ~60 ms on one core), few enough that a
 * concurrent small call (a server query) waits behind at most this many batches per session.
 */
const RUNS_QUEUED_PER_SESSION = 3;
