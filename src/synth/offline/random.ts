import { createHash } from "node:crypto";

/**
 * Seeded randomness: every choice the generator makes flows from the seed, so the same seed over the same installed
 * corpora gives byte-identical output. sfc32 (small, fast, passes PractRand) seeded from SHA-256 of the seed label.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  /** Index chosen with probability proportional to weights[i] (all ≥ 0, at least one > 0). */
  weighted(weights: readonly number[]): number;
  shuffle<T>(items: T[]): T[];
  /** An independent generator for a named sub-task (stable however much this one was used). */
  fork(label: string): Rng;
}

export function createRng(seed: string): Rng {
  const digest = createHash("sha256").update(seed, "utf8").digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next(); // mix the state
  const rng: Rng = {
    next,
    int: (n) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error("pick from an empty list");
      return items[Math.floor(next() * items.length)] as T;
    },
    weighted: (weights) => {
      const total = weights.reduce((sum, w) => sum + w, 0);
      let r = next() * total;
      for (let i = 0; i < weights.length; i++) {
        r -= weights[i] ?? 0;
        if (r < 0) return i;
      }
      return weights.length - 1;
    },
    shuffle: <T>(items: T[]): T[] => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [items[i], items[j]] = [items[j] as T, items[i] as T];
      }
      return items;
    },
    fork: (label) => createRng(`${seed}/${label}`),
  };
  return rng;
}

/** A seeded pseudo-random rank for a key: sorting by it gives a seed-dependent order independent of read order. */
export function seededRank(seed: string, key: string): number {
  return createHash("sha256").update(`${seed}\u0000${key}`, "utf8").digest().readUInt32BE(0);
}
