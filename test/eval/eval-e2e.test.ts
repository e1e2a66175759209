import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { FIXTURE_MODELS, jsonl, runCli, tempDir, writeBeirDir } from "./helpers.ts";

// End to end through the product's path: BEIR dir → ingest (chunking, embedding, LanceDB, FTS index) → search →
// chunk hits aggregated to documents (MaxP) → metrics. The fixture model has random weights, so exact
// expectations use full-text mode (BM25 on rare words) or queries identical to documents embedded raw.

const MODEL = path.join(FIXTURE_MODELS, "tiny-mistral");
const JSON_KEYS = ["ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "queries", "seconds"];

/** A long document that the chunker must split: every sentence mentions the river, only the last a quokka. */
const LONG_TEXT = [
  "The river bends slowly past the old stone mill.",
  "Fishermen wait by the river every single morning.",
  "In spring the river floods the low meadows nearby.",
  "Children skip flat stones across the quiet river.",
  "A wooden bridge crosses the river near the church.",
  "The river freezes solid during the coldest winters.",
  "Boats carry grain down the river to the harbour town.",
  "Once a quokka was seen drinking from the muddy river.",
].join(" ");

let root: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir: root, cleanup } = await tempDir()));
after(() => cleanup());

async function riverBeir(): Promise<string> {
  return writeBeirDir(path.join(root, "river"), {
    corpus: jsonl([
      { _id: "d1", title: "Savanna", text: "A zebra grazes on the open plain at dawn." },
      { _id: "d2", title: "", text: "Mountains rise above the clouds in the far north." },
      { _id: "d3", title: "Delta", text: "Where the river meets the sea, birds gather in thousands." },
      { _id: "dlong", title: "", text: LONG_TEXT },
      { _id: "d5", title: "", text: "The bakery opens at six and sells warm bread." },
    ]),
    queries: jsonl([
      { _id: "q1", text: "zebra" },
      { _id: "q2", text: "quokka" },
      { _id: "q3", text: "river" },
      { _id: "q4", text: "bread" },
      { _id: "q5", text: "mountains" },
    ]),
    // q1 graded 2; q3 has two relevant documents; q4 has no judgments and q5 only a grade-0 one: both skipped.
    qrels: "query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\tdlong\t1\nq3\td3\t1\nq3\tdlong\t1\nq5\td2\t0\n",
  });
}

describe("lance-e5 eval end to end", () => {
  it("full-text (BM25): exact metrics, chunk hits aggregated to one entry per document", async () => {
    const dir = await riverBeir();
    const db = path.join(root, "db-fulltext");
    const run = await runCli([
      "eval",
      dir,
      "--model",
      MODEL,
      "--mode",
      "fulltext",
      "--chunk-tokens",
      "24",
      "--db",
      db,
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.deepEqual(Object.keys(result), JSON_KEYS);
    // q1, q2: the only document with the word, at rank 1. q3: dlong's many "river" chunks collapse into one
    // entry, so both relevant documents fill ranks 1-2 (recall@1 = 1/2). Without MaxP deduplication dlong's
    // chunks would push d3 down and nDCG/MRR of q3 below 1.
    assert.equal(result["ndcg@10"], 1);
    assert.equal(result["mrr@10"], 1);
    assert.ok(Math.abs(result["recall@1"] - (1 + 1 + 0.5) / 3) < 1e-12);
    assert.equal(result["recall@10"], 1);
    assert.equal(result["recall@100"], 1);
    assert.equal(result.queries, 3);
    assert.ok(result.seconds > 0);
    assert.match(run.stderr, /skipped 2 queries without relevance judgments/);

    // The long document really was chunked (several rows for one doc_id), through the ingest pipeline.
    const table = await (await lancedb.connect(db)).openTable("beir");
    assert.ok((await table.countRows("doc_id = 'dlong'")) >= 3);
    assert.equal(await table.countRows("doc_id = 'd1'"), 1);
    const [d1] = await table.query().where("doc_id = 'd1'").select(["text", "title"]).toArray();
    assert.equal(d1.text, "Savanna\nA zebra grazes on the open plain at dawn.");
  });

  it("a reused --db re-embeds nothing and gives the same numbers", async () => {
    const dir = await riverBeir();
    const db = path.join(root, "db-reuse");
    const args = ["eval", dir, "--model", MODEL, "--mode", "fulltext", "--chunk-tokens", "24", "--db", db];
    const first = await runCli(args);
    const second = await runCli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /\(0 chunks added, \d+ unchanged\)/);
    const metricsLine = (out: string) => out.split("\n").find((line) => line.includes("nDCG@10"));
    assert.equal(metricsLine(second.stdout), metricsLine(first.stdout));
  });

  it("vector mode without instruction: a query identical to a document finds it first", async () => {
    // Documents are embedded without instruction; --no-instruction embeds the query as is, so a query equal to
    // a one-chunk document gets the very same vector (cosine 1), whatever the weights.
    const texts = [
      "Sourdough needs a starter fed with flour and water.",
      "The committee postponed its vote until next Tuesday.",
      "Copper conducts electricity better than iron does.",
      "Lighthouses guided ships along the rocky coast.",
      "Переведите этот текст на английский язык.",
      "東京は日本の首都です。",
    ];
    const dir = await writeBeirDir(path.join(root, "self"), {
      corpus: jsonl(texts.map((text, i) => ({ _id: `d${i}`, title: "", text }))),
      queries: jsonl(texts.map((text, i) => ({ _id: `q${i}`, text }))),
      qrels: `query-id\tcorpus-id\tscore\n${texts.map((_, i) => `q${i}\td${i}\t1\n`).join("")}`,
    });
    const run = await runCli(["eval", dir, "--model", MODEL, "--mode", "vector", "--no-instruction", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.deepEqual(result, { ...result, "ndcg@10": 1, "mrr@10": 1, "recall@1": 1, queries: texts.length });
  });

  for (const mode of ["vector", "hybrid"]) {
    it(`${mode} mode with a task runs and returns well-formed, bounded metrics`, async () => {
      const dir = await riverBeir();
      const run = await runCli(["eval", dir, "--model", MODEL, "--mode", mode, "--task", "web_search", "--json"]);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout);
      assert.deepEqual(Object.keys(result), JSON_KEYS);
      for (const key of JSON_KEYS.slice(0, 5)) assert.ok(result[key] >= 0 && result[key] <= 1, `${key}=${result[key]}`);
      // Every judged document is in a 5-document corpus, so with k = 100 everything relevant is retrieved.
      assert.equal(result["recall@100"], 1);
      assert.ok(result["recall@1"] <= result["recall@10"]);
      assert.equal(result.queries, 3);
    });
  }
});
