import type { ModelIdentity } from "../model/config.ts";
import { ModelMismatchError, NotALanceE5TableError } from "./errors.ts";

/** Schema-metadata keys a lance-e5 table carries (schemas/table.schema.json "metadata"). */
export const META_FORMAT_VERSION = "lance_e5.format_version";
export const META_MODEL = "lance_e5.model";
export const META_DEFAULT_TASK = "lance_e5.default_task";
export const TABLE_FORMAT_VERSION = "1";

/** Anything with Arrow-style schema metadata (an arrow Schema or what LanceDB's `table.schema()` returns). */
export interface HasSchemaMetadata {
  metadata: Map<string, string>;
}

export function encodeModelIdentity(identity: ModelIdentity): string {
  // Fixed key order so the stored string is stable across writers.
  return JSON.stringify({ name: identity.name, hash: identity.hash, dim: identity.dim });
}

export function parseModelIdentity(json: string, table: string): ModelIdentity {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new NotALanceE5TableError(table, `${META_MODEL} is not JSON`);
  }
  const v = value as Partial<ModelIdentity> | null;
  if (!v || typeof v.name !== "string" || typeof v.hash !== "string" || typeof v.dim !== "number") {
    throw new NotALanceE5TableError(table, `${META_MODEL} lacks name/hash/dim`);
  }
  return { name: v.name, hash: v.hash, dim: v.dim };
}

/** The model identity recorded in a schema's metadata, or null when the schema has none. */
export function modelIdentityOfSchema(schema: HasSchemaMetadata, table = "?"): ModelIdentity | null {
  const json = schema.metadata.get(META_MODEL);
  return json === undefined ? null : parseModelIdentity(json, table);
}

/** Reads the identity of the model that embedded a table; null for tables lance-e5 did not make. */
export async function readTableModelIdentity(table: {
  name: string;
  schema(): Promise<HasSchemaMetadata>;
}): Promise<ModelIdentity | null> {
  return modelIdentityOfSchema(await table.schema(), table.name);
}

/** The table's default query task (recorded at creation), or null. */
export async function readTableDefaultTask(table: { schema(): Promise<HasSchemaMetadata> }): Promise<string | null> {
  return (await table.schema()).metadata.get(META_DEFAULT_TASK) ?? null;
}

export function sameModel(a: ModelIdentity, b: ModelIdentity): boolean {
  return a.hash === b.hash && a.dim === b.dim;
}

/**
 * Throws ModelMismatchError (naming both identities) unless the table was embedded with `model`.
 * Identity is the content hash + dim; the name is informational (a renamed copy of a model is the same model).
 */
export function assertSameModel(tableName: string, tableModel: ModelIdentity | null, model: ModelIdentity): void {
  if (tableModel === null) throw new NotALanceE5TableError(tableName, `no ${META_MODEL} in its schema metadata`);
  if (!sameModel(tableModel, model)) throw new ModelMismatchError(tableName, tableModel, model);
}
