import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../helpers/cli.ts";

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(prefix = "lance-e5-eval-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface BeirFiles {
  corpus?: string;
  queries?: string;
  qrels?: string;
}

export const jsonl = (records: readonly object[]) => `${records.map((record) => JSON.stringify(record)).join("\n")}\n`;

/** Writes a BEIR directory; a file given as undefined is left out (to test missing files). */
export async function writeBeirDir(dir: string, files: BeirFiles): Promise<string> {
  await mkdir(path.join(dir, "qrels"), { recursive: true });
  if (files.corpus !== undefined) await writeFile(path.join(dir, "corpus.jsonl"), files.corpus);
  if (files.queries !== undefined) await writeFile(path.join(dir, "queries.jsonl"), files.queries);
  if (files.qrels !== undefined) await writeFile(path.join(dir, "qrels", "test.tsv"), files.qrels);
  return dir;
}

export const FIXTURE_MODELS = path.join(REPO_ROOT, "test/fixtures/models");

export { type CliRun, REPO_ROOT, runCli } from "../helpers/cli.ts";
