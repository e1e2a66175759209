import type { ArrowSchema } from "../lancedb/arrow.ts";
import { connectDb, openOrCreateTable, type Table, tryOpenTable } from "../lancedb/connection.ts";
import { useEmbedder } from "../lancedb/embedding-function.ts";
import { assertSameModel, modelIdentityOfSchema, sameModel } from "../lancedb/identity.ts";
import { buildTableSchema, inferMetadataFields } from "../lancedb/schema.ts";
import { type Classified, classifyUnit, type Unit } from "./classify.ts";
import { embedChunkTexts } from "./embed-chunks.ts";
import { ensureIndexes } from "./indexes.ts";
import { prefetch } from "./prefetch.ts";
import { prepareDocument } from "./prepare.ts";
import { reembedTable } from "./reembed.ts";
import { inShard } from "./shard.ts";
import { readSourceItems } from "./source-items.ts";
import type {
  IngestCommonOptions,
  IngestDocument,
  IngestDocumentsOptions,
  IngestFailure,
  IngestProgress,
  IngestReport,
  IngestSourcesOptions,
} from "./types.ts";
import { BatchWriter, deleteMissing, type MissingSpec } from "./write.ts";

/** What the document readers hand the pipeline: a document, or only progress (a file done or skipped). */
export interface DocItem {
  doc: IngestDocument | null;
  /** Source bytes finished with this item (for the ETA). */
  bytes: number;
  /** True when a source file is finished with this item. */
  fileDone: boolean;
}

const DEFAULT_WRITE_BATCH_ROWS = 4096;
/**
 * Chunks embedded per unit: the embedder length-sorts each unit's chunks into batches, so larger units pad less
 * (measured on 32-token SOTU chunks: 4.3% padding at 256, 1.4% at 1,024, 0.5% over all 3,112), and the worker
 * sessions drain less often at unit ends: 10,151 SOTU chunks ingested in 8.2–8.5 s at 4,096 vs 8.4–8.5 s at 1,024
 * (bench/.prof-style runs, 2 cores). 4,096 is also one LanceDB commit (DEFAULT_WRITE_BATCH_ROWS).
 */
const DEFAULT_EMBED_BATCH_CHUNKS = 4096;

/** Ingests files, folders, globs and stdin ("-") into a LanceDB table. */
export async function ingestSources(options: IngestSourcesOptions): Promise<IngestReport> {
  const { items, listing, seenSources } = await readSourceItems(options);
  const shard = options.shard;
  const report = await runIngest(items, options, {
    failures: listing.failures,
    filesTotal: listing.files.length + (listing.stdin ? 1 : 0),
    bytesTotal: listing.files.reduce((sum, f) => sum + f.size, 0),
    deleteMissing: options.deleteMissing
      ? { column: "source", keep: seenSources, owns: shard ? (source) => inShard(source, shard) : undefined }
      : undefined,
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
  deleteMissing: MissingSpec | undefined;
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
    } else {
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
  const chunking = { embedder, whole: options.whole ?? false, chunkTokens, overlapTokens: options.overlapTokens };
  const emptyUnit = (): Unit => ({ docIds: [], chunks: [], bytes: 0, files: 0, documents: 0 });
  async function* units(): AsyncGenerator<Unit> {
    let unit = emptyUnit();
    for await (const item of items) {
      unit.bytes += item.bytes;
      if (item.fileDone) unit.files++;
      if (item.doc) {
        const prepared = prepareDocument(item.doc, seenDocIds, chunking);
        if ("failure" in prepared) failures.push(prepared.failure);
        else {
          unit.docIds.push(item.doc.id);
          unit.chunks.push(...prepared.chunks);
          unit.documents++;
        }
      }
      if (unit.chunks.length >= embedBatchChunks) {
        yield unit;
        unit = emptyUnit();
      }
    }
    if (unit.chunks.length > 0 || unit.files > 0 || unit.bytes > 0) yield unit;
  }

  // --- stage 2: classify against what is stored (unchanged / updated / new / stale) -----------------------
  async function* classifiedUnits(): AsyncGenerator<Classified> {
    for await (const unit of units()) {
      await ensureTable(unit);
      yield await classifyUnit(unit, table, schema, lookups);
    }
  }

  // --- stage 3: embedding starts as soon as a unit is classified (inference runs on worker threads) ----------
  async function* embeddedUnits(): AsyncGenerator<{ work: Classified; vectors: Promise<Float32Array[]> }> {
    for await (const work of prefetch(classifiedUnits(), 1)) {
      const vectors = dryRun ? Promise.resolve([]) : embedChunkTexts(embedder, work.toEmbed, work.toEmbedIds);
      vectors.catch(() => undefined); // awaited, and so rethrown, in order by the consumer below
      yield { work, vectors };
    }
  }

  // --- stage 4 (consumer): collect vectors, write in large batches; one write in flight -------------------
  // Prefetching one embedded unit ahead keeps the next unit's batches queued on the session workers while this
  // one's vectors are collected and written, and the unit after it is read, chunked and classified meanwhile.
  const writer = new BatchWriter(() => ({ table: table!, schema: schema! }), writeBatchRows);
  for await (const { work, vectors: embedding } of prefetch(embeddedUnits(), 1)) {
    const { unit, toEmbed, updated, staleIds } = work;
    counts.added += toEmbed.length;
    counts.updated += updated.length;
    counts.unchanged += work.unchanged;
    counts.deleted += staleIds.length;
    if (!dryRun) {
      const vectors = await embedding;
      progress.tokens_embedded += work.tokensToEmbed;
      await writer.add([...toEmbed.map((row, i) => ({ ...row, vector: vectors[i]! })), ...updated], staleIds);
    }
    progress.files_done += unit.files;
    progress.documents_done += unit.documents;
    progress.chunks_done += unit.chunks.length;
    progress.bytes_done += unit.bytes;
    report(progress);
  }
  if (!dryRun) await writer.drain();

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

  function report(p: IngestProgress): void {
    const elapsed = (performance.now() - started) / 1000;
    p.tokens_per_second = elapsed > 0 ? p.tokens_embedded / elapsed : 0;
    if (p.bytes_total && p.bytes_done > 0) {
      p.eta_seconds = (elapsed * (p.bytes_total - p.bytes_done)) / p.bytes_done;
    }
    options.onProgress?.({ ...p });
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
