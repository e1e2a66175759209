import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Parity fixtures built by scripts/build-fixtures.sh (test/fixtures/README.md documents reference.json). */
export const FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/models");
export const FAMILY_FIXTURES = ["tiny-mistral", "tiny-qwen2", "tiny-qwen3"] as const;

export interface ReferenceCase {
  id: string;
  kind?: "query" | "document";
  task?: string;
  query?: string;
  text: string;
  max_length: number;
  truncated?: boolean;
  ids: number[];
  embedding: number[];
}

export interface Reference {
  model: string;
  hidden_size: number;
  eos_id: number;
  pad_id: number;
  cases: ReferenceCase[];
  batches: Array<{
    padding_side: "left" | "right";
    case_ids: string[];
    input_ids: number[][];
    attention_mask: number[][];
    embeddings: number[][];
  }>;
  rope_override: { base: number; native_base: number; cases: ReferenceCase[] };
  tokenizer_parity: {
    source: string;
    lines: Array<{ text: string; ids_with_special: number[]; ids_without_special: number[] }>;
  };
}

/** The repo root and the shipped default model. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DEFAULT_MODEL = path.join(ROOT, "models/default");

/** Texts of mixed kinds for comparing two ways of running a graph: one word, a query, a long text, CJK and emoji. */
export const MIXED_TEXTS = [
  "short",
  "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: how do I compress a file",
  "bzip2 compresses files using the Burrows-Wheeler block sorting text compression algorithm. ".repeat(12),
  "数据库 向量 检索 😀 — naïve café",
];

export function fixtureDir(name: string): string {
  return path.join(FIXTURES_DIR, name);
}

export function readReference(name: string): Reference {
  return JSON.parse(readFileSync(path.join(fixtureDir(name), "reference.json"), "utf8")) as Reference;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}
