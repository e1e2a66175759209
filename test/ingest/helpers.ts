import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as lancedb from "@lancedb/lancedb";
import type { Embedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/index.ts";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURE_MODELS = path.join(REPO, "test/fixtures/models");
export const CORPUS = path.join(REPO, "examples/corpus/sotu");

/** A fresh temporary directory, removed when the process exits. */
export function tempDir(prefix = "lance-e5-ingest-"): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Copies the first `n` files of the bundled corpus (real public-domain text) into a new folder. */
export function corpusCopy(n: number, into = tempDir()): string {
  const dir = path.join(into, "corpus");
  for (const name of readdirSync(CORPUS).sort().slice(0, n)) cpSync(path.join(CORPUS, name), path.join(dir, name));
  return dir;
}

const loaded = new Map<string, Promise<Embedder>>();
/** Fixture models (random weights, real tokenizers): load once per test process. */
export function fixtureEmbedder(
  name: "tiny-mistral" | "tiny-qwen2" | "tiny-qwen3" | "bench-mistral",
): Promise<Embedder> {
  let load = loaded.get(name);
  if (!load) {
    load = loadEmbedder(path.join(FIXTURE_MODELS, name), { threads: 1 });
    loaded.set(name, load);
  }
  return load;
}

export interface TableRow {
  id: string;
  doc_id: string;
  source: string | null;
  text: string;
  chunk_index: number;
  vector: Float32Array;
}

/** Every row of a table, sorted by id, vectors as Float32Array. */
export async function readRows(db: string, table = "docs"): Promise<TableRow[]> {
  const t = await (await lancedb.connect(db)).openTable(table);
  const rows = await t.query().select(["id", "doc_id", "source", "text", "chunk_index", "vector"]).toArray();
  return rows
    .map((r) => ({
      id: String(r.id),
      doc_id: String(r.doc_id),
      source: r.source ?? null,
      text: String(r.text),
      chunk_index: Number(r.chunk_index),
      vector: Float32Array.from(r.vector.toArray() as Float32Array),
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = a.length === b.length ? 0 : Number.POSITIVE_INFINITY;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
