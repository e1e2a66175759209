import assert from "node:assert/strict";
import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadEmbedder } from "../../src/model/index.ts";
import { search } from "../../src/search/index.ts";
import { buildTable, runCli, TINY_MISTRAL, tempDir } from "./helpers.ts";

/** `--vector-weight` on search and eval, and `lance-e5 tune-fusion`, through the real CLI. */
let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir("lance-e5-fusion-cli-"));
  const embedder = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
  try {
    await buildTable(dir, embedder);
  } finally {
    await embedder.dispose();
  }
});
after(() => cleanup());

const searchArgs = ["--db", "", "--table", "docs", "--model", TINY_MISTRAL, "--k", "5", "--json"];
const withDb = () => searchArgs.map((a, i) => (i === 1 ? dir : a));

describe("search --vector-weight", () => {
  test("hybrid with a weight prints what the library returns for it", async () => {
    const run = await runCli([
      "search",
      "God created the light",
      ...withDb(),
      "--mode",
      "hybrid",
      "--vector-weight",
      "0",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const printed = JSON.parse(run.stdout) as { results: Array<{ id: string; score: number }> };
    const embedder = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
    try {
      const direct = await search({
        db: dir,
        tableName: "docs",
        embedder,
        query: "God created the light",
        mode: "hybrid",
        k: 5,
        vector_weight: 0,
      });
      assert.deepEqual(
        printed.results.map((r) => r.id),
        direct.results.map((r) => r.id),
      );
    } finally {
      await embedder.dispose();
    }
  });

  test("a weight outside [0, 1] or outside hybrid mode is a usage error", async () => {
    const outside = await runCli(["search", "x", ...withDb(), "--mode", "hybrid", "--vector-weight", "1.5"]);
    assert.equal(outside.code, 2);
    assert.match(outside.stderr, /--vector-weight.*from 0 to 1/);
    const vectorMode = await runCli(["search", "x", ...withDb(), "--vector-weight", "0.5"]);
    assert.equal(vectorMode.code, 2);
    assert.match(vectorMode.stderr, /vector_weight.*hybrid only/);
    const evalVector = await runCli(["eval", dir, "--mode", "vector", "--no-instruction", "--vector-weight", "0.2"]);
    assert.equal(evalVector.code, 2);
    assert.match(evalVector.stderr, /--vector-weight applies to --mode hybrid only/);
    const evalBad = await runCli(["eval", dir, "--mode", "hybrid", "--no-instruction", "--vector-weight", "x"]);
    assert.equal(evalBad.code, 2);
    assert.match(evalBad.stderr, /--vector-weight must be a number from 0 to 1/);
  });
});

describe("tune-fusion", () => {
  test("scores the grid on held-out examples and --write records the weight in a loadable lance-e5.json", async () => {
    const { dir: work, cleanup: cleanWork } = await tempDir("lance-e5-tune-");
    try {
      const modelDir = path.join(work, "model");
      await cp(TINY_MISTRAL, modelDir, { recursive: true });
      // Queries made of words only their positive has: BM25 ranks every positive first (nDCG@10 = 1 at w = 0).
      const docs = [
        "The lighthouse keeper logs every ship that passes the northern cape at night.",
        "Bakers knead sourdough before dawn and sell warm loaves at the harbour market.",
        "Glaciers carve deep valleys as they creep downhill over thousands of winters.",
        "The orchestra tuned violins while the conductor studied an unfamiliar score.",
      ];
      const queries = ["lighthouse keeper ship", "sourdough loaves", "glaciers valleys", "violins conductor"];
      const examples = docs.map((positive, i) => ({
        task_family: "short-long",
        instruction: "Given a phrase, retrieve the sentence that contains it",
        query: queries[i],
        positive,
        negative: docs[(i + 1) % docs.length],
        language: "en",
        source: "test",
      }));
      examples.push({ ...examples[0]!, task_family: "bitext", query: "phare" }); // not a retrieval family: unscored
      const held = path.join(work, "held.jsonl");
      await writeFile(held, `${examples.map((e) => JSON.stringify(e)).join("\n")}\n`);

      const run = await runCli(["tune-fusion", held, "--model", modelDir, "--write", "--json"]);
      assert.equal(run.code, 0, run.stderr);
      const tuning = JSON.parse(run.stdout) as {
        queries: number;
        documents: number;
        grid: Array<{ method: string; vector_weight: number; "ndcg@10": number }>;
        best: { method: string; vector_weight: number; "ndcg@10": number };
        bm25: { "ndcg@10": number };
      };
      assert.equal(tuning.queries, 4);
      assert.equal(tuning.documents, 4);
      assert.equal(tuning.grid.length, 42); // 21 weights × 2 methods
      assert.equal(tuning.bm25["ndcg@10"], 1);
      assert.equal(tuning.best["ndcg@10"], Math.max(...tuning.grid.map((p) => p["ndcg@10"])));

      const descriptor = JSON.parse(await readFile(path.join(modelDir, "lance-e5.json"), "utf8"));
      assert.deepEqual(descriptor.hybrid, { fusion: tuning.best.method, vector_weight: tuning.best.vector_weight });
      assert.equal(descriptor.card.hybrid_tuning.queries, 4);
      const reloaded = await loadEmbedder(modelDir, { threads: 1 });
      try {
        assert.equal(reloaded.config.hybrid?.vector_weight, tuning.best.vector_weight);
        assert.equal(reloaded.config.hybrid?.fusion, tuning.best.method);
      } finally {
        await reloaded.dispose();
      }
    } finally {
      await cleanWork();
    }
  });

  test("a held-out file that is not JSONL fails naming the line", async () => {
    const { dir: work, cleanup: cleanWork } = await tempDir("lance-e5-tune-");
    try {
      const held = path.join(work, "held.jsonl");
      await writeFile(
        held,
        '{"task_family": "short-long", "instruction": "i", "query": "q", "positive": "p"}\nnot json\n',
      );
      const run = await runCli(["tune-fusion", held, "--model", TINY_MISTRAL]);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /held\.jsonl.*2.*invalid JSON/);
    } finally {
      await cleanWork();
    }
  });
});
