import { isTaskName, UnknownTaskError } from "../instructions/index.ts";
import type { DbLike, Table } from "../lancedb/connection.ts";
import type { Embedder } from "../model/embedder.ts";
import { FullTextIndexMissingError, SearchRequestError } from "./errors.ts";
import { compileFilter } from "./filter.ts";
import { DEFAULT_VECTOR_WEIGHT, fuseLists, type ListHit, vectorWeightProblem } from "./fusion.ts";
import { openSearchTarget, type SearchTarget } from "./target.ts";

/**
 * The query path shared by `lance-e5 search`, `POST /search` and the plugins.
 *
 * Score meaning per mode (also in schemas/api/search-response.schema.json):
 * - `vector`: cosine similarity in [-1, 1] between the instructed query embedding and the stored chunk vector,
 *   recomputed from the stored vector, so it is the true cosine whatever index (IVF-PQ, HNSW-SQ, flat) found the
 *   candidates; results are ordered by it.
 * - `fulltext`: the BM25 score of LanceDB's full-text index (unbounded, only comparable within one query).
 * - `hybrid`: the top-k vector and top-k full-text lists fused (src/search/fusion.ts) by the model's
 *   `hybrid.fusion` (lance-e5.json) with vector share w = the request's `vector_weight`, else the model's
 *   `hybrid.vector_weight`, else 0.5.
 *   `rrf` (default): 2 · (w/(60 + rank_vector) + (1 − w)/(60 + rank_fulltext)), ranks from 0, at most 2/60 ≈ 0.0333;
 *   w = 0.5 is LanceDB's plain RRF, Σ 1/(60 + rank).
 *   `linear`: w · cosine' + (1 − w) · bm25', each list's scores min-max scaled to [0, 1] within the list, in [0, 1].
 */

export { FilterError, FullTextIndexMissingError, SearchRequestError } from "./errors.ts";
export { compileFilter, type FilterFields, filterFieldsOfSchema } from "./filter.ts";
export { DEFAULT_VECTOR_WEIGHT, RRF_K } from "./fusion.ts";
export { connectForSearch, openSearchTarget, type SearchTarget } from "./target.ts";

export const SEARCH_MODES = ["vector", "fulltext", "hybrid"] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];
export const DEFAULT_K = 10;
/** Library-level ceiling on k; the server's --max-k is usually lower. */
export const MAX_K = 10_000;

/** What a caller asks (the body of POST /search minus `table`). */
export interface SearchQuery {
  query: string;
  task?: string;
  instruction?: string;
  k?: number;
  mode?: SearchMode;
  /** The JSON filter language of src/search/filter.ts. */
  filter?: unknown;
  /** Hybrid mode only: the vector list's share in the fusion, 0..1 (default: the model's, else 0.5). */
  vector_weight?: number;
}

export interface SearchResult {
  id: string | null;
  doc_id: string | null;
  text: string;
  source: string | null;
  title: string | null;
  score: number;
  metadata: Record<string, unknown>;
}

/** The object `POST /search` returns and `lance-e5 search --json` prints. */
export interface SearchResponse {
  results: SearchResult[];
  took_ms: number;
}

/** Embeds one already-formatted query text (the server passes its micro-batcher here). */
export type EmbedFormattedQuery = (formatted: string) => Promise<Float32Array>;

export interface SearchParams extends SearchQuery {
  embedder: Embedder;
  /** Where to search: a checked target (fast path), a table, or a database and table name. */
  target?: SearchTarget;
  table?: Table;
  db?: DbLike;
  tableName?: string;
  /** Defaults to `embedder.embedRaw([formatted])`. */
  embedQuery?: EmbedFormattedQuery;
}

const RESULT_COLUMNS = ["id", "doc_id", "source", "title", "text", "metadata"];

export async function search(params: SearchParams): Promise<SearchResponse> {
  const started = performance.now();
  const { query, mode, k, vectorWeight } = validateSearchQuery(params);
  const target = params.target ?? (await resolveTarget(params));
  const where = compileFilter(params.filter, target.fields);

  const embedQuery = params.embedQuery ?? (async (text: string) => (await params.embedder.embedRaw([text]))[0]!);
  const vectorOf = async () => embedQuery(formatSearchQuery(params.embedder, target, params));

  const vectorRows = async (): Promise<Row[]> => {
    const vector = await vectorOf();
    let q = target.table
      .vectorSearch(vector)
      .distanceType("cosine")
      .select([...RESULT_COLUMNS, "vector", "_distance"])
      .limit(k);
    if (where) q = q.where(where);
    const found: Row[] = (await q.toArray()).map((row) => ({ ...row, _cosine: cosine(vector, toFloats(row.vector)) }));
    return found.sort((a, b) => (b._cosine as number) - (a._cosine as number));
  };
  const fulltextRows = async (): Promise<Row[]> => {
    let q = target.table
      .query()
      .fullTextSearch(query)
      .select([...RESULT_COLUMNS, "_score"])
      .limit(k);
    if (where) q = q.where(where);
    return withFullTextIndex(target, () => q.toArray());
  };

  let rows: Row[];
  if (mode === "vector") rows = await vectorRows();
  else if (mode === "fulltext") rows = await fulltextRows();
  else {
    // Both lists at depth k, fused here rather than by LanceDB's RRFReranker, which has no weights.
    const [byVector, byText] = await Promise.all([vectorRows(), fulltextRows()]);
    const hybrid = params.embedder.config.hybrid;
    const weight = vectorWeight ?? hybrid?.vector_weight ?? DEFAULT_VECTOR_WEIGHT;
    const fused = fuseLists(hybrid?.fusion ?? "rrf", listHits(byVector, "_cosine"), listHits(byText, "_score"), weight);
    rows = fused.map((hit) => ({
      ...hit.item,
      _relevance_score: hit.score,
    }));
  }

  const scoreColumn = mode === "vector" ? "_cosine" : mode === "fulltext" ? "_score" : "_relevance_score";
  const results = rows.slice(0, k).map((row) => toResult(row, Number(row[scoreColumn])));
  return { results, took_ms: Math.round((performance.now() - started) * 100) / 100 };
}

/** Checks and normalises the caller's fields; SearchRequestError / UnknownTaskError name the field at fault. */
export function validateSearchQuery(q: SearchQuery): {
  query: string;
  mode: SearchMode;
  k: number;
  vectorWeight?: number;
} {
  if (typeof q.query !== "string" || q.query.trim() === "") {
    throw new SearchRequestError("query", "must be a non-empty string");
  }
  const mode = q.mode ?? "vector";
  if (!SEARCH_MODES.includes(mode)) {
    throw new SearchRequestError("mode", `unknown mode "${mode}"; modes: ${SEARCH_MODES.join(", ")}`);
  }
  const k = q.k ?? DEFAULT_K;
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw new SearchRequestError("k", `must be an integer from 1 to ${MAX_K}`);
  }
  if (q.task !== undefined && q.instruction !== undefined) {
    throw new SearchRequestError("instruction", "give a task or an instruction, not both");
  }
  if (q.task !== undefined && !isTaskName(q.task)) throw new UnknownTaskError(q.task);
  if (q.instruction !== undefined && q.instruction.trim() === "") {
    throw new SearchRequestError("instruction", "must not be empty");
  }
  if (q.vector_weight !== undefined) {
    if (mode !== "hybrid") throw new SearchRequestError("vector_weight", `applies to mode hybrid only, not ${mode}`);
    const problem = vectorWeightProblem(q.vector_weight);
    if (problem !== null) throw new SearchRequestError("vector_weight", problem);
  }
  return { query: q.query, mode, k, ...(q.vector_weight === undefined ? {} : { vectorWeight: q.vector_weight }) };
}

type Row = Record<string, unknown>;

/** Rows of one list as fusion input, keyed by chunk id (unique per table: ingest merges on it). */
function listHits(rows: Row[], scoreColumn: string): ListHit<Row>[] {
  return rows.map((row) => ({
    key: String(row.id ?? `${row.doc_id}\u0000${row.text}`),
    score: Number(row[scoreColumn]),
    item: row,
  }));
}

/**
 * The exact text embedded for a query: the instruction template filled with the task (given, else the table's
 * default task, else the model's) or the free instruction.
 */
export function formatSearchQuery(embedder: Embedder, target: SearchTarget, q: SearchQuery): string {
  if (q.instruction !== undefined) return embedder.formatQuery(q.query, { instruction: q.instruction });
  const tableTask = target.defaultTask !== null && isTaskName(target.defaultTask) ? target.defaultTask : undefined;
  return embedder.formatQuery(q.query, { task: q.task ?? tableTask ?? embedder.config.default_task });
}

/** Runs a full-text query; when it fails on a table without an FTS index on `text`, says so instead. */
async function withFullTextIndex<T>(target: SearchTarget, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const indices = await target.table.listIndices().catch(() => undefined);
    const hasFts = indices?.some((i) => i.indexType.toUpperCase().includes("FTS") && i.columns.includes("text"));
    if (indices && !hasFts) throw new FullTextIndexMissingError(target.name);
    throw error;
  }
}

async function resolveTarget(params: SearchParams): Promise<SearchTarget> {
  if (params.table) return openSearchTarget({ table: params.table }, params.embedder.identity);
  if (params.db !== undefined && params.tableName !== undefined) {
    return openSearchTarget({ db: params.db, tableName: params.tableName }, params.embedder.identity);
  }
  throw new SearchRequestError("table", "give a target, a table, or a db and tableName");
}

function toResult(row: Record<string, unknown>, score: number): SearchResult {
  return {
    id: (row.id as string | null) ?? null,
    doc_id: (row.doc_id as string | null) ?? null,
    text: String(row.text ?? ""),
    source: (row.source as string | null) ?? null,
    title: (row.title as string | null) ?? null,
    score,
    metadata: plainMetadata(row.metadata),
  };
}

/** The metadata struct as a plain object, with the keys kept in `extra` (JSON) merged back in. */
function plainMetadata(value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  const struct = value as { toJSON?: () => Record<string, unknown> };
  const fields: Record<string, unknown> = { ...(typeof struct.toJSON === "function" ? struct.toJSON() : struct) };
  const extra = fields.extra;
  delete fields.extra;
  if (typeof extra === "string" && extra !== "") {
    try {
      const parsed: unknown = JSON.parse(extra);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) Object.assign(fields, parsed);
    } catch {
      fields.extra = extra; // not ours to fix; show it as stored
    }
  }
  return fields;
}

function toFloats(value: unknown): ArrayLike<number> {
  const v = value as { toArray?: () => ArrayLike<number> } | ArrayLike<number>;
  return "toArray" in v && typeof v.toArray === "function" ? v.toArray() : (v as ArrayLike<number>);
}

function cosine(a: Float32Array, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
