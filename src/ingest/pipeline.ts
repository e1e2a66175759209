import { chunkText } from "../chunk/index.ts";
import type { ArrowSchema } from "../lancedb/arrow.ts";
import { connectDb, openOrCreateTable, type Table, tryOpenTable } from "../lancedb/connection.ts";
import { useEmbedder } from "../lancedb/embedding-function.ts";
import { assertSameModel, modelIdentityOfSchema, sameModel } from "../lancedb/identity.ts";
import { withCommitRetries } from "../lancedb/retry.ts";
import { buildTableSchema, inferMetadataFields } from "../lancedb/schema.ts";
import { ensureIndexes } from "./indexes.ts";
import { documentTextRejection } from "./parse.ts";
import { prefetch } from "./prefetch.ts";
import { reembedTable } from "./reembed.ts";
import {
  type ChunkRow,
  chunkId,
  metadataShapeOf,
  rowFingerprint,
  rowsToArrow,
  type StoredRow,
  shapeMetadata,
} from "./rows.ts";
import { readSourceItems } from "./source-items.ts";
import { sqlList } from "./sql.ts";
import type {
  IngestCommonOptions,
  IngestDocument,
  IngestDocumentsOptions,
  IngestFailure,
  IngestProgress,
  IngestReport,
  IngestSourcesOptions,
} from "./types.ts";

/** What the document readers hand the pipeline: a document, or only progress (a file done or skipped). */
export interface DocItem {
  doc: IngestDocument | null;
  /** Source bytes finished with this item (for the ETA). */
  bytes: number;
  /** True when a source file is finished with this item. */
  fileDone: boolean;
}

/** A chunk before it is fitted to the table's metadata struct. */
interface PendingChunk extends Omit<ChunkRow, "metadata"> {
  rawMetadata: Record<string, unknown> | undefined;
  tokens: number;
}

/** Chunks of whole documents, embedded and written together. */
interface Unit {
  docIds: string[];
  chunks: PendingChunk[];
  bytes: number;
  files: number;
  documents: number;
}

const DEFAULT_WRITE_BATCH_ROWS = 4096;
const DEFAULT_EMBED_BATCH_CHUNKS = 256;
/** IN-lists per lookup query stay well below SQL parser limits. */
const LOOKUP_CHUNK = 500;
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

/** Ingests files, folders, globs and stdin ("-") into a LanceDB table. */
export async function ingestSources(options: IngestSourcesOptions): Promise<IngestReport> {
  const { items, listing, seenSources } = await readSourceItems(options);
  const report = await runIngest(items, options, {
    failures: listing.failures,
    filesTotal: listing.files.length + (listing.stdin ? 1 : 0),
    bytesTotal: listing.files.reduce((sum, f) => sum + f.size, 0),
    deleteMissing: options.deleteMissing ? { column: "source", keep: seenSources } : undefined,
  });
  return report;
}

/** Ingests documents (eval corpora, passkey pools, programs) into a LanceDB table. */
export async function ingestDocuments(options: IngestDocumentsOptions): Promise<IngestReport> {
  const seenDocIds = new Set<string>();
  async function* items(): AsyncGenerator<DocItem> {
    for await (const doc of options.documents) {
      if (doc && typeof doc.id === "string") seenDocIds.add(doc.id);
      yield { doc, bytes: 0, fileDone: false };
    }
  }
  return runIngest(items(), options, {
    failures: [],
    filesTotal: undefined,
    bytesTotal: undefined,
    deleteMissing: options.deleteMissing ? { column: "doc_id", keep: seenDocIds } : undefined,
  });
}

interface RunContext {
  failures: IngestFailure[];
  filesTotal: number | undefined;
  bytesTotal: number | undefined;
  /** Rows whose `column` value is not in `keep` (filled by the time the items are consumed) get deleted. */
  deleteMissing: { column: "source" | "doc_id"; keep: Set<string> } | undefined;
}

async function runIngest(
  items: AsyncIterable<DocItem>,
  options: IngestCommonOptions,
  context: RunContext,
): Promise<IngestReport> {
  const started = performance.now();
  const { embedder } = options;
  const dryRun = options.dryRun ?? false;
  const maxChunkTokens = embedder.maxLength - 2; // room for BOS and the appended EOS
  const chunkTokens = options.chunkTokens ?? maxChunkTokens;
  if (!Number.isInteger(chunkTokens) || chunkTokens < 1 || chunkTokens > maxChunkTokens) {
    throw new RangeError(`chunk size must be an integer from 1 to ${maxChunkTokens} tokens (model max length - 2)`);
  }
  const writeBatchRows = options.writeBatchRows ?? DEFAULT_WRITE_BATCH_ROWS;
  const embedBatchChunks = options.embedBatchChunks ?? DEFAULT_EMBED_BATCH_CHUNKS;
  useEmbedder(embedder); // the registry's function (run by LanceDB on every write) reuses this embedder

  const connection = await connectDb(options.db);
  const failures = context.failures;
  const counts = { added: 0, updated: 0, unchanged: 0, deleted: 0 };
  const progress: IngestProgress = {
    files_done: 0,
    files_total: context.filesTotal,
    documents_done: 0,
    chunks_done: 0,
    tokens_embedded: 0,
    tokens_per_second: 0,
    bytes_done: 0,
    bytes_total: context.bytesTotal,
  };

  let table: Table | null = await tryOpenTable(connection, options.table);
  // Nothing can be stored for this run's documents when the table is new or empty at the start (a resumed run
  // finds its own earlier rows, so it takes the lookup path): skip the per-unit lookups then.
  let lookups = table !== null && (await table.countRows()) > 0;
  let schema: ArrowSchema | null = table ? ((await table.schema()) as unknown as ArrowSchema) : null;
  if (table && schema) {
    const stored = modelIdentityOfSchema(schema, options.table);
    if (options.reembed && stored && !sameModel(stored, embedder.identity)) {
      const result = await reembedTable(connection, table, schema, embedder, { dryRun, embedBatchChunks });
      counts.updated += result.rows;
      if (!dryRun) {
        table = result.table;
        schema = result.schema;
        lookups = result.rows > 0;
      }
    } else if (!(options.reembed && dryRun)) {
      assertSameModel(options.table, stored, embedder.identity);
    }
  }

  const ensureTable = async (unit: Unit): Promise<void> => {
    if (table || dryRun) return;
    const created = await openOrCreateTable(
      connection,
      options.table,
      buildTableSchema({
        identity: embedder.identity,
        defaultTask: options.defaultTask ?? embedder.config.default_task,
        metadataFields: inferMetadataFields(unit.chunks.map((c) => c.rawMetadata)),
      }),
    );
    table = created.table;
    schema = (await table.schema()) as unknown as ArrowSchema;
    // Another process may have created it first, with another model.
    assertSameModel(options.table, modelIdentityOfSchema(schema, options.table), embedder.identity);
  };

  // --- stage 1 (producer): documents → chunks, grouped into units of whole documents -------------------------
  const seenDocIds = new Set<string>();
  async function* units(): AsyncGenerator<Unit> {
    let unit: Unit = { docIds: [], chunks: [], bytes: 0, files: 0, documents: 0 };
    for await (const item of items) {
      unit.bytes += item.bytes;
      if (item.fileDone) unit.files++;
      const doc = item.doc;
      if (doc) {
        const chunks = prepareDocument(doc);
        if (chunks) {
          unit.docIds.push(doc.id);
          unit.chunks.push(...chunks);
          unit.documents++;
        }
      }
      if (unit.chunks.length >= embedBatchChunks) {
        yield unit;
        unit = { docIds: [], chunks: [], bytes: 0, files: 0, documents: 0 };
      }
    }
    if (unit.chunks.length > 0 || unit.files > 0 || unit.bytes > 0) yield unit;
  }

  function prepareDocument(doc: IngestDocument): PendingChunk[] | null {
    const where = doc?.source ?? doc?.id ?? "(document)";
    if (!doc || typeof doc.id !== "string" || doc.id === "") {
      failures.push({ source: String(where), reason: "document has no string id" });
      return null;
    }
    const rejected = documentTextRejection(doc.text);
    if (rejected) {
      failures.push({ source: doc.source ?? doc.id, reason: rejected });
      return null;
    }
    if (seenDocIds.has(doc.id)) {
      failures.push({ source: doc.source ?? doc.id, reason: `duplicate document id "${doc.id}"` });
      return null;
    }
    seenDocIds.add(doc.id);
    const spans = options.whole
      ? [
          {
            text: doc.text,
            start: 0,
            end: doc.text.length,
            tokens: Math.min(embedder.encode(doc.text).ids.length, embedder.maxLength),
          },
        ]
      : chunkText(doc.text, {
          maxTokens: chunkTokens,
          overlapTokens: options.overlapTokens,
          countTokens: (t) => embedder.countTokens(t),
        });
    return spans.map((span, index) => ({
      id: chunkId(doc.id, index, span.text),
      doc_id: doc.id,
      source: doc.source ?? null,
      title: doc.title ?? null,
      text: span.text,
      chunk_index: index,
      char_start: span.start,
      char_end: span.end,
      parent_id: null,
      rawMetadata: doc.metadata,
      tokens: span.tokens,
    }));
  }

  // --- stage 2: classify against what is stored (unchanged / updated / new / stale) -----------------------
  interface Classified {
    unit: Unit;
    toEmbed: ChunkRow[];
    tokensToEmbed: number;
    /** Rows whose id is stored but whose other columns changed: rewritten with their stored vector. */
    updated: StoredRow[];
    staleIds: string[];
  }

  async function classify(unit: Unit): Promise<Classified> {
    await ensureTable(unit);
    const shape = schema
      ? metadataShapeOf(schema)
      : new Map<string, string>([
          ["format", "utf8"],
          ["extra", "utf8"],
        ]);
    const rows = unit.chunks.map(({ rawMetadata, tokens: _tokens, ...row }) => ({
      ...row,
      metadata: shapeMetadata(rawMetadata, shape),
    }));
    const stored = new Map<string, string>(); // id → fingerprint
    const storedByDoc = new Map<string, string[]>();
    if (table && lookups) {
      for (let i = 0; i < unit.docIds.length; i += LOOKUP_CHUNK) {
        const ids = unit.docIds.slice(i, i + LOOKUP_CHUNK);
        const found = await table
          .query()
          .where(`doc_id IN ${sqlList(ids)}`)
          .select(NON_VECTOR_COLUMNS)
          .toArray();
        for (const r of found) {
          const row = plainRow(r);
          stored.set(row.id, rowFingerprint(row as unknown as ChunkRow));
          const list = storedByDoc.get(row.doc_id) ?? [];
          list.push(row.id);
          storedByDoc.set(row.doc_id, list);
        }
      }
    }
    const toEmbed: ChunkRow[] = [];
    const updatedIds: string[] = [];
    let tokensToEmbed = 0;
    const newIds = new Set<string>();
    rows.forEach((row, i) => {
      newIds.add(row.id);
      const fingerprint = stored.get(row.id);
      if (fingerprint === undefined) {
        toEmbed.push(row);
        tokensToEmbed += unit.chunks[i]!.tokens;
      } else if (fingerprint === rowFingerprint(row)) counts.unchanged++;
      else updatedIds.push(row.id);
    });
    const updated: StoredRow[] = [];
    if (updatedIds.length > 0 && table) {
      const vectors = new Map<string, Float32Array>();
      for (let i = 0; i < updatedIds.length; i += LOOKUP_CHUNK) {
        const found = await table
          .query()
          .where(`id IN ${sqlList(updatedIds.slice(i, i + LOOKUP_CHUNK))}`)
          .select(["id", "vector"])
          .toArray();
        for (const r of found) vectors.set(String(r.id), Float32Array.from(r.vector.toArray() as Float32Array));
      }
      for (const row of rows) {
        const vector = vectors.get(row.id);
        if (vector && updatedIds.includes(row.id)) updated.push({ ...row, vector });
      }
    }
    const staleIds: string[] = [];
    for (const ids of storedByDoc.values()) for (const id of ids) if (!newIds.has(id)) staleIds.push(id);
    return { unit, toEmbed, tokensToEmbed, updated, staleIds };
  }

  async function* classifiedUnits(): AsyncGenerator<Classified> {
    for await (const unit of units()) yield await classify(unit);
  }

  // --- stage 3 (consumer): embed, then write in large batches; one write in flight overlaps the next embed ---
  let buffer: StoredRow[] = [];
  let bufferStale: string[] = [];
  let writing: Promise<void> = Promise.resolve();

  for await (const work of prefetch(classifiedUnits(), 1)) {
    const { unit, toEmbed, updated, staleIds } = work;
    counts.added += toEmbed.length;
    counts.updated += updated.length;
    counts.deleted += staleIds.length;
    if (!dryRun && toEmbed.length > 0) {
      const vectors = await embedder.embedDocuments(toEmbed.map((row) => row.text));
      toEmbed.forEach((row, i) => {
        buffer.push({ ...row, vector: vectors[i]! });
      });
      progress.tokens_embedded += work.tokensToEmbed;
    }
    if (!dryRun) {
      buffer.push(...updated);
      bufferStale.push(...staleIds);
      if (buffer.length >= writeBatchRows) await startFlush();
    }
    progress.files_done += unit.files;
    progress.documents_done += unit.documents;
    progress.chunks_done += unit.chunks.length;
    progress.bytes_done += unit.bytes;
    report(progress);
  }
  if (!dryRun) {
    await startFlush();
    await writing;
  }

  if (context.deleteMissing && table) {
    counts.deleted += await deleteMissing(table, context.deleteMissing, dryRun);
  }
  if (!dryRun && table && !options.skipOptimize) {
    await ensureIndexes(table, embedder.dim, options.index === true);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    files: progress.files_done,
    chunks_added: counts.added,
    chunks_updated: counts.updated,
    chunks_unchanged: counts.unchanged,
    chunks_deleted: counts.deleted,
    failures,
    seconds: round(seconds, 3),
    tokens_per_second: round(seconds > 0 ? progress.tokens_embedded / seconds : 0, 1),
  };

  async function startFlush(): Promise<void> {
    // Wait for the previous write (errors surface here), then start this one without waiting for it.
    await writing;
    if (buffer.length === 0 && bufferStale.length === 0) return;
    const rows = buffer;
    const stale = bufferStale;
    buffer = [];
    bufferStale = [];
    const target = table!;
    const targetSchema = schema!;
    writing = writeRows(target, targetSchema, rows, stale);
    writing.catch(() => undefined); // awaited (and rethrown) by the next startFlush or the final await
  }

  function report(p: IngestProgress): void {
    const elapsed = (performance.now() - started) / 1000;
    p.tokens_per_second = elapsed > 0 ? p.tokens_embedded / elapsed : 0;
    if (p.bytes_total && p.bytes_done > 0) {
      p.eta_seconds = (elapsed * (p.bytes_total - p.bytes_done)) / p.bytes_done;
    }
    options.onProgress?.({ ...p });
  }
}

/** mergeInsert on id (idempotent under retries), then delete the replaced chunks. */
async function writeRows(table: Table, schema: ArrowSchema, rows: StoredRow[], stale: string[]): Promise<void> {
  if (rows.length > 0) {
    const data = rowsToArrow(rows, schema);
    await withCommitRetries(() =>
      table.mergeInsert("id").whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(data),
    );
  }
  // Stale chunks go only after their replacements are committed: a crash in between leaves the old chunks,
  // which the next run finds and deletes; it never leaves a document without chunks.
  for (let i = 0; i < stale.length; i += LOOKUP_CHUNK) {
    const predicate = `id IN ${sqlList(stale.slice(i, i + LOOKUP_CHUNK))}`;
    await withCommitRetries(() => table.delete(predicate));
  }
}

async function deleteMissing(
  table: Table,
  spec: { column: "source" | "doc_id"; keep: Set<string> },
  dryRun: boolean,
): Promise<number> {
  const stored = new Set<string>();
  const found = await table.query().where(`${spec.column} IS NOT NULL`).select([spec.column]).toArray();
  for (const r of found) stored.add(String(r[spec.column]));
  const missing = [...stored].filter((value) => !spec.keep.has(value)).sort();
  let deleted = 0;
  for (let i = 0; i < missing.length; i += LOOKUP_CHUNK) {
    const predicate = `${spec.column} IN ${sqlList(missing.slice(i, i + LOOKUP_CHUNK))}`;
    deleted += await table.countRows(predicate);
    if (!dryRun) await withCommitRetries(() => table.delete(predicate));
  }
  return deleted;
}

/** A LanceDB result row as plain values (struct → object, nulls kept). */
function plainRow(r: Record<string, unknown>): Omit<ChunkRow, "text"> & { id: string; doc_id: string } {
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
        : ((metadata as Record<string, unknown>) ?? {}),
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
