import { createRequire } from "node:module";
import type { ModelIdentity } from "../model/config.ts";
import { type ArrowDataType, type ArrowField, type ArrowSchema, arrow } from "./arrow.ts";
import {
  encodeModelIdentity,
  META_DEFAULT_TASK,
  META_FORMAT_VERSION,
  META_MODEL,
  TABLE_FORMAT_VERSION,
} from "./identity.ts";

/** The name the plugin registers in LanceDB's embedding registry (plugins/lancedb). */
export const EMBEDDING_FUNCTION_NAME = "lance-e5";

interface FieldSpec {
  name: string;
  type: string;
  nullable: boolean;
  list_size?: string;
  children?: FieldSpec[];
  description?: string;
}

/** schemas/table.schema.json: the source of truth for the table layout. */
export const TABLE_SCHEMA_SPEC: { format_version: number; fields: FieldSpec[] } = createRequire(import.meta.url)(
  "../../schemas/table.schema.json",
);

/** A typed child of the `metadata` struct beyond the fixed ones (`format`, `extra`). */
export interface MetadataFieldSpec {
  name: string;
  type: "utf8" | "float64" | "bool";
}

/** The fixed children of `metadata`, from the schema file. */
export const FIXED_METADATA_FIELDS: readonly string[] = (
  TABLE_SCHEMA_SPEC.fields.find((f) => f.name === "metadata")?.children ?? []
).map((c) => c.name);

function scalarType(type: string): ArrowDataType {
  switch (type) {
    case "utf8":
      return new arrow.Utf8();
    case "int32":
      return new arrow.Int32();
    case "float64":
      return new arrow.Float64();
    case "bool":
      return new arrow.Bool();
    default:
      throw new Error(`schemas/table.schema.json: unsupported type "${type}"`);
  }
}

/** Vector type exactly as LanceDB writes it: FixedSizeList<Float32>[dim] with nullable items. */
export function vectorType(dim: number): ArrowDataType {
  return new arrow.FixedSizeList(dim, new arrow.Field("item", new arrow.Float32(), true));
}

function metadataStructFields(extraFields: readonly MetadataFieldSpec[], fixed: FieldSpec[]): ArrowField[] {
  const fixedNames = new Set(fixed.map((c) => c.name));
  const extras = [...extraFields]
    .filter((f) => !fixedNames.has(f.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return [
    ...fixed.map((c) => new arrow.Field(c.name, scalarType(c.type), true)),
    ...extras.map((f) => new arrow.Field(f.name, scalarType(f.type), true)),
  ];
}

export interface TableSchemaOptions {
  identity: ModelIdentity;
  defaultTask: string;
  /** Typed metadata children besides `format`/`extra` (fixed at table creation). */
  metadataFields?: readonly MetadataFieldSpec[];
}

/** The LanceDB embedding-registry entry stored in the schema so plain LanceDB programs embed on add/search. */
export function embeddingFunctionsMetadata(identity: ModelIdentity, task: string): string {
  return JSON.stringify([
    {
      name: EMBEDDING_FUNCTION_NAME,
      sourceColumn: "text",
      vectorColumn: "vector",
      model: { model_name: identity.name, model_hash: identity.hash, dim: identity.dim, task },
    },
  ]);
}

/** Builds the Arrow schema of a lance-e5 table (schemas/table.schema.json) for one model. */
export function buildTableSchema(options: TableSchemaOptions): ArrowSchema {
  const fields = TABLE_SCHEMA_SPEC.fields.map((spec) => {
    if (spec.type === "struct") {
      const children = metadataStructFields(options.metadataFields ?? [], spec.children ?? []);
      return new arrow.Field(spec.name, new arrow.Struct(children), spec.nullable);
    }
    if (spec.type === "fixed_size_list<float32>") {
      return new arrow.Field(spec.name, vectorType(options.identity.dim), spec.nullable);
    }
    return new arrow.Field(spec.name, scalarType(spec.type), spec.nullable);
  });
  const metadata = new Map<string, string>([
    [META_FORMAT_VERSION, TABLE_FORMAT_VERSION],
    [META_MODEL, encodeModelIdentity(options.identity)],
    [META_DEFAULT_TASK, options.defaultTask],
    ["embedding_functions", embeddingFunctionsMetadata(options.identity, options.defaultTask)],
  ]);
  return new arrow.Schema(fields, metadata);
}

/** The typed children of a table's `metadata` struct (name → type), as stored. */
export function metadataFieldsOfSchema(schema: ArrowSchema): Map<string, MetadataFieldSpec["type"] | "other"> {
  const out = new Map<string, MetadataFieldSpec["type"] | "other">();
  const field = schema.fields.find((f) => f.name === "metadata");
  if (!field || !arrow.DataType.isStruct(field.type)) return out;
  for (const child of field.type.children) {
    const t = child.type;
    out.set(
      child.name,
      arrow.DataType.isUtf8(t)
        ? "utf8"
        : arrow.DataType.isFloat(t)
          ? "float64"
          : arrow.DataType.isBool(t)
            ? "bool"
            : "other",
    );
  }
  return out;
}

/** Infers typed metadata children from sample metadata objects (first type seen per key wins). */
export function inferMetadataFields(samples: Iterable<Record<string, unknown> | undefined>): MetadataFieldSpec[] {
  const seen = new Map<string, MetadataFieldSpec["type"]>();
  for (const sample of samples) {
    if (!sample) continue;
    for (const [key, value] of Object.entries(sample)) {
      if (seen.has(key) || FIXED_METADATA_FIELDS.includes(key) || !isPlainFieldName(key)) continue;
      if (typeof value === "string") seen.set(key, "utf8");
      else if (typeof value === "number" && Number.isFinite(value)) seen.set(key, "float64");
      else if (typeof value === "boolean") seen.set(key, "bool");
    }
  }
  return [...seen].map(([name, type]) => ({ name, type }));
}

/** Names usable as `metadata.<name>` in LanceDB SQL without quoting. */
export function isPlainFieldName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name);
}
