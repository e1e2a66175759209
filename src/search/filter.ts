import type { ArrowSchema } from "../lancedb/arrow.ts";
import { isPlainFieldName, metadataFieldsOfSchema } from "../lancedb/schema.ts";
import { FilterError } from "./errors.ts";

/**
 * The JSON filter language of `lance-e5 search --filter` and `POST /search`, compiled to a LanceDB (DataFusion)
 * SQL predicate. Users never write SQL: field names are checked against a whitelist taken from the table's schema
 * and emitted as backtick-quoted identifiers; values are type-checked against the field and emitted as literals
 * (strings single-quoted with `'` doubled — the only escape DataFusion's SQL string syntax has; backslashes are
 * literal there). So nothing in a value can end the literal, and nothing in a name can reach the SQL at all.
 *
 *   {"source": "a.md"}                         equality (null: IS NULL)
 *   {"metadata.lang": {"$in": ["en", "de"]}}   membership ($nin: not in)
 *   {"title": {"$prefix": "Intro"}}            string prefix (starts_with)
 *   {"metadata.year": {"$gte": 2000, "$lt": 2010}}   comparisons; several operators on one field are ANDed
 *   {"$and": [...]}, {"$or": [...]}, {"$not": {...}}; several keys in one object are ANDed
 *   {"doc_id": {"$ne": "x"}}                   inequality (SQL semantics: rows where the field is null never match)
 */

export type FilterFieldType = "string" | "number" | "boolean";
/** Filterable field name (as users write it: `source`, `metadata.lang`) → value type. */
export type FilterFields = ReadonlyMap<string, FilterFieldType>;

type Scalar = string | number | boolean;

const FIELD_OPERATORS = ["$eq", "$ne", "$in", "$nin", "$prefix", "$gt", "$gte", "$lt", "$lte"] as const;
const LOGICAL_OPERATORS = ["$and", "$or", "$not"] as const;
const COMPARISON_SQL: Record<string, string> = { $eq: "=", $ne: "<>", $gt: ">", $gte: ">=", $lt: "<", $lte: "<=" };

/** Nesting and size bounds: a filter is a small thing; these stop pathological inputs before LanceDB sees them. */
const MAX_DEPTH = 16;
const MAX_LIST = 1000;
const MAX_STRING = 4096;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The top-level columns every lance-e5 table has that filters may reach. */
const COLUMN_FIELDS: ReadonlyArray<[string, FilterFieldType]> = [
  ["source", "string"],
  ["doc_id", "string"],
  ["title", "string"],
  ["chunk_index", "number"],
];

/**
 * The filterable fields of a table: the fixed columns plus each scalar child of its `metadata` struct
 * (`metadata.<name>`). `metadata.extra` (a JSON string of keys that did not fit the struct) is left out:
 * equality on a JSON document is never what a user means.
 */
export function filterFieldsOfSchema(schema: ArrowSchema): FilterFields {
  const fields = new Map<string, FilterFieldType>(COLUMN_FIELDS);
  for (const [name, type] of metadataFieldsOfSchema(schema)) {
    if (name === "extra" || type === "other" || !isPlainFieldName(name)) continue;
    fields.set(`metadata.${name}`, type === "utf8" ? "string" : type === "float64" ? "number" : "boolean");
  }
  return fields;
}

/**
 * Compiles a JSON filter to a SQL predicate for `query().where()`; undefined for an absent or empty filter.
 * Throws FilterError naming the unknown field/operator or the bad value and where it is.
 */
export function compileFilter(filter: unknown, fields: FilterFields): string | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (!isPlainObject(filter)) throw new FilterError("invalid_filter", "", "a filter must be a JSON object");
  if (Object.keys(filter).length === 0) return undefined;
  return new FilterCompiler(fields).condition(filter, "", 0);
}

class FilterCompiler {
  constructor(private readonly fields: FilterFields) {}

  /** An object whose keys are fields or logical operators; several keys are ANDed. */
  condition(node: unknown, at: string, depth: number): string {
    if (depth > MAX_DEPTH) throw new FilterError("invalid_filter", at, `nested deeper than ${MAX_DEPTH} levels`);
    if (!isPlainObject(node)) throw new FilterError("invalid_filter", at, "expected a JSON object");
    const keys = Object.keys(node);
    if (keys.length === 0) throw new FilterError("invalid_filter", at, "empty condition {}");
    const parts = keys.map((key) => {
      const here = `${at}/${key}`;
      if (key.startsWith("$")) return this.logical(key, node[key], here, depth);
      return this.field(key, node[key], here);
    });
    return parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(" AND ");
  }

  private logical(operator: string, operand: unknown, at: string, depth: number): string {
    if (operator === "$not") return `NOT (${this.condition(operand, at, depth + 1)})`;
    if (operator !== "$and" && operator !== "$or") {
      throw new FilterError(
        "unknown_operator",
        at,
        `unknown operator "${operator}" here; a condition takes field names or ${LOGICAL_OPERATORS.join(", ")}`,
      );
    }
    if (!Array.isArray(operand) || operand.length === 0) {
      throw new FilterError("invalid_value", at, `${operator} takes a non-empty array of conditions`);
    }
    if (operand.length > MAX_LIST) throw new FilterError("invalid_value", at, `more than ${MAX_LIST} conditions`);
    const joiner = operator === "$and" ? " AND " : " OR ";
    return operand.map((child, i) => `(${this.condition(child, `${at}/${i}`, depth + 1)})`).join(joiner);
  }

  private field(name: string, spec: unknown, at: string): string {
    const type = this.fields.get(name);
    if (type === undefined) {
      throw new FilterError(
        "unknown_field",
        at,
        `unknown field "${name}"; filterable fields: ${[...this.fields.keys()].join(", ")}`,
      );
    }
    const column = quoteIdentifier(name);
    if (!isPlainObject(spec)) return this.compare(column, name, type, "$eq", spec, at);
    const operators = Object.keys(spec);
    if (operators.length === 0) throw new FilterError("invalid_filter", at, `no operator for field "${name}"`);
    const parts = operators.map((op) => this.operator(column, name, type, op, spec[op], `${at}/${op}`));
    return parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(" AND ");
  }

  private operator(column: string, name: string, type: FilterFieldType, op: string, value: unknown, at: string) {
    switch (op) {
      case "$in":
      case "$nin": {
        if (!Array.isArray(value) || value.length === 0) {
          throw new FilterError("invalid_value", at, `${op} takes a non-empty array of values`);
        }
        if (value.length > MAX_LIST) throw new FilterError("invalid_value", at, `more than ${MAX_LIST} values`);
        const list = value.map((v, i) => literal(name, type, v, `${at}/${i}`)).join(", ");
        return `${column} ${op === "$in" ? "IN" : "NOT IN"} (${list})`;
      }
      case "$prefix": {
        if (type !== "string")
          throw new FilterError("invalid_value", at, `$prefix needs a string field; "${name}" holds ${type}s`);
        return `starts_with(${column}, ${literal(name, type, value, at)})`;
      }
      default:
        if (op in COMPARISON_SQL) return this.compare(column, name, type, op, value, at);
        throw new FilterError(
          "unknown_operator",
          at,
          `unknown operator "${op}" on field "${name}"; field operators: ${FIELD_OPERATORS.join(", ")}`,
        );
    }
  }

  private compare(column: string, name: string, type: FilterFieldType, op: string, value: unknown, at: string) {
    if (value === null && (op === "$eq" || op === "$ne")) {
      return `${column} ${op === "$eq" ? "IS NULL" : "IS NOT NULL"}`;
    }
    if (Array.isArray(value)) {
      throw new FilterError("invalid_value", at, `an array cannot be compared with "${name}"; use {"$in": [...]}`);
    }
    if (type === "boolean" && op !== "$eq" && op !== "$ne") {
      throw new FilterError("invalid_value", at, `${op} needs a string or number field; "${name}" holds booleans`);
    }
    return `${column} ${COMPARISON_SQL[op]} ${literal(name, type, value, at)}`;
  }
}

/** `metadata.lang` → `metadata`.`lang`. Only whitelisted plain names reach here (no backticks possible). */
function quoteIdentifier(name: string): string {
  return name
    .split(".")
    .map((part) => `\`${part}\``)
    .join(".");
}

/** A value as a SQL literal of the field's type, or FilterError. */
function literal(name: string, type: FilterFieldType, value: unknown, at: string): string {
  const actual = typeOfScalar(value);
  if (actual !== type) {
    throw new FilterError(
      "invalid_value",
      at,
      `"${name}" holds ${type}s; got ${actual === undefined ? describe(value) : `a ${actual}`}`,
    );
  }
  const scalar = value as Scalar;
  if (typeof scalar === "boolean") return scalar ? "TRUE" : "FALSE";
  if (typeof scalar === "number") {
    if (!Number.isFinite(scalar)) throw new FilterError("invalid_value", at, "numbers must be finite");
    // Plain decimal notation for everyday numbers; exponent form ("1e+21") for the rest, which DataFusion parses.
    return Math.abs(scalar) < 1e15 ? String(scalar) : scalar.toExponential();
  }
  if (scalar.length > MAX_STRING) throw new FilterError("invalid_value", at, `string longer than ${MAX_STRING}`);
  if (LONE_SURROGATE.test(scalar)) throw new FilterError("invalid_value", at, "string contains a lone surrogate");
  if (scalar.includes("\0")) throw new FilterError("invalid_value", at, "string contains a NUL character");
  return `'${scalar.replaceAll("'", "''")}'`;
}

function typeOfScalar(value: unknown): FilterFieldType | undefined {
  if (typeof value === "string") return "string";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return "null (only allowed for equality and $ne)";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
