import type { Command } from "commander";
import { DEFAULT_TABLE } from "../../defaults.ts";
import { ingestSources } from "../../ingest/index.ts";
import { formatShard, parseShard, type Shard, ShardSpecError } from "../../ingest/shard.ts";
import { IngestOptionsError } from "../../ingest/source-items.ts";
import type { IngestReport } from "../../ingest/types.ts";
import { connectDb } from "../../lancedb/connection.ts";
import { ModelMismatchError, NotALanceE5TableError } from "../../lancedb/errors.ts";
import { dbOption } from "../db-option.ts";
import { type EmbedderCliOptions, loadEmbedderFromOptions } from "../embedder-options.ts";
import { CliError } from "../errors.ts";
import { nonNegativeInt, positiveInt } from "../parsers.ts";
import { type StorageOptionFlags, storageOptionFlag, storageOptionsOf } from "../storage-options.ts";
import { createIngestProgressBar } from "./ingest-progress.ts";

interface IngestCommandOptions extends StorageOptionFlags, EmbedderCliOptions {
  db: string;
  table: string;
  model?: string;
  json?: boolean;
  textField: string;
  idField: string;
  titleField: string;
  sourceId?: string;
  root?: string;
  whole?: boolean;
  chunkTokens?: number;
  overlap?: number;
  maxFileBytes?: number;
  deleteMissing?: boolean;
  dryRun?: boolean;
  reembed?: boolean;
  index?: boolean;
  allowFailures?: boolean;
  threads?: number;
  longContext?: boolean;
  writeBatchRows?: number;
  embedBatch?: number;
  shard?: string;
}

/** Exit code when some sources failed (and --allow-failures was not given): the rest is committed. */
export const EXIT_SOURCE_FAILURES = 3;

/** `lance-e5 ingest SOURCE…`: embed a corpus into a LanceDB table (idempotent, resumable). */
export function registerIngest(program: Command): void {
  program
    .command("ingest")
    .description("embed files, folders, globs or stdin (-) into a LanceDB table; re-running is idempotent")
    .argument("<sources...>", "files, folders, globs (.txt .md .html .jsonl, BEIR corpus.jsonl), or - for stdin")
    .addOption(dbOption())
    .addOption(storageOptionFlag())
    .option("--table <name>", "table name", DEFAULT_TABLE)
    .option("--model <dir>", "model directory (default: $LANCE_E5_MODEL, else the shipped model)")
    .option("--json", "print one final JSON report (no progress bar)")
    .option("--text-field <name>", "JSONL: field holding the text", "text")
    .option("--id-field <name>", "JSONL: field holding the document id", "id")
    .option("--title-field <name>", "JSONL: field holding the title", "title")
    .option("--source-id <id>", "canonical id of stdin (required with -)")
    .option("--root <dir>", "base folder for source ids (default: each folder argument / glob base)")
    .option("--whole", "one vector per document, truncated to the model's max length (no chunking)")
    .option("--chunk-tokens <n>", "chunk size in model tokens (default: max length - 2)", positiveInt)
    .option("--overlap <n>", "tokens repeated between consecutive chunks (whole sentences)", nonNegativeInt)
    .option("--max-file-bytes <n>", "skip files larger than this (default 50 MiB)", positiveInt)
    .option("--delete-missing", "delete chunks of sources not given in this run (vanished files)")
    .option("--dry-run", "show what would change; embed and write nothing")
    .option("--reembed", "the table was built with another model: re-embed every row with this one")
    .option("--index", "build the vector index now, whatever the table size")
    .option("--allow-failures", "exit 0 even when some sources were skipped")
    .option("--threads <n>", "ONNX Runtime threads (default: $LANCE_E5_THREADS, else all CPUs)", positiveInt)
    .option("--long-context", "load the model's long_context RoPE base and max length")
    .option("--write-batch-rows <n>", "rows per LanceDB commit (default 4096)", positiveInt)
    .option("--embed-batch <n>", "chunks per embedding unit (default 4096)", positiveInt)
    .option(
      "--shard <i/n>",
      "worker i of n: only sources whose id hashes (sha256) to i; --delete-missing then only touches this share",
    )
    .action(async (sources: string[], options: IngestCommandOptions) => {
      const shard = parseShardFlag(options.shard);
      const storageOptions = storageOptionsOf(options);
      const embedder = await loadEmbedderFromOptions(options);
      const showBar = !options.json && process.stderr.isTTY === true;
      const bar = showBar ? createIngestProgressBar(process.stderr) : null;
      let report: IngestReport;
      try {
        report = await ingestSources({
          sources,
          db: await connectDb(options.db, { storageOptions }),
          table: options.table,
          embedder,
          textField: options.textField,
          idField: options.idField,
          titleField: options.titleField,
          sourceId: options.sourceId,
          root: options.root,
          whole: options.whole,
          chunkTokens: options.chunkTokens,
          overlapTokens: options.overlap,
          maxFileBytes: options.maxFileBytes,
          deleteMissing: options.deleteMissing,
          dryRun: options.dryRun,
          reembed: options.reembed,
          index: options.index ? true : "auto",
          writeBatchRows: options.writeBatchRows,
          embedBatchChunks: options.embedBatch,
          shard,
          onProgress: bar ? (p) => bar.update(p) : undefined,
        });
      } catch (error) {
        if (error instanceof IngestOptionsError) throw new CliError(error.message, 2);
        if (error instanceof ModelMismatchError || error instanceof NotALanceE5TableError) {
          throw new CliError(error.message, 2);
        }
        if (error instanceof RangeError) throw new CliError(error.message, 2);
        throw error;
      } finally {
        bar?.stop();
        await embedder.dispose();
      }
      if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else process.stdout.write(formatReport(report, options, shard));
      if (report.failures.length > 0 && !options.allowFailures) process.exitCode = EXIT_SOURCE_FAILURES;
    });
}

/** `--shard i/n`, checked before the model loads; a malformed value is a usage error (exit 2) naming the flag. */
function parseShardFlag(value: string | undefined): Shard | undefined {
  if (value === undefined) return undefined;
  try {
    return parseShard(value);
  } catch (error) {
    if (error instanceof ShardSpecError) throw new CliError(error.message, 2);
    throw error;
  }
}

function formatReport(report: IngestReport, options: IngestCommandOptions, shard: Shard | undefined): string {
  const share = shard ? ` (shard ${formatShard(shard)})` : "";
  const lines = [
    `${options.dryRun ? "would ingest" : "ingested"} ${report.files} file(s)${share} into ${options.db} table "${options.table}": ` +
      `${report.chunks_added} added, ${report.chunks_updated} updated, ${report.chunks_unchanged} unchanged, ` +
      `${report.chunks_deleted} deleted in ${report.seconds.toFixed(1)} s (${Math.round(report.tokens_per_second)} tokens/s)`,
  ];
  if (report.failures.length > 0) {
    lines.push(`skipped ${report.failures.length} source(s):`);
    for (const f of report.failures) lines.push(`  ${f.source}: ${f.reason}`);
    if (!options.allowFailures) lines.push("(exit code 3; pass --allow-failures to accept skipped sources)");
  }
  return `${lines.join("\n")}\n`;
}
