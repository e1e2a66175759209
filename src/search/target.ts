import * as lancedb from "@lancedb/lancedb";
import { type Connection, type ConnectOptions, type DbLike, openTable, type Table } from "../lancedb/connection.ts";
import { assertSameModel, readTableDefaultTask, readTableModelIdentity } from "../lancedb/identity.ts";
import type { ModelIdentity } from "../model/config.ts";
import { type FilterFields, filterFieldsOfSchema } from "./filter.ts";

/**
 * A table checked once for searching with one model: the model identity matches (else ModelMismatchError naming
 * both), its default task and filterable fields are read. The server keeps one per table name; the CLI makes one.
 */
export interface SearchTarget {
  readonly name: string;
  readonly table: Table;
  readonly identity: ModelIdentity;
  /** The table's recorded default query task, or null when it has none. */
  readonly defaultTask: string | null;
  readonly fields: FilterFields;
}

/**
 * Connects for reading. `readConsistencySeconds` makes a long-lived process (the server) see rows that another
 * process (ingest) commits later; LanceDB's default is to never re-check, which suits one-shot commands.
 */
export async function connectForSearch(
  db: DbLike,
  readConsistencySeconds?: number,
  options: ConnectOptions = {},
): Promise<Connection> {
  if (typeof db !== "string") return db;
  return lancedb.connect(db, {
    ...(readConsistencySeconds === undefined ? {} : { readConsistencyInterval: readConsistencySeconds }),
    storageOptions: options.storageOptions,
  });
}

/** Opens (or takes) a table and checks that `model` embedded it. */
export async function openSearchTarget(
  source: { table: Table } | { db: DbLike; tableName: string },
  model: ModelIdentity,
): Promise<SearchTarget> {
  const table = "table" in source ? source.table : await openTable(source.db, source.tableName);
  const identity = await readTableModelIdentity(table);
  assertSameModel(table.name, identity, model);
  const schema = await table.schema();
  return {
    name: table.name,
    table,
    identity: identity!,
    defaultTask: (await readTableDefaultTask(table)) ?? null,
    fields: filterFieldsOfSchema(schema),
  };
}
