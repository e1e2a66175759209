import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ingestDocuments } from "../ingest/index.ts";
import type { IngestDocument, IngestReport } from "../ingest/types.ts";
import type { DbLike } from "../lancedb/connection.ts";
import type { Embedder } from "../model/embedder.ts";
import { MAX_K, openSearchTarget, type SearchTarget, search } from "../search/index.ts";
import { type BeirDataset, type BeirDocument, documentText } from "./beir.ts";
import {
  hasRelevant,
  type MeanRetrievalMetrics,
  meanRetrievalMetrics,
  type RetrievalMetrics,
  rankDocuments,
  type ScoredHit,
} from "./metrics.ts";

/** Retrieval mode of the query path: the same three `lance-e5 search` offers. */
export type RetrievalMode = "vector" | "fulltext" | "hybrid";
export const RETRIEVAL_MODES: readonly RetrievalMode[] = ["vector", "fulltext", "hybrid"];

/**
 * How queries are formatted: a task name, a free instruction, or none (the query embedded exactly as given —
 * the "no instruction" ablation of REFERENCE.md §2). Documents never get an instruction.
 */
export type QueryInstruction = { task: string } | { instruction: string } | { none: true };

/** Chunk hits of one query, best first, at most `limit`. */
export type ChunkSearch = (query: string, limit: number) => Promise<ScoredHit[]>;

/**
 * The top-k documents of a query when documents may have several chunks: asks for k chunks, then for more
 * (×4 each time) until the hits cover k distinct documents or the table runs out. Documents are ranked by their
 * best chunk (MaxP), so the result is exact: every chunk not fetched scores at most the last one fetched, hence
 * no more than any fetched document's best chunk.
 */
export async function topDocuments(search: ChunkSearch, query: string, k: number, maxLimit = MAX_K): Promise<string[]> {
  let limit = Math.min(k, maxLimit);
  for (;;) {
    const hits = await search(query, limit);
    const ranking = rankDocuments(hits);
    if (ranking.length >= k || hits.length < limit || limit >= maxLimit) return ranking.slice(0, k);
    limit = Math.min(limit * 4, maxLimit);
  }
}

/** The `lance-e5 eval --json` object: exactly these keys (a contract). */
export interface RetrievalReport extends RetrievalMetrics {
  queries: number;
  seconds: number;
}

export interface RetrievalRun {
  report: RetrievalReport;
  /** Queries not run: the qrels judge none of their documents relevant. */
  skipped: number;
  documents: number;
  ingest: IngestReport;
  ingestSeconds: number;
  searchSeconds: number;
}

export interface EvaluateRetrievalOptions {
  dataset: BeirDataset;
  embedder: Embedder;
  mode: RetrievalMode;
  instruction: QueryInstruction;
  /** Documents ranked per query (Recall@100 needs k ≥ 100). */
  k: number;
  /** Keep the index in this database (path, URI or connection); default: a temporary directory removed afterwards. */
  db?: DbLike;
  /** Table name (default "beir"). */
  table?: string;
  /** One vector per document instead of chunks (ingest --whole). */
  whole?: boolean;
  /** Chunk size in model tokens (ingest's default: the model's max length). */
  chunkTokens?: number;
  /** Hybrid mode: the vector list's share in the fusion (default: the model's hybrid.vector_weight, else 0.5). */
  vectorWeight?: number;
  onIngested?: (report: IngestReport) => void;
  onQuery?: (done: number, total: number) => void;
}

export function ingestDocumentOf(doc: BeirDocument): IngestDocument {
  // BEIR convention: title and text joined by a newline when there is a title (same rule as `ingest` on a
  // corpus.jsonl). The joined text is what gets chunked, embedded and full-text indexed.
  return doc.title.trim() === ""
    ? { id: doc.id, text: doc.text }
    : { id: doc.id, title: doc.title, text: documentText(doc) };
}

/**
 * `lance-e5 eval`: ingests the corpus through the ingest pipeline into a LanceDB table, runs each judged query
 * through the query path (src/search, the code behind `lance-e5 search` and POST /search), turns chunk hits into
 * document rankings (MaxP) and scores them. Queries without a relevant judgment are skipped and counted.
 */
export async function evaluateRetrieval(options: EvaluateRetrievalOptions): Promise<RetrievalRun> {
  const started = performance.now();
  const { dataset, embedder } = options;
  const temporaryDb = options.db === undefined ? await mkdtemp(path.join(tmpdir(), "lance-e5-eval-")) : undefined;
  const db = options.db ?? temporaryDb!;
  const tableName = options.table ?? "beir";
  try {
    const ingest = await ingestDocuments({
      documents: dataset.corpus.map(ingestDocumentOf),
      db,
      table: tableName,
      embedder,
      whole: options.whole,
      chunkTokens: options.chunkTokens,
      // A reused --db table keeps exactly this corpus: documents of an earlier, different corpus would be
      // retrievable but unjudged, silently lowering scores.
      deleteMissing: true,
    });
    options.onIngested?.(ingest);
    if (ingest.failures.length > 0) {
      const first = ingest.failures[0]!;
      throw new Error(
        `ingest failed for ${ingest.failures.length} document(s), e.g. "${first.source}": ${first.reason}`,
      );
    }
    const ingestSeconds = (performance.now() - started) / 1000;

    const target = await openSearchTarget({ db, tableName }, embedder.identity);
    const chunkSearch = queryPath(target, embedder, options.mode, options.instruction, options.vectorWeight);
    const searchStarted = performance.now();
    const judged = dataset.queries.filter((query) => hasRelevant(dataset.qrels.get(query.id)));
    const rankings = new Map<string, string[]>();
    // No ranking can hold more documents than the corpus has; asking for fewer stops the chunk deepening as soon
    // as every document has been seen.
    const depth = Math.min(options.k, dataset.corpus.length);
    for (const [index, query] of judged.entries()) {
      rankings.set(query.id, await topDocuments(chunkSearch, query.text, depth));
      options.onQuery?.(index + 1, judged.length);
    }
    const searchSeconds = (performance.now() - searchStarted) / 1000;
    const mean: MeanRetrievalMetrics = meanRetrievalMetrics(rankings, dataset.qrels);
    return {
      report: {
        "ndcg@10": mean["ndcg@10"],
        "mrr@10": mean["mrr@10"],
        "recall@1": mean["recall@1"],
        "recall@10": mean["recall@10"],
        "recall@100": mean["recall@100"],
        queries: mean.queries,
        seconds: (performance.now() - started) / 1000,
      },
      skipped: dataset.queries.length - judged.length,
      documents: dataset.corpus.length,
      ingest,
      ingestSeconds,
      searchSeconds,
    };
  } finally {
    if (temporaryDb) await rm(temporaryDb, { recursive: true, force: true });
  }
}

/** One query through src/search with the chosen mode and instruction, as chunk hits. */
function queryPath(
  target: SearchTarget,
  embedder: Embedder,
  mode: RetrievalMode,
  instruction: QueryInstruction,
  vectorWeight: number | undefined,
): ChunkSearch {
  return async (query, limit) => {
    const response = await search({
      embedder,
      target,
      query,
      mode,
      k: limit,
      ...(vectorWeight === undefined ? {} : { vector_weight: vectorWeight }),
      ...("task" in instruction ? { task: instruction.task } : {}),
      ...("instruction" in instruction ? { instruction: instruction.instruction } : {}),
      // No instruction: embed the query text exactly as given instead of the formatted one.
      ...("none" in instruction ? { embedQuery: async () => (await embedder.embedRaw([query]))[0]! } : {}),
    });
    return response.results.map((result) => {
      if (result.doc_id === null) throw new Error(`search returned chunk ${result.id} without a doc_id`);
      return { doc_id: result.doc_id, score: result.score };
    });
  };
}
