import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { BeirDocument, BeirQuery } from "../beir.ts";
import { QRELS_HEADER } from "../beir.ts";

/** A benchmark in memory, about to be written in the BEIR layout `lance-e5 eval` reads. */
export interface BeirBenchmark {
  corpus: BeirDocument[];
  queries: BeirQuery[];
  /** [query id, document id, grade]. */
  qrels: Array<[string, string, number]>;
}

export async function writeBeirBenchmark(dir: string, benchmark: BeirBenchmark): Promise<void> {
  await mkdir(path.join(dir, "qrels"), { recursive: true });
  const lines = (records: readonly object[]) => records.map((record) => `${JSON.stringify(record)}\n`).join("");
  await writeFile(
    path.join(dir, "corpus.jsonl"),
    lines(benchmark.corpus.map((doc) => ({ _id: doc.id, title: doc.title, text: doc.text }))),
  );
  await writeFile(path.join(dir, "queries.jsonl"), lines(benchmark.queries.map((q) => ({ _id: q.id, text: q.text }))));
  const qrels = benchmark.qrels.map(([query, doc, grade]) => `${query}\t${doc}\t${grade}\n`).join("");
  await writeFile(path.join(dir, "qrels", "test.tsv"), `${QRELS_HEADER.join("\t")}\n${qrels}`);
}

export async function writePairs(file: string, pairs: readonly object[]): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, pairs.map((pair) => `${JSON.stringify(pair)}\n`).join(""));
}
