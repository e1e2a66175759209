import { DEFAULT_PARSE_OPTIONS, type ParseOptions, parseSource } from "./parse.ts";
import type { DocItem } from "./pipeline.ts";
import { inShard, type Shard, shardProblem } from "./shard.ts";
import { decodeUtf8, type ListedSources, listSources, readSourceText, readStream, textRejection } from "./sources.ts";
import type { IngestSourcesOptions } from "./types.ts";

export const DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024;

/** Bad input in the options themselves (not in a file): the CLI maps it to a usage error. */
export class IngestOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IngestOptionsError";
  }
}

/**
 * --delete-missing deletes every stored source that is not listed now. A mistyped path, an empty glob or an
 * unmounted (empty) folder would list nothing and so delete everything: refuse before anything is written.
 */
function refuseUnsafeDelete(listing: ListedSources): void {
  if (listing.unmatched.length > 0) {
    throw new IngestOptionsError(
      `--delete-missing refused: ${listing.unmatched.map((s) => JSON.stringify(s)).join(", ")} matched nothing ` +
        "(it would delete every stored chunk of those sources); fix the path or drop --delete-missing",
    );
  }
  if (listing.files.length === 0 && !listing.stdin) {
    throw new IngestOptionsError(
      "--delete-missing refused: the sources list no files at all (it would empty the table); " +
        "to delete a table on purpose, drop it",
    );
  }
}

/**
 * Lists the sources up front (for the progress total and --delete-missing), then reads them lazily one at a
 * time: a file's documents are yielded as soon as it is parsed, skip reasons go to `listing.failures`.
 */
export async function readSourceItems(
  options: IngestSourcesOptions,
): Promise<{ items: AsyncGenerator<DocItem>; listing: ListedSources; seenSources: Set<string> }> {
  if (options.sources.length === 0) throw new IngestOptionsError("no sources given");
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (!Number.isInteger(maxFileBytes) || maxFileBytes < 1) {
    throw new IngestOptionsError(`max file bytes must be a positive integer, got ${options.maxFileBytes}`);
  }
  const listing = await listSources(options.sources, options.root);
  if (listing.stdin && !options.sourceId) throw new IngestOptionsError('reading stdin ("-") needs --source-id');
  if (options.deleteMissing) refuseUnsafeDelete(listing);
  if (options.shard) {
    const problem = shardProblem(options.shard);
    if (problem) throw new IngestOptionsError(`shard ${options.shard.index}/${options.shard.count}: ${problem}`);
    if (listing.stdin) throw new IngestOptionsError('--shard cannot read stdin ("-"): shard files, folders or globs');
    keepShard(listing, options.shard, options.sources);
  }
  const parseOptions: ParseOptions = {
    textField: options.textField ?? DEFAULT_PARSE_OPTIONS.textField,
    idField: options.idField ?? DEFAULT_PARSE_OPTIONS.idField,
    titleField: options.titleField ?? DEFAULT_PARSE_OPTIONS.titleField,
  };
  // Every listed source counts as seen, including the ones that fail to read: --delete-missing must never
  // delete the stored chunks of a file that is present but unreadable right now.
  const seenSources = new Set<string>(listing.files.map((f) => f.sourceId));
  for (const failure of listing.failures) seenSources.add(failure.source);
  if (listing.stdin) seenSources.add(options.sourceId!);

  async function* items(): AsyncGenerator<DocItem> {
    for (const file of listing.files) {
      const read = await readSourceText(file, maxFileBytes);
      if ("reason" in read) {
        listing.failures.push({ source: file.sourceId, reason: read.reason });
        yield { doc: null, bytes: file.size, fileDone: true };
        continue;
      }
      yield* parsedItems(file.sourceId, read.text, file.size);
    }
    if (listing.stdin) {
      const sourceId = options.sourceId!;
      const bytes = await readStream(options.stdin ?? process.stdin);
      if (bytes.length > maxFileBytes) {
        listing.failures.push({
          source: sourceId,
          reason: `too large (${bytes.length} bytes > --max-file-bytes ${maxFileBytes})`,
        });
      } else {
        const rejected = textRejection(bytes);
        let text: string | null = null;
        if (rejected) listing.failures.push({ source: sourceId, reason: rejected });
        else {
          try {
            text = decodeUtf8(bytes);
          } catch (error) {
            listing.failures.push({ source: sourceId, reason: (error as Error).message });
          }
        }
        if (text !== null) {
          yield* parsedItems(sourceId, text, bytes.length);
          return;
        }
      }
      yield { doc: null, bytes: 0, fileDone: true };
    }
  }

  function* parsedItems(sourceId: string, text: string, size: number): Generator<DocItem> {
    const parsed = parseSource(sourceId, text, parseOptions);
    listing.failures.push(...parsed.failures);
    const last = parsed.documents.length - 1;
    if (last < 0) yield { doc: null, bytes: size, fileDone: true };
    for (let i = 0; i <= last; i++) {
      yield { doc: parsed.documents[i]!, bytes: i === last ? size : 0, fileDone: i === last };
    }
  }

  return { items: items(), listing, seenSources };
}

/**
 * Narrows a listing to one shard's sources. Failures about a command-line argument itself (not found, glob
 * matched nothing) stay with every worker; failures about one file go to the worker that owns its source id.
 */
function keepShard(listing: ListedSources, shard: Shard, args: readonly string[]): void {
  listing.files = listing.files.filter((file) => inShard(file.sourceId, shard));
  listing.failures = listing.failures.filter((f) => args.includes(f.source) || inShard(f.source, shard));
}
