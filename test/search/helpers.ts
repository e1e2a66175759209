import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ingestDocuments } from "../../src/ingest/index.ts";
import type { IngestDocument } from "../../src/ingest/types.ts";
import type { Embedder } from "../../src/model/embedder.ts";
import { REPO_ROOT } from "../helpers/cli.ts";

export const TINY_MISTRAL = path.join(REPO_ROOT, "test/fixtures/models/tiny-mistral");
export const TINY_QWEN2 = path.join(REPO_ROOT, "test/fixtures/models/tiny-qwen2");
export const TINY_QWEN3 = path.join(REPO_ROOT, "test/fixtures/models/tiny-qwen3");

export async function tempDir(prefix = "lance-e5-search-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A small corpus of real public-domain sentences (US founding documents, Lincoln, KJV Genesis) with metadata
 * to filter on. Each has at least one word no other has, so full-text search can single it out.
 */
export const CORPUS: IngestDocument[] = [
  [
    "gettysburg",
    "Four score and seven years ago our fathers brought forth on this continent, a new nation.",
    "en",
    1863,
  ],
  ["declaration", "We hold these truths to be self-evident, that all men are created equal.", "en", 1776],
  [
    "constitution",
    "We the People of the United States, in Order to form a more perfect Union, establish Justice.",
    "en",
    1787,
  ],
  ["genesis", "In the beginning God created the heaven and the earth.", "en", 1611],
  ["genesis-light", "And God said, Let there be light: and there was light.", "en", 1611],
  ["faust", "Habe nun, ach! Philosophie, Juristerei und Medizin durchaus studiert, mit heißem Bemühn.", "de", 1808],
  ["marseillaise", "Allons enfants de la Patrie, le jour de gloire est arrivé.", "fr", 1792],
  ["quijote", "En un lugar de la Mancha, de cuyo nombre no quiero acordarme, vivía un hidalgo.", "es", 1605],
  [
    "emancipation",
    "All persons held as slaves within any State shall be then, thenceforward, and forever free.",
    "en",
    1863,
  ],
  ["o'brien", "It's a test of quoting: O'Brien said \"--\" and `ticks`; nothing here is SQL.", "en", 2024],
].map(([id, text, lang, year]) => ({
  id: id as string,
  title: (id as string).toUpperCase(),
  text: text as string,
  source: `corpus/${id}.txt`,
  metadata: { lang, year },
}));

/** Ingests documents into `dir` as table `name` with the real pipeline (chunks, FTS index, model identity). */
export async function buildTable(
  dir: string,
  embedder: Embedder,
  documents: IngestDocument[] = CORPUS,
  name = "docs",
): Promise<void> {
  await ingestDocuments({ db: dir, table: name, embedder, documents });
}

export { type CliRun, REPO_ROOT, runCli } from "../helpers/cli.ts";

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}
