import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import type { BeirDataset } from "../../src/eval/beir.ts";
import { meanRetrievalMetrics, rankDocuments } from "../../src/eval/metrics.ts";
import { evaluateRetrieval } from "../../src/eval/retrieval.ts";
import { TASK_INSTRUCTIONS } from "../../src/instructions/index.ts";
import type { Embedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/index.ts";
import { FIXTURE_MODELS, tempDir } from "./helpers.ts";

/**
 * Regression guard for the diagnosis of the default model's near-random man-benchmark score: `lance-e5 eval`'s
 * vector mode must equal an independent brute-force scorer — every stored chunk vector against the query
 * embedded with the same instruction, MaxP per document — over the whole corpus. That rules out the eval-path
 * failure modes checked then: document-id mapping, chunks of one document counted apart, score sign, an
 * approximate vector index dropping candidates, the wrong instruction. Random weights: no relevance is assumed.
 */
const MODEL = path.join(FIXTURE_MODELS, "tiny-mistral");
const sentence = (i: number) => `Sentence ${i} talks about topic ${i % 7} and the number ${i * 13}.`;

let embedder: Embedder;
let root: string;
let cleanup: () => Promise<void>;
before(async () => {
  embedder = await loadEmbedder(MODEL, { threads: 1 });
  ({ dir: root, cleanup } = await tempDir());
});
after(async () => {
  await embedder.dispose();
  await cleanup();
});

describe("eval vector mode equals brute force over every stored chunk", () => {
  it("same rankings' metrics, with multi-chunk documents and an instruction", async () => {
    // 40 documents, some long enough to be cut into several 24-token chunks.
    const corpus = Array.from({ length: 40 }, (_, d) => ({
      id: `doc-${d}`,
      title: "",
      text: Array.from({ length: 1 + (d % 4) * 3 }, (_, s) => sentence(d * 10 + s)).join(" "),
    }));
    const queries = Array.from({ length: 25 }, (_, q) => ({ id: `q${q}`, text: `topic ${q % 7} number ${q * 130}` }));
    const qrels = new Map(queries.map((q, i) => [q.id, new Map([[corpus[(i * 3) % 40]!.id, 1]])]));
    const dataset: BeirDataset = { dir: root, corpus, queries, qrels };
    const db = path.join(root, "db");
    const instruction = TASK_INSTRUCTIONS.web_search;
    const run = await evaluateRetrieval({
      dataset,
      embedder,
      mode: "vector",
      instruction: { instruction },
      k: 100,
      db,
      chunkTokens: 24,
    });

    const table = await (await lancedb.connect(db)).openTable("beir");
    const chunks = (await table.query().select(["doc_id", "vector"]).toArray()).map((row) => ({
      doc_id: row.doc_id as string,
      vector: Float32Array.from(row.vector.toArray() as ArrayLike<number>),
    }));
    assert.ok(chunks.length > corpus.length, `some documents were chunked (${chunks.length} chunks)`);
    const queryVectors = await embedder.embedQueries(
      queries.map((q) => q.text),
      { instruction },
    );
    const rankings = new Map(
      queries.map((q, i) => [
        q.id,
        rankDocuments(chunks.map((c) => ({ doc_id: c.doc_id, score: dot(queryVectors[i]!, c.vector) }))),
      ]),
    );
    const expected = meanRetrievalMetrics(rankings, qrels);
    for (const key of ["ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100"] as const) {
      assert.ok(Math.abs(run.report[key] - expected[key]) < 1e-9, `${key}: ${run.report[key]} vs ${expected[key]}`);
    }
    assert.equal(run.report.queries, queries.length);
  });
});

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}
