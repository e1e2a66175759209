import assert from "node:assert/strict";
import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Embedder } from "../../src/model/embedder.ts";
import { loadEmbedder, ModelDirectoryError } from "../../src/model/index.ts";
import { type ListHit, linearFusion, vectorWeightProblem, weightedRrf } from "../../src/search/fusion.ts";
import { SearchRequestError, type SearchResponse, search } from "../../src/search/index.ts";
import { buildTable, TINY_MISTRAL, tempDir } from "./helpers.ts";

const hits = (keys: string[], scores: number[] = keys.map((_, i) => 10 - i)): ListHit<string>[] =>
  keys.map((key, i) => ({ key, score: scores[i]!, item: key }));

describe("weighted reciprocal-rank fusion (pure)", () => {
  const vector = hits(["a", "b", "c"]);
  const fulltext = hits(["c", "d", "a"]);

  test("w = 0.5 is plain RRF: Σ 1/(60 + rank), ranks from 0", () => {
    const fused = new Map(weightedRrf(vector, fulltext, 0.5).map((h) => [h.key, h.score]));
    assert.equal(fused.get("a"), 1 / 60 + 1 / 62);
    assert.equal(fused.get("c"), 1 / 62 + 1 / 60);
    assert.equal(fused.get("b"), 1 / 61);
    assert.equal(fused.get("d"), 1 / 61);
  });

  test("w = 1 orders by the vector list, w = 0 by the full-text list; each list's items all come back", () => {
    assert.deepEqual(
      weightedRrf(vector, fulltext, 1).map((h) => h.key),
      ["a", "b", "c", "d"],
    );
    assert.deepEqual(
      weightedRrf(vector, fulltext, 0).map((h) => h.key),
      ["c", "d", "a", "b"],
    );
  });

  test("a low vector weight lets BM25's first hit win over the vector list's first", () => {
    const v = hits(["x", "y"]);
    const f = hits(["y", "z"]);
    assert.equal(weightedRrf(v, f, 0.5)[0]!.key, "y"); // in both lists
    assert.equal(weightedRrf(hits(["x"]), hits(["z"]), 0.3)[0]!.key, "z");
    assert.equal(weightedRrf(hits(["x"]), hits(["z"]), 0.7)[0]!.key, "x");
    const score = weightedRrf(hits(["x"]), hits(["z"]), 0.3).find((h) => h.key === "x")!.score;
    assert.ok(Math.abs(score - (2 * 0.3) / 60) < 1e-15);
  });

  test("a key listed twice in one list counts once, at its best rank", () => {
    const fused = weightedRrf(hits(["a", "a", "b"]), [], 0.5);
    assert.deepEqual(
      fused.map((h) => [h.key, h.score]),
      [
        ["a", 1 / 60],
        ["b", 1 / 62],
      ],
    );
  });

  test("linear fusion min-max scales each list and weighs the scaled scores", () => {
    const fused = new Map(
      linearFusion(hits(["a", "b"], [0.9, 0.5]), hits(["b", "c"], [12, 2]), 0.25).map((h) => [h.key, h.score]),
    );
    assert.equal(fused.get("a"), 0.25 * 1);
    assert.equal(fused.get("b"), 0.25 * 0 + 0.75 * 1);
    assert.equal(fused.get("c"), 0);
  });

  test("weights outside [0, 1] or not numbers are named", () => {
    assert.equal(vectorWeightProblem(0), null);
    assert.equal(vectorWeightProblem(1), null);
    assert.match(vectorWeightProblem(1.5)!, /from 0 to 1, got 1.5/);
    assert.match(vectorWeightProblem(-0.1)!, /from 0 to 1/);
    assert.match(vectorWeightProblem(Number.NaN)!, /number/);
    assert.match(vectorWeightProblem("0.3")!, /number/);
  });
});

describe("hybrid search with a vector weight (real LanceDB table, tiny Mistral)", () => {
  let embedder: Embedder;
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    embedder = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
    ({ dir, cleanup } = await tempDir());
    await buildTable(dir, embedder);
  });
  after(async () => {
    await embedder.dispose();
    await cleanup();
  });

  const run = (mode: "vector" | "fulltext" | "hybrid", extra: { vector_weight?: number } = {}, e = embedder) =>
    search({ db: dir, tableName: "docs", embedder: e, query: "God created the light", mode, k: 5, ...extra });
  const ids = (response: SearchResponse) => response.results.map((r) => r.id);

  test("every fused score is 2·(w/(60+rank_vector) + (1−w)/(60+rank_fulltext)) over the two top-k lists", async () => {
    const byVector = ids(await run("vector"));
    const byText = ids(await run("fulltext"));
    assert.ok(byText.length >= 2, "the query shares words with several documents");
    for (const w of [0, 0.2, 0.5, 0.9, 1]) {
      const fused = await run("hybrid", { vector_weight: w });
      for (const r of fused.results) {
        const rv = byVector.indexOf(r.id);
        const rf = byText.indexOf(r.id);
        const expected = 2 * ((rv < 0 ? 0 : w / (60 + rv)) + (rf < 0 ? 0 : (1 - w) / (60 + rf)));
        assert.ok(Math.abs(r.score - expected) < 1e-12, `w=${w} ${r.id}: ${r.score} vs ${expected}`);
      }
      const scores = fused.results.map((r) => r.score);
      assert.deepEqual(
        scores,
        [...scores].sort((a, b) => b - a),
      );
    }
    // The extremes reproduce the single lists' orders at the top.
    assert.deepEqual(ids(await run("hybrid", { vector_weight: 1 })), byVector);
    assert.deepEqual(ids(await run("hybrid", { vector_weight: 0 })).slice(0, byText.length), byText);
  });

  test("without a request weight, the model's lance-e5.json hybrid.vector_weight is used (and stays overridable)", async () => {
    const { dir: modelDir, cleanup: cleanModel } = await tempDir("lance-e5-hybrid-model-");
    try {
      await cp(TINY_MISTRAL, modelDir, { recursive: true });
      const descriptorFile = path.join(modelDir, "lance-e5.json");
      const descriptor = JSON.parse(await readFile(descriptorFile, "utf8"));
      await writeFile(descriptorFile, JSON.stringify({ ...descriptor, hybrid: { vector_weight: 0 } }));
      const tuned = await loadEmbedder(modelDir, { threads: 1 });
      try {
        assert.equal(tuned.config.hybrid?.vector_weight, 0);
        // Same identity (the weight changes no vector): the table built with the original model is searchable.
        assert.equal(tuned.identity.hash, embedder.identity.hash);
        const byText = ids(await run("fulltext"));
        assert.deepEqual(ids(await run("hybrid", {}, tuned)).slice(0, byText.length), byText);
        assert.deepEqual(ids(await run("hybrid", { vector_weight: 1 }, tuned)), ids(await run("vector")));
        // The untouched fixture has no hybrid block: plain RRF (w = 0.5).
        assert.deepEqual(await scoresOf(run("hybrid")), await scoresOf(run("hybrid", { vector_weight: 0.5 })));
      } finally {
        await tuned.dispose();
      }
    } finally {
      await cleanModel();
    }
  });

  test('a model recording hybrid {"fusion": "linear"} gets min-max-scaled score fusion', async () => {
    const { dir: modelDir, cleanup: cleanModel } = await tempDir("lance-e5-hybrid-model-");
    try {
      await cp(TINY_MISTRAL, modelDir, { recursive: true });
      const descriptorFile = path.join(modelDir, "lance-e5.json");
      const descriptor = JSON.parse(await readFile(descriptorFile, "utf8"));
      await writeFile(
        descriptorFile,
        JSON.stringify({ ...descriptor, hybrid: { fusion: "linear", vector_weight: 0.3 } }),
      );
      const linear = await loadEmbedder(modelDir, { threads: 1 });
      try {
        const scaled = (response: SearchResponse) => {
          const scores = response.results.map((r) => r.score);
          const [min, max] = [Math.min(...scores), Math.max(...scores)];
          return new Map(response.results.map((r) => [r.id, max > min ? (r.score - min) / (max - min) : 1]));
        };
        const byVector = scaled(await run("vector"));
        const byText = scaled(await run("fulltext"));
        for (const w of [undefined, 0.8]) {
          const fused = await run("hybrid", w === undefined ? {} : { vector_weight: w }, linear);
          const weight = w ?? 0.3;
          assert.ok(fused.results.length > 0);
          for (const r of fused.results) {
            const expected = weight * (byVector.get(r.id) ?? 0) + (1 - weight) * (byText.get(r.id) ?? 0);
            assert.ok(Math.abs(r.score - expected) < 1e-9, `w=${weight} ${r.id}: ${r.score} vs ${expected}`);
          }
        }
      } finally {
        await linear.dispose();
      }
    } finally {
      await cleanModel();
    }
  });

  test("a lance-e5.json with a weight outside [0, 1] is refused at load", async () => {
    const { dir: modelDir, cleanup: cleanModel } = await tempDir("lance-e5-hybrid-model-");
    try {
      await cp(TINY_MISTRAL, modelDir, { recursive: true });
      const descriptorFile = path.join(modelDir, "lance-e5.json");
      const descriptor = JSON.parse(await readFile(descriptorFile, "utf8"));
      await writeFile(descriptorFile, JSON.stringify({ ...descriptor, hybrid: { vector_weight: 2 } }));
      await assert.rejects(
        loadEmbedder(modelDir, { threads: 1 }),
        (e: unknown) => e instanceof ModelDirectoryError && /hybrid/.test(e.message),
      );
    } finally {
      await cleanModel();
    }
  });

  test("bad request weights are refused naming vector_weight", async () => {
    for (const [extra, pattern] of [
      [{ vector_weight: 1.5 }, /from 0 to 1/],
      [{ vector_weight: -1 }, /from 0 to 1/],
      [{ vector_weight: Number.NaN }, /number/],
      [{ vector_weight: "0.2" as unknown as number }, /number/],
    ] as const) {
      await assert.rejects(
        run("hybrid", extra),
        (e: unknown) => e instanceof SearchRequestError && e.field === "vector_weight" && pattern.test(e.message),
      );
    }
    await assert.rejects(
      run("vector", { vector_weight: 0.3 }),
      (e: unknown) => e instanceof SearchRequestError && /hybrid only/.test(e.message),
    );
  });
});

async function scoresOf(response: Promise<SearchResponse>): Promise<number[]> {
  return (await response).results.map((r) => r.score);
}
