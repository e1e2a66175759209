import type { DbLike } from "../lancedb/connection.ts";
import type { Embedder } from "../model/embedder.ts";
import type { Shard } from "./shard.ts";

/** One document to ingest (ingestDocuments; also what sources are parsed into). */
export interface IngestDocument {
  /** Document id; the canonical source id for files. */
  id: string;
  title?: string;
  text: string;
  /** Canonical source id (defaults to the document id). --delete-missing works per source. */
  source?: string;
  /** Filterable metadata (schemas/table.schema.json `metadata`). */
  metadata?: Record<string, unknown>;
}

/** The `--json` report of `lance-e5 ingest` (a contract: field names are stable). */
export interface IngestReport {
  files: number;
  chunks_added: number;
  chunks_updated: number;
  chunks_unchanged: number;
  chunks_deleted: number;
  failures: IngestFailure[];
  seconds: number;
  tokens_per_second: number;
}

export interface IngestFailure {
  source: string;
  reason: string;
}

export interface IngestProgress {
  files_done: number;
  /** Known up front for file sources; undefined for streams of documents. */
  files_total?: number;
  documents_done: number;
  chunks_done: number;
  /** Tokens embedded so far (chunks that needed embedding). */
  tokens_embedded: number;
  tokens_per_second: number;
  /** Bytes of source read so far / in all (file sources), for the ETA. */
  bytes_done: number;
  bytes_total?: number;
  eta_seconds?: number;
}

export interface IngestCommonOptions {
  /** Database directory/URI or an open connection. */
  db: DbLike;
  /** Table name. */
  table: string;
  embedder: Embedder;
  /** One vector per document, truncated to the model's max length (no chunking). */
  whole?: boolean;
  /** Chunk size in model tokens (default: the model's max length minus BOS/EOS). */
  chunkTokens?: number;
  /** Overlap between consecutive chunks, in model tokens (default 0). */
  overlapTokens?: number;
  /** Report what would change; embed and write nothing. */
  dryRun?: boolean;
  /** Allow a table embedded with another model: re-embed every stored row with this one (a new table version). */
  reembed?: boolean;
  /** Build the vector index now whatever the row count ("auto": only when the table is large enough). */
  index?: boolean | "auto";
  /** Skip optimize() and index maintenance at the end (tests, bulk loads that index later). */
  skipOptimize?: boolean;
  /** Rows per LanceDB write (large batches amortise commits; default 4096). */
  writeBatchRows?: number;
  /** Chunks per embedding call (default 256). */
  embedBatchChunks?: number;
  /** Query task recorded as the table's default when it is created (default: the model's default task). */
  defaultTask?: string;
  onProgress?: (progress: IngestProgress) => void;
}

export interface IngestSourcesOptions extends IngestCommonOptions {
  /** Files, folders and globs; "-" reads stdin. */
  sources: string[];
  /** Base for canonical source ids (default: each folder argument / glob base / the file's folder). */
  root?: string;
  /** JSONL: field holding the text (default "text"). */
  textField?: string;
  /** JSONL: field holding the document id (default "id"; absent → "<source>#<line>"). */
  idField?: string;
  /** JSONL: field holding the title (default "title"). */
  titleField?: string;
  /** Canonical id for stdin (required when "-" is a source). */
  sourceId?: string;
  /** Stream read for "-" (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
  /** Skip files larger than this many bytes (default 50 MiB). */
  maxFileBytes?: number;
  /** Delete chunks whose source is not among this run's sources (vanished files); with `shard`, only among the
   * stored sources that shard owns, so a worker never deletes another worker's documents. */
  deleteMissing?: boolean;
  /** Process only the sources this shard owns by hash of the canonical source id (src/ingest/shard.ts). */
  shard?: Shard;
}

export interface IngestDocumentsOptions extends IngestCommonOptions {
  documents: AsyncIterable<IngestDocument> | Iterable<IngestDocument>;
  /** Delete documents of the table whose doc_id is not among these documents. */
  deleteMissing?: boolean;
}

export type { DbLike, Embedder };
