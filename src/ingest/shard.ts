import { createHash } from "node:crypto";

/**
 * `ingest --shard i/n`: worker i of n takes the sources whose canonical source id hashes to i. The rule is
 * sha256(UTF-8 source id), first 8 bytes read as a big-endian unsigned integer, modulo n — stable across
 * machines, runs and languages (Python: `int.from_bytes(sha256(id.encode()).digest()[:8], "big") % n`), so n
 * workers given the same source list cover every source exactly once with no coordinator.
 */
export interface Shard {
  /** This worker's share, 0 ≤ index < count. */
  index: number;
  /** How many workers share the sources. */
  count: number;
}

/** A malformed `--shard` value; the message names the flag and the expected form. */
export class ShardSpecError extends Error {
  constructor(value: string, problem: string) {
    super(`--shard ${JSON.stringify(value)}: ${problem} (expected i/n with 0 ≤ i < n, e.g. 0/4)`);
    this.name = "ShardSpecError";
  }
}

/** Upper bound on n: far beyond any sensible worker count, and keeps n an exact JS integer. */
export const MAX_SHARDS = 1 << 20;

/** Parses "i/n" (decimal integers, no signs or spaces). */
export function parseShard(value: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(value);
  if (!match) throw new ShardSpecError(value, "not of the form i/n");
  const shard = { index: Number(match[1]), count: Number(match[2]) };
  const problem = shardProblem(shard);
  if (problem) throw new ShardSpecError(value, problem);
  return shard;
}

/** Why a shard is invalid, or null when it is fine (library callers pass a Shard without parsing one). */
export function shardProblem({ index, count }: Shard): string | null {
  if (!Number.isSafeInteger(count) || count < 1) return "n must be an integer of at least 1";
  if (count > MAX_SHARDS) return `n must be at most ${MAX_SHARDS}`;
  if (!Number.isSafeInteger(index) || index < 0) return "i must be a non-negative integer";
  if (index >= count) return "i must be less than n";
  return null;
}

/** Which of `count` shards owns this canonical source id. */
export function shardOf(sourceId: string, count: number): number {
  const digest = createHash("sha256").update(sourceId, "utf8").digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(count));
}

/** True when `shard` owns the source id. */
export function inShard(sourceId: string, shard: Shard): boolean {
  return shardOf(sourceId, shard.count) === shard.index;
}

/** "2/4" — for reports and logs. */
export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}
