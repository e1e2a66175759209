import { createHash } from "node:crypto";

/**
 * The one held-out split rule shared by the offline synthetic-data generator (which must never emit a
 * held-out document) and the visible benchmarks (which evaluate only held-out documents).
 * A document is held out when the first 4 bytes of SHA-256("<corpus>:<doc id>") as an unsigned integer,
 * modulo 100, is below HELD_OUT_PERCENT. Stable across runs, machines and languages (training/ re-implements
 * it in Python as `lance_e5_train.split.is_held_out` and a test checks both agree).
 */
export const HELD_OUT_PERCENT = 20;

export function splitBucket(corpus: string, docId: string): number {
  const digest = createHash("sha256").update(`${corpus}:${docId}`, "utf8").digest();
  return digest.readUInt32BE(0) % 100;
}

export function isHeldOut(corpus: string, docId: string): boolean {
  return splitBucket(corpus, docId) < HELD_OUT_PERCENT;
}
