import type { ArrowSchema } from "../lancedb/arrow.ts";
import type { Table } from "../lancedb/connection.ts";
import type { PendingChunk } from "./prepare.ts";
import { type ChunkRow, metadataShapeOf, rowFingerprint, type StoredRow, shapeMetadata } from "./rows.ts";
import { sqlList } from "./sql.ts";

/** IN-lists per lookup query stay well below SQL parser limits. */
export const LOOKUP_CHUNK = 500;

const NON_VECTOR_COLUMNS = [
  "id",
  "doc_id",
  "source",
  "title",
  "chunk_index",
  "char_start",
  "char_end",
  "parent_id",
  "metadata",
];

/** Chunks of whole documents, embedded and written together. */
export interface Unit {
  docIds: string[];
  chunks: PendingChunk[];
  bytes: number;
  files: number;
  documents: number;
}

export interface Classified {
  unit: Unit;
  /** New chunk ids: need embedding. */
  toEmbed: ChunkRow[];
  /** The chunker's content ids of each toEmbed row's text, where it has them (same order as toEmbed). */
  toEmbedIds: Array<number[] | undefined>;
  tokensToEmbed: number;
  /** Stored ids whose other columns changed (title, metadata, offsets): rewritten with their stored vector. */
  updated: StoredRow[];
  unchanged: number;
  /** Stored chunks of these documents that the new chunking no longer produces. */
  staleIds: string[];
}

/** Metadata shape before a table exists (dry run on a new table): the fixed children only. */
const FIXED_SHAPE = new Map<string, string>([
  ["format", "utf8"],
  ["extra", "utf8"],
]);

/**
 * Compares a unit's chunks with what the table holds for the same documents. Only new ids are embedded, so
 * re-runs embed nothing and a resumed run continues where the crashed one stopped.
 */
export async function classifyUnit(
  unit: Unit,
  table: Table | null,
  schema: ArrowSchema | null,
  lookups: boolean,
): Promise<Classified> {
  const shape = schema ? metadataShapeOf(schema) : FIXED_SHAPE;
  const rows: ChunkRow[] = unit.chunks.map(({ rawMetadata, tokens: _tokens, ids: _ids, ...row }) => ({
    ...row,
    metadata: shapeMetadata(rawMetadata, shape),
  }));
  const stored = new Map<string, string>(); // id → fingerprint of the other columns
  const storedIds: string[] = [];
  if (table && lookups) {
    for (let i = 0; i < unit.docIds.length; i += LOOKUP_CHUNK) {
      const found = await table
        .query()
        .where(`doc_id IN ${sqlList(unit.docIds.slice(i, i + LOOKUP_CHUNK))}`)
        .select(NON_VECTOR_COLUMNS)
        .toArray();
      for (const r of found) {
        const row = plainRow(r);
        stored.set(row.id, rowFingerprint(row));
        storedIds.push(row.id);
      }
    }
  }
  const result: Classified = {
    unit,
    toEmbed: [],
    toEmbedIds: [],
    tokensToEmbed: 0,
    updated: [],
    unchanged: 0,
    staleIds: [],
  };
  const updatedRows = new Map<string, ChunkRow>();
  const newIds = new Set<string>();
  rows.forEach((row, i) => {
    newIds.add(row.id);
    const fingerprint = stored.get(row.id);
    if (fingerprint === undefined) {
      result.toEmbed.push(row);
      result.toEmbedIds.push(unit.chunks[i]!.ids);
      result.tokensToEmbed += unit.chunks[i]!.tokens;
    } else if (fingerprint === rowFingerprint(row)) result.unchanged++;
    else updatedRows.set(row.id, row);
  });
  if (updatedRows.size > 0 && table) {
    const ids = [...updatedRows.keys()];
    for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
      const found = await table
        .query()
        .where(`id IN ${sqlList(ids.slice(i, i + LOOKUP_CHUNK))}`)
        .select(["id", "vector"])
        .toArray();
      for (const r of found) {
        const row = updatedRows.get(String(r.id));
        if (row) result.updated.push({ ...row, vector: Float32Array.from(r.vector.toArray() as Float32Array) });
      }
    }
  }
  result.staleIds = storedIds.filter((id) => !newIds.has(id));
  return result;
}

/** A LanceDB result row as plain values (struct → object, nulls kept). */
function plainRow(r: Record<string, unknown>): Omit<ChunkRow, "text"> {
  const metadata = r.metadata as { toJSON?: () => Record<string, unknown> } | null;
  return {
    id: String(r.id),
    doc_id: String(r.doc_id),
    source: (r.source as string | null) ?? null,
    title: (r.title as string | null) ?? null,
    chunk_index: Number(r.chunk_index),
    char_start: Number(r.char_start),
    char_end: Number(r.char_end),
    parent_id: (r.parent_id as string | null) ?? null,
    metadata:
      metadata && typeof metadata.toJSON === "function"
        ? { ...metadata.toJSON() }
        : ((metadata as Record<string, unknown> | null) ?? {}),
  };
}
