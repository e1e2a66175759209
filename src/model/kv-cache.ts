import type { KvCacheConfig, ModelConfig } from "./config.ts";
import { isLastTokenGraph, lastTokenFeed } from "./last-token-graph.ts";
import type { RunnerTensor, SessionRunner } from "./session-runner.ts";

/**
 * Chunked prefill for graphs with a key-value cache (`onnx.kv_cache`, written by the exporter for
 * GroupQueryAttention graphs). onnxruntime's GroupQueryAttention CPU kernel keeps a float32 score buffer of
 * query heads × new tokens × total tokens: a 32,768-token text in one run asked for 32 GiB with 8 heads and failed,
 * and 8,192 tokens peaked at 2.5 GB RSS. Fed in chunks of C tokens with the cached keys/values of the earlier ones,
 * the buffer is heads × C × total, and the result is the same (bit-identical in onnxruntime: its kernel handles a
 * prompt with a past exactly as the tail of one long prompt).
 */

/** Score-buffer size a chunk may use: at 8 heads this keeps texts up to ~2,900 tokens in one run, 32k in 256s. */
export const ATTENTION_BUFFER_BYTES = 256 * 1024 * 1024;
const MIN_CHUNK = 64;

const kvTensorName = (template: string, layer: number, kind: "key" | "value"): string =>
  template.replace("{layer}", String(layer)).replace("{kind}", kind);

/** Every past/present name of the cache, layer by layer, key before value. */
export function kvNames(cache: KvCacheConfig, which: "past" | "present"): string[] {
  const names: string[] = [];
  for (let layer = 0; layer < cache.layers; layer++) {
    for (const kind of ["key", "value"] as const) names.push(kvTensorName(cache[which], layer, kind));
  }
  return names;
}

/** Tokens per run for a text of `length` tokens; `length` itself when one run stays within the buffer. */
export function chunkTokens(cache: KvCacheConfig, length: number, bufferBytes = ATTENTION_BUFFER_BYTES): number {
  const rows = Math.floor(bufferBytes / (cache.query_heads * length * 4));
  return rows >= length ? length : Math.max(MIN_CHUNK, rows);
}

/** Empty (zero-length) pasts for a normal run of `batch` rows. */
export function emptyPastFeeds(cache: KvCacheConfig, batch: number): Record<string, RunnerTensor> {
  const feeds: Record<string, RunnerTensor> = {};
  for (const name of kvNames(cache, "past")) {
    feeds[name] = { type: "float32", data: new Float32Array(0), dims: [batch, cache.kv_heads, 0, cache.head_dim] };
  }
  return feeds;
}

/**
 * Runs one text of `ids` in chunks of `chunk` tokens and returns the output of the last chunk ([1, last chunk
 * length, hidden], or [1, 1, hidden] from a last-token graph); its last row is the text's last token.
 */
export async function runChunked(
  config: ModelConfig,
  cache: KvCacheConfig,
  session: SessionRunner,
  ids: readonly number[],
  chunk: number,
): Promise<RunnerTensor> {
  const pastNames = kvNames(cache, "past");
  const presentNames = kvNames(cache, "present");
  const { inputs, output } = config.onnx;
  let past = emptyPastFeeds(cache, 1);
  let last: RunnerTensor | undefined;
  for (let start = 0; start < ids.length; start += chunk) {
    const end = Math.min(ids.length, start + chunk);
    const inputIds = new BigInt64Array(end - start);
    const positionIds = new BigInt64Array(end - start);
    for (let i = start; i < end; i++) {
      inputIds[i - start] = BigInt(ids[i] as number);
      positionIds[i - start] = BigInt(i);
    }
    const feeds: Record<string, RunnerTensor> = {
      ...past,
      [inputs.input_ids]: { type: "int64", data: inputIds, dims: [1, end - start] },
      // The mask spans past and new tokens: the graph takes the attention's total length from its width.
      [inputs.attention_mask]: { type: "int64", data: new BigInt64Array(end).fill(1n), dims: [1, end] },
    };
    if (inputs.position_ids !== undefined) {
      feeds[inputs.position_ids] = { type: "int64", data: positionIds, dims: [1, end - start] };
    }
    // A last-token graph (last-token-graph.ts) returns the chunk's last row only: the text's last token at the end.
    if (isLastTokenGraph(session)) Object.assign(feeds, lastTokenFeed([end - start - 1]));
    const outputs = await session.runMany(feeds, end === ids.length ? [output] : presentNames);
    if (end === ids.length) last = outputs[output];
    else past = Object.fromEntries(presentNames.map((name, i) => [pastNames[i] as string, outputs[name]!]));
  }
  return last as RunnerTensor;
}
