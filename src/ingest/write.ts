import type { ArrowSchema } from "../lancedb/arrow.ts";
import type { Table } from "../lancedb/connection.ts";
import { withCommitRetries } from "../lancedb/retry.ts";
import { LOOKUP_CHUNK } from "./classify.ts";
import { rowsToArrow, type StoredRow } from "./rows.ts";
import { sqlList } from "./sql.ts";

/**
 * Collects rows into large Arrow batches and writes them with one write in flight: the next batch is embedded
 * while the previous one commits. A write error surfaces at the next add/flush/drain.
 */
export class BatchWriter {
  private rows: StoredRow[] = [];
  private stale: string[] = [];
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly target: () => { table: Table; schema: ArrowSchema },
    private readonly batchRows: number,
  ) {}

  async add(rows: StoredRow[], staleIds: string[]): Promise<void> {
    this.rows.push(...rows);
    this.stale.push(...staleIds);
    if (this.rows.length >= this.batchRows) await this.flush();
  }

  /** Starts writing what is buffered (after the previous write finished) without waiting for it. */
  async flush(): Promise<void> {
    await this.writing;
    if (this.rows.length === 0 && this.stale.length === 0) return;
    const rows = this.rows;
    const stale = this.stale;
    this.rows = [];
    this.stale = [];
    const { table, schema } = this.target();
    this.writing = writeRows(table, schema, rows, stale);
    this.writing.catch(() => undefined); // rethrown by the next await of this.writing
  }

  /** Writes everything buffered and waits for it. */
  async drain(): Promise<void> {
    await this.flush();
    await this.writing;
  }
}

/** mergeInsert on id (idempotent, so safe to retry), then delete the replaced chunks. */
export async function writeRows(table: Table, schema: ArrowSchema, rows: StoredRow[], stale: string[]): Promise<void> {
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

/** What --delete-missing may delete: rows whose `column` value is not in `keep` (and is owned, when `owns` is set). */
export interface MissingSpec {
  column: "source" | "doc_id";
  keep: Set<string>;
  /** `ingest --shard`: only values this worker's shard owns are candidates; other shards' rows are never touched. */
  owns?: (value: string) => boolean;
}

/** --delete-missing: rows whose `column` is set but not in `keep`. Returns how many were (or would be) deleted. */
export async function deleteMissing(table: Table, spec: MissingSpec, dryRun: boolean): Promise<number> {
  const stored = new Set<string>();
  const found = await table.query().where(`${spec.column} IS NOT NULL`).select([spec.column]).toArray();
  for (const r of found) stored.add(String(r[spec.column]));
  const missing = [...stored].filter((value) => !spec.keep.has(value) && (spec.owns?.(value) ?? true)).sort();
  let deleted = 0;
  for (let i = 0; i < missing.length; i += LOOKUP_CHUNK) {
    const predicate = `${spec.column} IN ${sqlList(missing.slice(i, i + LOOKUP_CHUNK))}`;
    deleted += await table.countRows(predicate);
    if (!dryRun) await withCommitRetries(() => table.delete(predicate));
  }
  return deleted;
}
