import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { ValidateFunction } from "ajv";
import type { LlmFamily } from "./placeholders.ts";

/** One line of `lance-e5 synth` output (schemas/synth-example.schema.json). */
export interface SynthExample {
  task_family: LlmFamily | "long-context";
  instruction: string;
  query: string;
  positive: string;
  negative?: string;
  language: string;
  source: string;
  meta?: Record<string, unknown>;
}

/** The JSON keys each family's example prompt asks for, mapped to the training triple (REFERENCE.md §3). */
export const FAMILY_KEYS: Record<LlmFamily, { query: string; positive: string; negative?: string }> = {
  "short-long": { query: "user_query", positive: "positive_document", negative: "hard_negative_document" },
  "long-short": { query: "input_text", positive: "label", negative: "misleading_label" },
  "short-short": { query: "input", positive: "positive_document" },
  "long-long": { query: "input", positive: "positive_document" },
  sts: { query: "S1", positive: "S2", negative: "S3" },
  bitext: { query: "S1", positive: "S2", negative: "S3" },
};

/** Why an LLM answer was not kept; the run summary counts each. */
export type DropReason =
  | "invalid-json"
  | "not-an-object"
  | "missing-keys"
  | "extra-keys"
  | "not-a-string"
  | "empty-field"
  | "query-in-positive"
  | "query-in-negative"
  | "schema-invalid"
  | "duplicate-exact"
  | "duplicate-normalised";

export type ParseResult =
  | { ok: true; triple: { query: string; positive: string; negative?: string } }
  | { ok: false; reason: DropReason; detail: string };

/**
 * Models often wrap JSON in a Markdown fence (```json … ```) despite being asked not to; the paper drops
 * invalid JSON, but a fence around valid JSON is a formatting habit, not a bad example, so it is tolerated.
 */
export function stripJsonFence(text: string): string {
  const trimmed = text.trim();
  const fenced = /^```[A-Za-z]*[ \t]*\r?\n([\s\S]*?)\r?\n?```$/.exec(trimmed);
  return fenced ? (fenced[1] as string).trim() : trimmed;
}

/** Parses a model's answer as JSON after removing a fence; undefined when it is not JSON. */
export function parseJsonAnswer(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(stripJsonFence(text)) };
  } catch {
    return { ok: false };
  }
}

/**
 * Checks that an answer is a JSON object with exactly `keys`, each a non-empty string; returns the trimmed
 * strings or the drop reason.
 */
export function parseKeyedAnswer(
  content: string,
  keys: readonly string[],
): { ok: true; fields: Record<string, string> } | { ok: false; reason: DropReason; detail: string } {
  const parsed = parseJsonAnswer(content);
  if (!parsed.ok) return { ok: false, reason: "invalid-json", detail: "answer is not valid JSON" };
  const value = parsed.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "not-an-object", detail: "answer is JSON but not an object" };
  }
  const record = value as Record<string, unknown>;
  const missing = keys.filter((key) => !Object.hasOwn(record, key));
  if (missing.length > 0) return { ok: false, reason: "missing-keys", detail: `missing ${missing.join(", ")}` };
  const extra = Object.keys(record).filter((key) => !keys.includes(key));
  if (extra.length > 0) return { ok: false, reason: "extra-keys", detail: `unexpected ${extra.join(", ")}` };
  const fields: Record<string, string> = {};
  for (const key of keys) {
    const field = record[key];
    if (typeof field !== "string") return { ok: false, reason: "not-a-string", detail: `${key} is not a string` };
    if (field.trim() === "") return { ok: false, reason: "empty-field", detail: `${key} is empty` };
    fields[key] = field.trim();
  }
  return { ok: true, fields };
}

/** Applies the paper's drop rules to one example answer (dedup is separate: see DedupIndex). */
export function parseExampleAnswer(family: LlmFamily, content: string): ParseResult {
  const keys = FAMILY_KEYS[family];
  const required = [keys.query, keys.positive, ...(keys.negative ? [keys.negative] : [])];
  const parsed = parseKeyedAnswer(content, required);
  if (!parsed.ok) return parsed;
  const query = parsed.fields[keys.query] as string;
  const positive = parsed.fields[keys.positive] as string;
  const negative = keys.negative ? parsed.fields[keys.negative] : undefined;
  // A document quoting the query verbatim teaches lexical copying, not retrieval (paper's filter).
  if (positive.includes(query))
    return { ok: false, reason: "query-in-positive", detail: "positive contains the query" };
  if (negative?.includes(query))
    return { ok: false, reason: "query-in-negative", detail: "negative contains the query" };
  return { ok: true, triple: negative === undefined ? { query, positive } : { query, positive, negative } };
}

/** Parses a brainstorm answer: a JSON array of non-empty strings (blank and repeated entries removed). */
export function parseTaskList(content: string): string[] | undefined {
  const parsed = parseJsonAnswer(content);
  if (!parsed.ok || !Array.isArray(parsed.value)) return undefined;
  const tasks = parsed.value.filter((item): item is string => typeof item === "string").map((item) => item.trim());
  const distinct = [...new Set(tasks.filter((task) => task !== ""))];
  return distinct.length > 0 ? distinct : undefined;
}

// ajv's 2020-12 build is CommonJS; createRequire sidesteps its default-export interop under NodeNext.
const require = createRequire(import.meta.url);
let schemaValidator: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (!schemaValidator) {
    const Ajv2020 = require("ajv/dist/2020.js") as typeof import("ajv/dist/2020.js").default;
    const schema = require("../../schemas/synth-example.schema.json");
    schemaValidator = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
  }
  return schemaValidator;
}

/** Checks a line against schemas/synth-example.schema.json; returns the errors as text, or undefined when valid. */
export function schemaErrors(example: unknown): string | undefined {
  const validate = validator();
  if (validate(example)) return undefined;
  return (validate.errors ?? [])
    .map((error) => `${error.instancePath || "/"} ${error.message ?? "invalid"}`)
    .join("; ");
}

/** Case, Unicode form, punctuation/symbols and whitespace folded, for near-duplicate detection. */
export function normaliseForDedup(text: string): string {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, " ")
    .replace(/\s+/gu, " ")
    .trim();
}

const digest = (parts: readonly string[]) =>
  createHash("sha256").update(JSON.stringify(parts), "utf8").digest("base64");

/**
 * Exact and normalised duplicate detection over (query, positive, negative). The same triple under another
 * instruction or family is still a duplicate: it would give the model the same pair twice. Keys are SHA-256
 * digests, so half a million multi-kilobyte examples cost ~100 bytes each, not their text.
 */
export class DedupIndex {
  private readonly exact = new Set<string>();
  private readonly normalised = new Set<string>();

  /** Returns the drop reason if the triple was seen, else records it and returns undefined. */
  check(example: Pick<SynthExample, "query" | "positive" | "negative">): DropReason | undefined {
    const parts = [example.query, example.positive, example.negative ?? ""];
    const exactKey = digest(parts);
    if (this.exact.has(exactKey)) return "duplicate-exact";
    const normalisedKey = digest(parts.map(normaliseForDedup));
    if (this.normalised.has(normalisedKey)) return "duplicate-normalised";
    this.exact.add(exactKey);
    this.normalised.add(normalisedKey);
    return undefined;
  }

  get size(): number {
    return this.exact.size;
  }
}
