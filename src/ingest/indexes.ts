import { Index } from "@lancedb/lancedb";
import type { Table } from "../lancedb/connection.ts";
import { MAINTENANCE_RETRIES, withCommitRetries } from "../lancedb/retry.ts";

/** Below this many rows a flat vector scan is fast enough (20k × 384 ≈ 60 ms/query on 2 cores) and exact. */
export const VECTOR_INDEX_MIN_ROWS = 50_000;

export interface VectorIndexPlan {
  kind: "ivf_flat" | "ivf_pq";
  numPartitions: number;
  numSubVectors?: number;
}

/**
 * Vector index parameters from row count and dimension. IVF partitions ≈ √rows (LanceDB's own rule of thumb,
 * at least ~4k rows per partition for training). IVF-Flat keeps exact vectors, so scores stay true cosine;
 * from 1024 dims up, rows are ≥ 4 KB each and IVF-PQ (dim/16 sub-vectors of 16 dims) keeps the index small;
 * callers that need true distances refine with refineFactor.
 */
export function planVectorIndex(rows: number, dim: number): VectorIndexPlan {
  const numPartitions = Math.max(1, Math.min(Math.round(Math.sqrt(rows)), Math.floor(rows / 256) || 1, 4096));
  if (dim >= 1024 && dim % 16 === 0) return { kind: "ivf_pq", numPartitions, numSubVectors: dim / 16 };
  return { kind: "ivf_flat", numPartitions };
}

export interface IndexReport {
  // "exists" also covers an empty table, which gets its indices on the first ingest that stores rows.
  /** Full-text index on text (scalar B-tree indices on id and doc_id are kept alongside). */
  fts: "created" | "exists";
  vector: "created" | "exists" | "skipped";
}

/**
 * Full-text index on `text` (always) and a cosine vector index once the table is large enough (or when forced),
 * then optimize(): compacts the many small fragments that batched mergeInserts leave and folds new rows into
 * existing indices. All under commit-conflict retries, since another ingest may be writing.
 */
export async function ensureIndexes(table: Table, dim: number, forceVector: boolean): Promise<IndexReport> {
  if ((await table.countRows()) === 0) return { fts: "exists", vector: "skipped" }; // nothing to index yet
  const existing = await table.listIndices();
  const has = (column: string) => existing.some((i) => i.columns.includes(column));
  const report: IndexReport = { fts: "exists", vector: "skipped" };
  if (!has("text")) {
    await withCommitRetries(() => table.createIndex("text", { config: Index.fts(), replace: false }), {
      ...MAINTENANCE_RETRIES,
      retryOn: alreadyIndexedOrConflict,
    }).catch(ignoreAlreadyExists);
    report.fts = "created";
  }
  // Scalar indices on the keys ingest looks rows up by (mergeInsert joins on id; re-runs query doc_id), so
  // re-ingesting into a large table does not scan it once per batch.
  for (const column of ["id", "doc_id"]) {
    if (!has(column)) {
      await withCommitRetries(() => table.createIndex(column, { config: Index.btree(), replace: false }), {
        ...MAINTENANCE_RETRIES,
        retryOn: alreadyIndexedOrConflict,
      }).catch(ignoreAlreadyExists);
    }
  }
  const rows = await table.countRows();
  if (has("vector")) report.vector = "exists";
  else if (rows > 0 && (forceVector || rows >= VECTOR_INDEX_MIN_ROWS)) {
    const plan = planVectorIndex(rows, dim);
    const config =
      plan.kind === "ivf_pq"
        ? Index.ivfPq({ distanceType: "cosine", numPartitions: plan.numPartitions, numSubVectors: plan.numSubVectors })
        : Index.ivfFlat({ distanceType: "cosine", numPartitions: plan.numPartitions });
    await withCommitRetries(() => table.createIndex("vector", { config, replace: false }), {
      ...MAINTENANCE_RETRIES,
      retryOn: alreadyIndexedOrConflict,
    }).catch(ignoreAlreadyExists);
    report.vector = "created";
  }
  await withCommitRetries(() => table.optimize(), MAINTENANCE_RETRIES);
  return report;
}

function alreadyIndexedOrConflict(error: unknown): boolean {
  return /commit conflict|retryable/i.test(String((error as Error)?.message ?? error));
}

/** A concurrent ingest may have built the same index first: that is success. */
function ignoreAlreadyExists(error: unknown): void {
  if (/already exists/i.test(String((error as Error)?.message ?? error))) return;
  throw error;
}
