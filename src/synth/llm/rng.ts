import { createHash } from "node:crypto";

/** A uniform number in [0, 1). */
export type Random = () => number;

/**
 * A seeded PRNG (sfc32) whose state comes from SHA-256 of its key parts. The generator derives one per
 * attempt from (seed, attempt index), so an attempt's placeholders do not depend on how many attempts ran
 * before it or in which order concurrent ones finished — a resumed run continues the same plan.
 */
export function seededRandom(...keyParts: Array<string | number>): Random {
  const digest = createHash("sha256").update(keyParts.join("\u0000"), "utf8").digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

export function pick<T>(values: readonly T[], random: Random): T {
  if (values.length === 0) throw new Error("cannot pick from an empty list");
  return values[Math.floor(random() * values.length)] as T;
}
