import type { RopeConfig } from "./config.ts";
import { elementCount, type InitializerInfo, OnnxProtoError, overwriteFloatInitializer } from "./onnx-proto.ts";

/**
 * RoPE inverse frequencies `1 / base^(2i/dim)` for i < dim/2, rounded step by step to float32 the way
 * transformers computes them (`1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))`), so an override at the
 * native base reproduces the exported initializer bit for bit.
 */
export function ropeInverseFrequencies(base: number, dim: number): Float64Array {
  const f = Math.fround;
  const result = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const exponent = f(f(2 * i) / f(dim));
    result[i] = f(1 / f(f(base) ** exponent));
  }
  return result;
}

/** cos or sin of position × inverse frequency, [positions, dim/2] row-major, in float32 steps like torch. */
export function ropeCache(invFreq: Float64Array, positions: number, fn: (x: number) => number): Float64Array {
  const half = invFreq.length;
  const out = new Float64Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) out[p * half + i] = Math.fround(fn(Math.fround(p * (invFreq[i] as number))));
  }
  return out;
}

/** Why a RoPE base cannot be applied to a graph (the caller wraps it into a ModelDirectoryError). */
export class RopeOverrideError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RopeOverrideError";
  }
}

/**
 * Returns a copy of the model bytes whose rotary tables use `base`: the inverse-frequency initializer named in
 * lance-e5.json, and/or the cos/sin caches of fused-attention graphs. The original bytes are left untouched.
 */
export function applyRopeBase(
  model: Uint8Array,
  initializers: readonly InitializerInfo[],
  rope: RopeConfig,
  base: number,
): Uint8Array {
  const names = [rope.inv_freq_initializer, rope.cos_cache_initializer, rope.sin_cache_initializer];
  if (names.every((n) => n === undefined)) {
    throw new RopeOverrideError(
      "lance-e5.json rope names no inv_freq_initializer or cos/sin cache initializers, so the RoPE base cannot be changed",
    );
  }
  const find = (name: string): InitializerInfo => {
    const info = initializers.find((t) => t.name === name);
    if (info === undefined) throw new RopeOverrideError(`the ONNX graph has no initializer named "${name}"`);
    return info;
  };
  const edited = new Uint8Array(model);
  const invFreq = ropeInverseFrequencies(base, rope.dim);
  try {
    if (rope.inv_freq_initializer !== undefined) {
      const info = find(rope.inv_freq_initializer);
      if (elementCount(info.dims) !== invFreq.length) {
        throw new RopeOverrideError(
          `initializer "${info.name}" has ${elementCount(info.dims)} values; rope.dim ${rope.dim} needs ${invFreq.length}`,
        );
      }
      overwriteFloatInitializer(edited, info.name, invFreq);
    }
    for (const [name, fn] of [
      [rope.cos_cache_initializer, Math.cos],
      [rope.sin_cache_initializer, Math.sin],
    ] as const) {
      if (name === undefined) continue;
      const info = find(name);
      const positions = Math.floor(elementCount(info.dims) / invFreq.length);
      overwriteFloatInitializer(edited, name, ropeCache(invFreq, positions, fn));
    }
  } catch (error) {
    if (error instanceof OnnxProtoError) throw new RopeOverrideError(error.message);
    throw error;
  }
  return edited;
}

/** Rows of the cos/sin caches (the longest sequence a fused-attention graph supports), or Infinity. */
export function ropeCachePositions(initializers: readonly InitializerInfo[], rope: RopeConfig): number {
  if (rope.cos_cache_initializer === undefined) return Number.POSITIVE_INFINITY;
  const info = initializers.find((t) => t.name === rope.cos_cache_initializer);
  return info === undefined ? Number.POSITIVE_INFINITY : Math.floor(elementCount(info.dims) / (rope.dim / 2));
}
