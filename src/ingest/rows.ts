import { createHash } from "node:crypto";
import { type ArrowSchema, type ArrowTable, arrow } from "../lancedb/arrow.ts";
import { metadataFieldsOfSchema } from "../lancedb/schema.ts";

/** A chunk ready to be stored (vector filled in after embedding). */
export interface ChunkRow {
  id: string;
  doc_id: string;
  source: string | null;
  title: string | null;
  text: string;
  chunk_index: number;
  char_start: number;
  char_end: number;
  parent_id: string | null;
  /** Already shaped to the table's `metadata` struct (see shapeMetadata). */
  metadata: Record<string, unknown>;
}

export interface StoredRow extends ChunkRow {
  vector: Float32Array;
}

/**
 * Chunk id: hex SHA-256 over the JSON array [canonical document id, chunk index, chunk text]. JSON framing keeps
 * the parts unambiguous (no separator can be forged by the text). Same input → same id on every machine, which
 * is what makes mergeInsert idempotent and resume re-embed nothing.
 */
export function chunkId(documentId: string, chunkIndex: number, text: string): string {
  return createHash("sha256")
    .update(JSON.stringify([documentId, chunkIndex, text]), "utf8")
    .digest("hex");
}

/**
 * Fits free metadata to the table's `metadata` struct: keys that are typed children with a value of that type go
 * to their child; everything else is kept as a JSON object (sorted keys) in `extra`, so nothing is lost.
 */
export function shapeMetadata(
  metadata: Record<string, unknown> | undefined,
  fields: ReadonlyMap<string, string>,
): Record<string, unknown> {
  const shaped: Record<string, unknown> = {};
  for (const name of fields.keys()) shaped[name] = null;
  const extra: Record<string, unknown> = {};
  for (const key of Object.keys(metadata ?? {}).sort()) {
    const value = metadata![key];
    if (value === undefined || value === null) continue;
    const type = fields.get(key);
    const fits =
      key !== "extra" &&
      ((type === "utf8" && typeof value === "string") ||
        (type === "float64" && typeof value === "number" && Number.isFinite(value)) ||
        (type === "bool" && typeof value === "boolean"));
    if (fits) shaped[key] = value;
    else extra[key] = value;
  }
  if (fields.has("extra")) shaped.extra = Object.keys(extra).length > 0 ? JSON.stringify(extra) : null;
  return shaped;
}

/** Metadata children of a table schema, as shapeMetadata wants them. */
export function metadataShapeOf(schema: ArrowSchema): Map<string, string> {
  return metadataFieldsOfSchema(schema);
}

/** Stable comparison form of the non-vector columns (to tell "unchanged" from "updated"). */
export function rowFingerprint(row: Omit<ChunkRow, "text">): string {
  return JSON.stringify([
    row.doc_id,
    row.source ?? null,
    row.title ?? null,
    row.chunk_index,
    row.char_start,
    row.char_end,
    row.parent_id ?? null,
    row.metadata ?? null,
  ]);
}

/**
 * Builds one Arrow table of rows in the table's schema. Vectors go in as one contiguous Float32 buffer (no
 * per-value builder), which keeps large batches cheap.
 */
export function rowsToArrow(rows: readonly StoredRow[], schema: ArrowSchema): ArrowTable {
  const columns: Record<string, import("apache-arrow").Vector> = {};
  for (const field of schema.fields) {
    if (field.name === "vector") {
      const type = field.type as import("apache-arrow").FixedSizeList;
      const dim = type.listSize;
      const values = new Float32Array(rows.length * dim);
      rows.forEach((row, i) => {
        if (row.vector.length !== dim) throw new Error(`vector of ${row.vector.length} dims for a ${dim}-dim table`);
        values.set(row.vector, i * dim);
      });
      const child = arrow.makeData({ type: new arrow.Float32(), length: values.length, nullCount: 0, data: values });
      const data = arrow.makeData({ type, length: rows.length, nullCount: 0, child });
      columns.vector = arrow.makeVector(data);
    } else {
      const values = rows.map((row) => (row as unknown as Record<string, unknown>)[field.name] ?? null);
      columns[field.name] = arrow.vectorFromArray(values, field.type);
    }
  }
  // Re-wrap the batches under the exact table schema (field order, nullability, metadata) so that createTable
  // with this data records our schema metadata and LanceDB's alignment sees the same layout.
  const loose = new arrow.Table(columns);
  return new arrow.Table(
    schema,
    loose.batches.map((batch) => new arrow.RecordBatch(schema, batch.data)),
  );
}
