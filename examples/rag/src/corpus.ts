import { stat } from "node:fs/promises";
import {
  type Embedder,
  IngestOptionsError,
  type IngestReport,
  ingestSources,
  openSearchTarget,
  type SearchTarget,
} from "lance-e5";

export interface CorpusOptions {
  corpus: string;
  db: string;
  table: string;
  task: string;
  chunkTokens: number;
}

/** The corpus folder is missing or not a folder: said before any model work starts. */
export class CorpusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CorpusError";
  }
}

/**
 * Ingests the corpus folder with lance-e5's own pipeline (idempotent: a restart re-embeds only changed files and
 * drops chunks of files that vanished), then opens the table for searching with this embedder.
 */
export async function prepareCorpus(
  options: CorpusOptions,
  embedder: Embedder,
): Promise<{ report: IngestReport; target: SearchTarget }> {
  const info = await stat(options.corpus).catch(() => undefined);
  if (!info?.isDirectory()) throw new CorpusError(`--corpus: "${options.corpus}" is not a folder`);
  const report = await ingestSources({
    sources: [options.corpus],
    root: options.corpus,
    db: options.db,
    table: options.table,
    embedder,
    chunkTokens: options.chunkTokens,
    deleteMissing: true,
    defaultTask: options.task,
  }).catch((error: unknown) => {
    // e.g. a folder without a single file to read: ingest refuses rather than empty the table (deleteMissing).
    if (error instanceof IngestOptionsError)
      throw new CorpusError(`cannot ingest "${options.corpus}": ${error.message}`);
    throw error;
  });
  if (report.chunks_added + report.chunks_updated + report.chunks_unchanged === 0) {
    const reasons = report.failures.map((f) => `${f.source}: ${f.reason}`).join("; ");
    throw new CorpusError(
      `nothing in "${options.corpus}" could be ingested (${reasons || "no .txt, .md, .html or .jsonl files with text"})`,
    );
  }
  const target = await openSearchTarget({ db: options.db, tableName: options.table }, embedder.identity);
  return { report, target };
}
