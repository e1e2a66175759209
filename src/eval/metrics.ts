/**
 * BEIR/MTEB retrieval metrics, computed the way pytrec_eval (used by BEIR and MTEB) computes them:
 * - relevance grades come from qrels; a grade > 0 is relevant, 0 or below is judged non-relevant;
 * - nDCG uses linear gain (grade / log2(rank + 1)) and the ideal ordering of *all* judged grades, so a relevant
 *   document that is missing from the corpus (and so can never be retrieved) still lowers the score;
 * - Recall@k divides by every relevant document in the qrels, retrievable or not;
 * - MRR@k is 1 / rank of the first relevant document within the top k, else 0.
 * Rankings are lists of document ids, best first, already deduplicated (see rankDocuments).
 */

/** Relevance grades of one query: document id → grade. */
export type Judgments = ReadonlyMap<string, number>;
/** Query id → judgments. */
export type Qrels = ReadonlyMap<string, Judgments>;

export const RETRIEVAL_CUTOFFS = { ndcg: 10, mrr: 10, recall: [1, 10, 100] } as const;

/** The metric keys of `lance-e5 eval --json` (a contract: exactly these, plus `queries` and `seconds`). */
export interface RetrievalMetrics {
  "ndcg@10": number;
  "mrr@10": number;
  "recall@1": number;
  "recall@10": number;
  "recall@100": number;
}

export function dcgAtK(ranking: readonly string[], judgments: Judgments, k: number): number {
  let dcg = 0;
  for (let i = 0; i < Math.min(k, ranking.length); i++) {
    const grade = judgments.get(ranking[i]!) ?? 0;
    if (grade > 0) dcg += grade / Math.log2(i + 2);
  }
  return dcg;
}

export function ndcgAtK(ranking: readonly string[], judgments: Judgments, k: number): number {
  const ideal = [...judgments.values()].filter((grade) => grade > 0).sort((a, b) => b - a);
  let idcg = 0;
  for (let i = 0; i < Math.min(k, ideal.length); i++) idcg += ideal[i]! / Math.log2(i + 2);
  return idcg === 0 ? 0 : dcgAtK(ranking, judgments, k) / idcg;
}

export function mrrAtK(ranking: readonly string[], judgments: Judgments, k: number): number {
  for (let i = 0; i < Math.min(k, ranking.length); i++) {
    if ((judgments.get(ranking[i]!) ?? 0) > 0) return 1 / (i + 1);
  }
  return 0;
}

export function recallAtK(ranking: readonly string[], judgments: Judgments, k: number): number {
  let relevant = 0;
  for (const grade of judgments.values()) if (grade > 0) relevant++;
  if (relevant === 0) return 0;
  let found = 0;
  for (let i = 0; i < Math.min(k, ranking.length); i++) {
    if ((judgments.get(ranking[i]!) ?? 0) > 0) found++;
  }
  return found / relevant;
}

/** True when a query can be scored at all: at least one judged-relevant document. */
export function hasRelevant(judgments: Judgments | undefined): boolean {
  if (!judgments) return false;
  for (const grade of judgments.values()) if (grade > 0) return true;
  return false;
}

export function queryMetrics(ranking: readonly string[], judgments: Judgments): RetrievalMetrics {
  return {
    "ndcg@10": ndcgAtK(ranking, judgments, RETRIEVAL_CUTOFFS.ndcg),
    "mrr@10": mrrAtK(ranking, judgments, RETRIEVAL_CUTOFFS.mrr),
    "recall@1": recallAtK(ranking, judgments, 1),
    "recall@10": recallAtK(ranking, judgments, 10),
    "recall@100": recallAtK(ranking, judgments, 100),
  };
}

export interface MeanRetrievalMetrics extends RetrievalMetrics {
  /** Queries scored (those with at least one relevant document). */
  queries: number;
  /** Ranked queries left out because the qrels judge no document relevant for them. */
  skipped: number;
}

/**
 * Mean metrics over every query that has a relevant judgment. A scorable query with no ranking (nothing
 * retrieved) counts with zeros; rankings of queries without relevant judgments are skipped and counted.
 */
export function meanRetrievalMetrics(
  rankings: ReadonlyMap<string, readonly string[]>,
  qrels: Qrels,
): MeanRetrievalMetrics {
  const sums: RetrievalMetrics = { "ndcg@10": 0, "mrr@10": 0, "recall@1": 0, "recall@10": 0, "recall@100": 0 };
  let queries = 0;
  let skipped = 0;
  for (const queryId of rankings.keys()) if (!hasRelevant(qrels.get(queryId))) skipped++;
  for (const [queryId, judgments] of qrels) {
    if (!hasRelevant(judgments)) continue;
    const perQuery = queryMetrics(rankings.get(queryId) ?? [], judgments);
    for (const key of Object.keys(sums) as Array<keyof RetrievalMetrics>) sums[key] += perQuery[key];
    queries++;
  }
  const mean = (sum: number) => (queries === 0 ? 0 : sum / queries);
  return {
    "ndcg@10": mean(sums["ndcg@10"]),
    "mrr@10": mean(sums["mrr@10"]),
    "recall@1": mean(sums["recall@1"]),
    "recall@10": mean(sums["recall@10"]),
    "recall@100": mean(sums["recall@100"]),
    queries,
    skipped,
  };
}

/** One retrieved unit (a chunk) with the document it belongs to. */
export interface ScoredHit {
  doc_id: string;
  score: number;
}

/**
 * Chunk hits → document ranking: each document scores its best chunk (MaxP), appears once, and documents with
 * equal scores are ordered by id (ascending, code-unit order) so that runs are reproducible. Higher score = better.
 */
export function rankDocuments(hits: Iterable<ScoredHit>): string[] {
  const best = new Map<string, number>();
  for (const { doc_id, score } of hits) {
    const previous = best.get(doc_id);
    if (previous === undefined || score > previous) best.set(doc_id, score);
  }
  return [...best]
    .sort(([idA, scoreA], [idB, scoreB]) => scoreB - scoreA || (idA < idB ? -1 : idA > idB ? 1 : 0))
    .map(([id]) => id);
}
