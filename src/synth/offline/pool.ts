import type { CorpusDocument } from "../../corpora/types.ts";
import { isHeldOut } from "../../data/split.ts";
import { seededRank } from "./random.ts";

/**
 * Streams a corpus and keeps a seeded random sample of at most `size` documents that are NOT held out
 * (bottom-k by seeded rank: memory O(size), result independent of read order). Returned in rank order, which is
 * itself a seeded shuffle. The held-out check happens here, before any text of the document is used.
 */
export async function sampleTrainingPool<T extends CorpusDocument>(
  docs: AsyncIterable<T>,
  size: number,
  seed: string,
  options: { accept?: (doc: T) => boolean; key?: (doc: T) => string } = {},
): Promise<T[]> {
  if (size <= 0) return [];
  const key = options.key ?? ((doc: T) => doc.id);
  let kept: Array<{ rank: number; doc: T }> = [];
  for await (const doc of docs) {
    if (isHeldOut(doc.corpus, doc.id)) continue;
    if (options.accept !== undefined && !options.accept(doc)) continue;
    kept.push({ rank: seededRank(seed, key(doc)), doc });
    if (kept.length >= size * 2 + 1024) kept = bottom(kept, size);
  }
  return bottom(kept, size).map((entry) => entry.doc);
}

/** Cheap pre-filter on ids alone (used before expensive parsing, e.g. rendering a man page). */
export function selectTrainingIds(
  corpus: CorpusDocument["corpus"],
  ids: readonly string[],
  size: number,
  seed: string,
): Set<string> {
  const ranked = ids
    .filter((id) => !isHeldOut(corpus, id))
    .map((id) => ({ id, rank: seededRank(seed, id) }))
    .sort((a, b) => a.rank - b.rank || (a.id < b.id ? -1 : 1));
  return new Set(ranked.slice(0, size).map((entry) => entry.id));
}

function bottom<T>(entries: Array<{ rank: number; doc: T }>, size: number): Array<{ rank: number; doc: T }> {
  return entries.sort((a, b) => a.rank - b.rank).slice(0, size);
}
