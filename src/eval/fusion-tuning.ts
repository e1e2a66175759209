import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ingestDocuments } from "../ingest/index.ts";
import type { DbLike } from "../lancedb/connection.ts";
import type { Embedder } from "../model/embedder.ts";
import { FUSION_METHODS, type FusionMethod, fuseLists, type ListHit } from "../search/fusion.ts";
import { openSearchTarget, type SearchResult, search } from "../search/index.ts";
import { EvalInputError } from "./errors.ts";
import { readJsonl, requireString } from "./jsonl.ts";
import { meanRetrievalMetrics, rankDocuments } from "./metrics.ts";

/**
 * Chooses a model's hybrid-search fusion weight on held-out *training-side* data — the slice the trainer scored
 * itself on (`python -m lance_e5_train.evaluate held-out`), never a benchmark, so benchmark scores of the tuned
 * hybrid stay honest. Each query of the slice is searched once per list (vector with its own instruction,
 * BM25), then every (method, weight) of the grid fuses the same two lists, so the grid costs no extra searches.
 */

/** One held-out example (the synthetic-example shape; only these fields are read). */
export interface HeldOutExample {
  task_family: string;
  instruction: string;
  query: string;
  positive: string;
  negative: string | null;
}

/** Families whose queries look like search queries (a label or a translation is not what hybrid search serves). */
export const RETRIEVAL_FAMILIES: readonly string[] = ["short-long", "short-short", "long-long", "long-context"];
/** 0, 0.05, …, 1. */
export const DEFAULT_WEIGHT_GRID: readonly number[] = Array.from({ length: 21 }, (_, i) => i / 20);
/** List depths fused: the product's default k (10) and `lance-e5 eval`'s (100). The weight is chosen on their mean. */
export const TUNING_DEPTHS: readonly number[] = [10, 100];

export async function readHeldOut(file: string): Promise<HeldOutExample[]> {
  const examples: HeldOutExample[] = [];
  for await (const record of readJsonl(file)) {
    const negative = record.value.negative;
    if (negative !== undefined && negative !== null && typeof negative !== "string") {
      throw new EvalInputError(file, record.line, `field "negative" must be a string or null`);
    }
    examples.push({
      task_family: requireString(record, file, "task_family"),
      instruction: requireString(record, file, "instruction"),
      query: requireString(record, file, "query"),
      positive: requireString(record, file, "positive"),
      negative: negative ?? null,
    });
  }
  if (examples.length === 0) throw new EvalInputError(file, null, "no held-out examples");
  return examples;
}

export interface FusionPoint {
  method: FusionMethod;
  vector_weight: number;
  /** Mean over TUNING_DEPTHS of nDCG@10: what the weight is chosen on. */
  "ndcg@10": number;
  /** nDCG@10 per list depth ("10", "100"). */
  by_depth: Record<string, number>;
}

export interface FusionTuning {
  queries: number;
  documents: number;
  families: string[];
  grid: FusionPoint[];
  /** The best point of any method: what `tune-fusion --write` records. */
  best: FusionPoint;
  bestRrf: FusionPoint;
  bestLinear: FusionPoint;
  /** Reference points: BM25 alone (w = 0), the model alone (w = 1), plain RRF (w = 0.5). */
  bm25: FusionPoint;
  vector: FusionPoint;
  plainRrf: FusionPoint;
}

export interface TuneFusionOptions {
  examples: HeldOutExample[];
  embedder: Embedder;
  families?: readonly string[];
  weights?: readonly number[];
  /** Keep the index in this database (path, URI or connection); default: a temporary directory. */
  db?: DbLike;
  onQuery?: (done: number, total: number) => void;
}

type Hit = { doc_id: string };

export async function tuneFusion(options: TuneFusionOptions): Promise<FusionTuning> {
  const families = [...(options.families ?? RETRIEVAL_FAMILIES)];
  const weights = options.weights ?? DEFAULT_WEIGHT_GRID;
  // Every positive and hard negative of the slice is a document (as in the trainer's held-out metric): the other
  // families' documents stay in as distractors.
  const docIds = new Map<string, string>();
  for (const example of options.examples) {
    for (const text of [example.positive, example.negative]) {
      if (text !== null && !docIds.has(text)) docIds.set(text, `h${docIds.size}`);
    }
  }
  const queries = options.examples.filter((example) => families.includes(example.task_family));
  if (queries.length === 0) {
    throw new EvalInputError("held-out examples", null, `no example of the families ${families.join(", ")}`);
  }
  const temporaryDb = options.db === undefined ? await mkdtemp(path.join(tmpdir(), "lance-e5-fusion-")) : undefined;
  const db = options.db ?? temporaryDb!;
  try {
    const ingest = await ingestDocuments({
      documents: [...docIds].map(([text, id]) => ({ id, text })),
      db,
      table: "fusion",
      embedder: options.embedder,
      deleteMissing: true,
    });
    if (ingest.failures.length > 0) throw new Error(`ingest failed: ${ingest.failures[0]!.reason}`);
    const target = await openSearchTarget({ db, tableName: "fusion" }, options.embedder.identity);
    const maxDepth = Math.max(...TUNING_DEPTHS);
    const lists: Array<{ vector: ListHit<Hit>[]; fulltext: ListHit<Hit>[] }> = [];
    for (const [index, example] of queries.entries()) {
      const common = { embedder: options.embedder, target, query: example.query, k: maxDepth };
      const vector = await search({ ...common, mode: "vector", instruction: example.instruction });
      const fulltext = await search({ ...common, mode: "fulltext" });
      lists.push({ vector: listOf(vector.results), fulltext: listOf(fulltext.results) });
      options.onQuery?.(index + 1, queries.length);
    }
    const qrels = new Map(queries.map((example, i) => [`q${i}`, new Map([[docIds.get(example.positive)!, 1]])]));
    const grid = FUSION_METHODS.flatMap((method) => weights.map((weight) => pointAt(lists, qrels, method, weight)));
    const at = (method: FusionMethod, weight: number) =>
      grid.find((p) => p.method === method && p.vector_weight === weight) ?? pointAt(lists, qrels, method, weight);
    return {
      queries: queries.length,
      documents: docIds.size,
      families,
      grid,
      best: bestOf(grid),
      bestRrf: bestOf(grid.filter((p) => p.method === "rrf")),
      bestLinear: bestOf(grid.filter((p) => p.method === "linear")),
      bm25: at("rrf", 0),
      vector: at("rrf", 1),
      plainRrf: at("rrf", 0.5),
    };
  } finally {
    if (temporaryDb) await rm(temporaryDb, { recursive: true, force: true });
  }
}

/** Highest mean nDCG@10; ties go to the earlier grid point (lower weight, RRF before linear). */
function bestOf(points: FusionPoint[]): FusionPoint {
  return points.reduce((best, p) => (p["ndcg@10"] > best["ndcg@10"] ? p : best));
}

/** nDCG@10 of one (method, weight) at each TUNING_DEPTHS list depth, and their mean. */
function pointAt(
  lists: Array<{ vector: ListHit<Hit>[]; fulltext: ListHit<Hit>[] }>,
  qrels: Map<string, Map<string, number>>,
  method: FusionMethod,
  weight: number,
): FusionPoint {
  const byDepth: Record<string, number> = {};
  for (const depth of TUNING_DEPTHS) {
    const rankings = new Map(
      lists.map(({ vector, fulltext }, i) => {
        const fused = fuseLists(method, vector.slice(0, depth), fulltext.slice(0, depth), weight);
        return [`q${i}`, rankDocuments(fused.map((hit) => ({ doc_id: hit.item.doc_id, score: hit.score })))];
      }),
    );
    byDepth[String(depth)] = meanRetrievalMetrics(rankings, qrels)["ndcg@10"];
  }
  const values = Object.values(byDepth);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { method, vector_weight: weight, "ndcg@10": mean, by_depth: byDepth };
}

function listOf(results: SearchResult[]): ListHit<Hit>[] {
  return results.map((result) => {
    if (result.id === null || result.doc_id === null) throw new Error("search returned a chunk without id/doc_id");
    return { key: result.id, score: result.score, item: { doc_id: result.doc_id } };
  });
}
