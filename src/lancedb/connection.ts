import * as lancedb from "@lancedb/lancedb";
import type { ArrowSchema } from "./arrow.ts";
import { TableNotFoundError } from "./errors.ts";
import { withCommitRetries } from "./retry.ts";
import { describeObjectStoreError, ObjectStoreError, type StorageOptions } from "./storage-options.ts";

export type Connection = lancedb.Connection;
export type Table = lancedb.Table;

/** A database given as a path/URI or an open connection. */
export type DbLike = string | Connection;

export interface ConnectOptions {
  /** Object-store options for s3://, gs://, az:// URIs (see storage-options.ts); ignored for an open connection. */
  storageOptions?: StorageOptions;
}

/**
 * Connects with strong read consistency (readConsistencyInterval 0): every operation first looks for a newer
 * table version. Without it a table handle stays on the version it opened, so after another writer commits,
 * a retried write or optimize conflicts with the same version forever.
 */
export async function connectDb(db: DbLike, options: ConnectOptions = {}): Promise<Connection> {
  if (typeof db !== "string") return db;
  return lancedb.connect(db, { readConsistencyInterval: 0, storageOptions: options.storageOptions });
}

/** The database's path or URI (a connection shows itself as `ListingDatabase(uri=…, …)`). */
export function databaseUri(db: DbLike): string {
  if (typeof db === "string") return db;
  const display = db.display();
  return /\buri=([^,)]+)/.exec(display)?.[1] ?? display;
}

// LanceDB 0.31: "Table 'docs' was not found" (local directories and object stores alike).
function isTableNotFound(error: unknown, name: string): boolean {
  return error instanceof Error && error.message.includes(`Table '${name}' was not found`);
}

/**
 * Opens the table, or null when it does not exist. Asks for the table itself rather than listing the database:
 * one request on an object store instead of a listing of every table, and it works on S3-compatible servers
 * whose delimiter listings are incomplete. Object-store failures become ObjectStoreError naming the URI.
 */
export async function tryOpenTable(db: DbLike, name: string): Promise<Table | null> {
  const connection = await connectDb(db);
  try {
    return await connection.openTable(name);
  } catch (error) {
    if (isTableNotFound(error, name)) return null;
    throw describeObjectStoreError(databaseUri(db), error);
  }
}

/** Opens an existing table; TableNotFoundError (naming table and database) when it does not exist. */
export async function openTable(db: DbLike, name: string): Promise<Table> {
  const table = await tryOpenTable(db, name);
  if (!table) throw new TableNotFoundError(name, databaseUri(db));
  return table;
}

/**
 * Opens the table, creating it empty with `schema` when missing. Two processes creating the same new table at
 * once must both succeed: the loser of the race gets "already exists" (or a commit conflict) and opens the
 * winner's table instead. `created` tells the caller whose schema the table has.
 */
export async function openOrCreateTable(
  db: DbLike,
  name: string,
  schema: ArrowSchema,
): Promise<{ table: Table; created: boolean }> {
  const connection = await connectDb(db);
  return withCommitRetries(
    async () => {
      const existing = await tryOpenTable(connection, name);
      if (existing) return { table: existing, created: false };
      try {
        const table = await connection.createEmptyTable(name, schema, { mode: "create", existOk: false });
        return { table, created: true };
      } catch (error) {
        const opened = await tryOpenTable(connection, name).catch(() => null);
        if (opened) return { table: opened, created: false };
        throw describeObjectStoreError(databaseUri(db), error);
      }
    },
    // An unreachable store has already been retried by the object store client: fail at once.
    { retryOn: (error) => !(error instanceof ObjectStoreError), attempts: 6 },
  );
}
