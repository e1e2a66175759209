import type { ArrowSchema } from "../lancedb/arrow.ts";
import type { Connection, Table } from "../lancedb/connection.ts";
import { META_DEFAULT_TASK } from "../lancedb/identity.ts";
import { withCommitRetries } from "../lancedb/retry.ts";
import {
  buildTableSchema,
  FIXED_METADATA_FIELDS,
  type MetadataFieldSpec,
  metadataFieldsOfSchema,
} from "../lancedb/schema.ts";
import type { Embedder } from "../model/embedder.ts";
import { rowsToArrow, type StoredRow } from "./rows.ts";

/**
 * --reembed: every stored row is embedded again with `embedder` and the table is rewritten as a new version
 * with the new model's identity (and dimension) in one commit, so readers see either the old or the new table,
 * never a mix. Older versions stay reachable through LanceDB's versioning until cleaned up.
 * Holds the table's rows (without vectors) in memory; fine for the corpora this targets.
 */
export async function reembedTable(
  connection: Connection,
  table: Table,
  schema: ArrowSchema,
  embedder: Embedder,
  options: { dryRun: boolean; embedBatchChunks: number },
): Promise<{ rows: number; table: Table; schema: ArrowSchema }> {
  const columns = schema.fields.map((f) => f.name).filter((name) => name !== "vector");
  const stored = (await table.query().select(columns).toArray()).map((r) => {
    const row: Record<string, unknown> = {};
    for (const name of columns) {
      const value = r[name];
      row[name] =
        value && typeof value === "object" && "toJSON" in value
          ? { ...(value as { toJSON(): object }).toJSON() }
          : value;
    }
    return row as unknown as Omit<StoredRow, "vector">;
  });
  if (options.dryRun) return { rows: stored.length, table, schema };

  const metadataFields: MetadataFieldSpec[] = [];
  for (const [name, type] of metadataFieldsOfSchema(schema)) {
    if (!FIXED_METADATA_FIELDS.includes(name) && type !== "other") metadataFields.push({ name, type });
  }
  const newSchema = buildTableSchema({
    identity: embedder.identity,
    defaultTask: schema.metadata.get(META_DEFAULT_TASK) ?? embedder.config.default_task,
    metadataFields,
  });
  const rows: StoredRow[] = [];
  for (let i = 0; i < stored.length; i += options.embedBatchChunks) {
    const batch = stored.slice(i, i + options.embedBatchChunks);
    const vectors = await embedder.embedDocuments(batch.map((r) => r.text));
    batch.forEach((r, j) => {
      rows.push({ ...r, vector: vectors[j]! });
    });
  }
  const name = table.name;
  const rewritten = await withCommitRetries(() =>
    rows.length > 0
      ? connection.createTable(name, rowsToArrow(rows, newSchema), { mode: "overwrite" })
      : connection.createEmptyTable(name, newSchema, { mode: "overwrite" }),
  );
  return { rows: stored.length, table: rewritten, schema: (await rewritten.schema()) as unknown as ArrowSchema };
}
