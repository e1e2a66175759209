/**
 * Hybrid search: fusing the vector result list with the full-text (BM25) result list.
 *
 * Plain reciprocal-rank fusion gives both lists the same say, so a weak model drags a strong BM25 ranking down
 * (ENVIRONMENT.md's calibration: RRF 0.53 vs BM25 0.64; the default model: 0.41 vs 0.81). Weighted RRF gives the
 * vector list the share `w` and the full-text list `1 − w`:
 *
 *   score(d) = 2 · ( w / (60 + rank_vector(d)) + (1 − w) / (60 + rank_fulltext(d)) )      ranks from 0
 *
 * A list that does not contain d adds nothing. The factor 2 keeps w = 0.5 identical to LanceDB's RRFReranker
 * (Σ 1/(60 + rank)), so scores stay in (0, 2/60]; w = 1 orders by the vector list alone, w = 0 by BM25 alone.
 *
 * Normalised-score ("linear") fusion scales each list's scores (cosine, BM25) to [0, 1] by min-max within the
 * list and takes w · vector + (1 − w) · fulltext. Unlike ranks, scaled scores keep how far apart hits are, so a
 * small vector share can break BM25's near-ties without overturning its clear wins. On the default model's
 * held-out training-side slice (lance-e5 tune-fusion) the best linear point beat the best weighted-RRF point,
 * which was w = 0 (BM25 alone): weighted RRF could not make the weak model help at all.
 *
 * Which method and weight a model uses is measured per model and recorded in its lance-e5.json as
 * `hybrid: {"fusion": "rrf" | "linear", "vector_weight": w}`; without it, plain RRF (rrf, 0.5).
 */

/** Reciprocal-rank constant (the RRF paper's and LanceDB's 60). */
export const RRF_K = 60;
/** Weight of the vector list when neither the caller nor the model's lance-e5.json gives one: plain RRF. */
export const DEFAULT_VECTOR_WEIGHT = 0.5;

/** One hit of one list, best first; `key` identifies the same row in both lists (the chunk id). */
export interface ListHit<T> {
  key: string;
  /** The list's own score (cosine, BM25); used by `linearFusion` only. */
  score: number;
  item: T;
}

export interface FusedHit<T> {
  key: string;
  score: number;
  item: T;
}

export type FusionMethod = "rrf" | "linear";
export const FUSION_METHODS: readonly FusionMethod[] = ["rrf", "linear"];

/** Checks a vector weight: a finite number in [0, 1]. Returns null when it is valid, else what is wrong. */
export function vectorWeightProblem(weight: unknown): string | null {
  if (typeof weight !== "number" || !Number.isFinite(weight)) return "must be a number from 0 to 1";
  if (weight < 0 || weight > 1) return `must be from 0 to 1, got ${weight}`;
  return null;
}

/** Weighted reciprocal-rank fusion (see the file comment), best first. */
export function weightedRrf<T>(vector: ListHit<T>[], fulltext: ListHit<T>[], vectorWeight: number): FusedHit<T>[] {
  const shares = [
    { list: vector, weight: vectorWeight },
    { list: fulltext, weight: 1 - vectorWeight },
  ];
  return fuse(shares, (_, rank) => 2 / (RRF_K + rank));
}

/**
 * Normalised-score fusion: each list's scores min-max scaled to [0, 1] (a one-hit list, or one whose scores are all
 * equal, scales to 1), then w · vector + (1 − w) · fulltext.
 */
export function linearFusion<T>(vector: ListHit<T>[], fulltext: ListHit<T>[], vectorWeight: number): FusedHit<T>[] {
  const shares = [
    { list: vector, weight: vectorWeight },
    { list: fulltext, weight: 1 - vectorWeight },
  ];
  return fuse(shares, (hit, _, list) => {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const h of list) {
      min = Math.min(min, h.score);
      max = Math.max(max, h.score);
    }
    return max > min ? (hit.score - min) / (max - min) : 1;
  });
}

export function fuseLists<T>(
  method: FusionMethod,
  vector: ListHit<T>[],
  fulltext: ListHit<T>[],
  vectorWeight: number,
): FusedHit<T>[] {
  return method === "rrf" ? weightedRrf(vector, fulltext, vectorWeight) : linearFusion(vector, fulltext, vectorWeight);
}

/**
 * Sums weight × contribution per key. Only the first occurrence of a key in a list counts (a list never ranks
 * one row twice). Ties keep the order of first appearance, vector list first, so results are deterministic.
 */
function fuse<T>(
  shares: Array<{ list: ListHit<T>[]; weight: number }>,
  contribution: (hit: ListHit<T>, rank: number, list: ListHit<T>[]) => number,
): FusedHit<T>[] {
  const fused = new Map<string, FusedHit<T> & { order: number }>();
  for (const { list, weight } of shares) {
    const seen = new Set<string>();
    for (const [rank, hit] of list.entries()) {
      if (seen.has(hit.key)) continue;
      seen.add(hit.key);
      const add = weight === 0 ? 0 : weight * contribution(hit, rank, list);
      const entry = fused.get(hit.key);
      if (entry) entry.score += add;
      else fused.set(hit.key, { key: hit.key, score: add, item: hit.item, order: fused.size });
    }
  }
  return [...fused.values()]
    .sort((a, b) => b.score - a.score || a.order - b.order)
    .map(({ key, score, item }) => ({ key, score, item }));
}
