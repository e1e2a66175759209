import * as lancedb from "@lancedb/lancedb";
import type { ArrowSchema } from "./arrow.ts";
import { TableNotFoundError } from "./errors.ts";
import { withCommitRetries } from "./retry.ts";

export type Connection = lancedb.Connection;
export type Table = lancedb.Table;

/** A database given as a path/URI or an open connection. */
export type DbLike = string | Connection;

/**
 * Connects with strong read consistency (readConsistencyInterval 0): every operation first looks for a newer
 * table version. Without it a table handle stays on the version it opened, so after another writer commits,
 * a retried write or optimize conflicts with the same version forever.
 */
export async function connectDb(db: DbLike): Promise<Connection> {
  return typeof db === "string" ? lancedb.connect(db, { readConsistencyInterval: 0 }) : db;
}

function dbName(db: DbLike): string {
  return typeof db === "string" ? db : db.display();
}

/** Opens an existing table; TableNotFoundError (naming table and database) when it does not exist. */
export async function openTable(db: DbLike, name: string): Promise<Table> {
  const connection = await connectDb(db);
  try {
    return await connection.openTable(name);
  } catch (error) {
    if (!(await connection.tableNames()).includes(name)) throw new TableNotFoundError(name, dbName(db));
    throw error;
  }
}

/** Opens the table, or null when it does not exist. */
export async function tryOpenTable(db: DbLike, name: string): Promise<Table | null> {
  const connection = await connectDb(db);
  if (!(await connection.tableNames()).includes(name)) return null;
  return connection.openTable(name);
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
        throw error;
      }
    },
    { retryOn: () => true, attempts: 6 },
  );
}
