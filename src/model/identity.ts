import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import path from "node:path";
import type { ModelConfig, ModelIdentity } from "./config.ts";

/**
 * The lance-e5.json fields that change what vectors a text gets. Name, card and default task do not, so editing
 * a model card does not orphan the tables built with the model.
 */
function embeddingRelevantConfig(config: ModelConfig): unknown {
  return {
    family: config.family,
    hidden_size: config.hidden_size,
    output_dim: config.output_dim,
    pooling: config.pooling,
    normalize: config.normalize,
    tokens: config.tokens,
    padding_side: config.padding_side,
    max_length: config.max_length,
    rope: config.rope,
    instruction_template: config.instruction_template,
    onnx: config.onnx,
  };
}

/** JSON with object keys sorted, so the hash does not depend on key order in the file. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

async function hashFile(hash: ReturnType<typeof createHash>, file: string): Promise<void> {
  // Each part is length-framed by its name so concatenations of different files cannot collide.
  hash.update(`\0file:${path.basename(file)}\0`);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

/**
 * name + SHA-256 over model.onnx, its external data files (sorted), tokenizer.json and the embedding-relevant
 * config fields. Callers cache it (model-files.ts): hashing a multi-GB model takes a while.
 */
export async function modelIdentity(
  modelDir: string,
  config: ModelConfig,
  externalDataFiles: readonly string[],
  tokenizerFile: string,
): Promise<ModelIdentity> {
  const hash = createHash("sha256");
  await hashFile(hash, path.join(modelDir, config.onnx.file));
  for (const file of [...externalDataFiles].sort()) await hashFile(hash, path.join(modelDir, file));
  await hashFile(hash, path.join(modelDir, tokenizerFile));
  hash.update(`\0config\0${canonicalJson(embeddingRelevantConfig(config))}`);
  return { name: config.name, hash: hash.digest("hex"), dim: config.output_dim };
}

/**
 * The identity of a model run at another RoPE base than its native one (long-context mode, passkey sweeps): the
 * same weights give different vectors there, so a table built at one base must refuse queries embedded at another.
 * The native base keeps the plain identity, so tables built before this rule stay valid.
 */
export function identityAtRopeBase(identity: ModelIdentity, nativeBase: number, ropeBase: number): ModelIdentity {
  if (ropeBase === nativeBase) return identity;
  const hash = createHash("sha256").update(`${identity.hash}\0rope_base\0${ropeBase}`).digest("hex");
  return { ...identity, hash };
}
