import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { TASK_INSTRUCTIONS, UnknownTaskError } from "../../src/instructions/index.ts";
import { ModelMismatchError } from "../../src/lancedb/errors.ts";
import type { Embedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/index.ts";
import {
  FilterError,
  FullTextIndexMissingError,
  openSearchTarget,
  SearchRequestError,
  type SearchResponse,
  search,
} from "../../src/search/index.ts";
import { buildTable, CORPUS, cosine, TINY_MISTRAL, TINY_QWEN2, tempDir } from "./helpers.ts";

/**
 * The query path on real LanceDB tables built by the real ingest pipeline with the tiny random Mistral fixture.
 * Random weights make similarities meaningless, so vector-mode expectations are computed independently: the query
 * embedded with the expected instruction by the runtime, cosine against every stored vector by brute force; search
 * must return exactly that ranking and those scores. Full-text expectations use words only one document has.
 */

let embedder: Embedder;
let dir: string;
let cleanup: () => Promise<void>;
let stored: Array<{ id: string; doc_id: string; vector: Float32Array }>;

before(async () => {
  embedder = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
  ({ dir, cleanup } = await tempDir());
  await buildTable(dir, embedder);
  const table = await (await lancedb.connect(dir)).openTable("docs");
  stored = (await table.query().select(["id", "doc_id", "vector"]).toArray()).map((r) => ({
    id: r.id,
    doc_id: r.doc_id,
    vector: Float32Array.from(r.vector.toArray()),
  }));
});

after(async () => {
  await cleanup();
});

/** Brute-force ranking of every stored chunk by cosine with `queryVector`. */
function bruteForce(queryVector: Float32Array, k: number): Array<{ id: string; score: number }> {
  return stored
    .map((r) => ({ id: r.id, score: cosine(queryVector, r.vector) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

function assertRanking(response: SearchResponse, expected: Array<{ id: string; score: number }>): void {
  assert.deepEqual(
    response.results.map((r) => r.id),
    expected.map((r) => r.id),
  );
  for (const [i, r] of response.results.entries())
    assert.ok(Math.abs(r.score - expected[i]!.score) <= 1e-5, `score ${i}`);
}

describe("vector mode", () => {
  test("ranks by true cosine with the instructed query (given task)", async () => {
    const response = await search({
      db: dir,
      tableName: "docs",
      embedder,
      query: "self-evident truths",
      task: "question",
      k: 4,
    });
    const [q] = await embedder.embedQueries(["self-evident truths"], { task: "question" });
    assertRanking(response, bruteForce(q!, 4));
    assert.equal(typeof response.took_ms, "number");
    const first = response.results[0]!;
    const doc = CORPUS.find((d) => d.id === first.doc_id)!;
    assert.equal(first.text, doc.text);
    assert.equal(first.source, doc.source);
    assert.equal(first.title, doc.title);
    assert.equal(first.metadata.lang, doc.metadata!.lang);
    assert.equal(first.metadata.year, doc.metadata!.year);
  });

  test("no task: the table's default task; a free instruction is used verbatim", async () => {
    const byDefault = await search({ db: dir, tableName: "docs", embedder, query: "light", k: 3 });
    const [d] = await embedder.embedQueries(["light"], { task: embedder.config.default_task });
    assertRanking(byDefault, bruteForce(d!, 3));

    const instruction = "Given a line of scripture, retrieve the verse";
    const free = await search({ db: dir, tableName: "docs", embedder, query: "light", instruction, k: 3 });
    const [f] = await embedder.embedQueries(["light"], { instruction });
    assertRanking(free, bruteForce(f!, 3));
    // The instruction really changes the embedded text (guards against it being dropped).
    assert.notDeepEqual(d, f);
  });

  test("the instruction is part of what is embedded (a different task gives different scores)", async () => {
    const a = await search({ db: dir, tableName: "docs", embedder, query: "light", task: "web_search", k: 3 });
    const b = await search({ db: dir, tableName: "docs", embedder, query: "light", task: "passkey", k: 3 });
    assert.notDeepEqual(
      a.results.map((r) => r.score),
      b.results.map((r) => r.score),
    );
    assert.equal(
      embedder.formatQuery("light", { task: "passkey" }),
      `Instruct: ${TASK_INSTRUCTIONS.passkey}\nQuery: light`,
    );
  });

  test("filters restrict the candidates before ranking", async () => {
    const response = await search({
      db: dir,
      tableName: "docs",
      embedder,
      query: "freedom",
      k: 10,
      filter: { "metadata.lang": { $in: ["de", "fr"] } },
    });
    assert.deepEqual(response.results.map((r) => r.doc_id).sort(), ["faust", "marseillaise"]);
    const quoted = await search({ db: dir, tableName: "docs", embedder, query: "x", filter: { doc_id: "o'brien" } });
    assert.deepEqual(
      quoted.results.map((r) => r.doc_id),
      ["o'brien"],
    );
  });

  test("score stays the exact cosine when an ANN index (IVF-PQ) finds the candidates", async () => {
    const { dir: bigDir, cleanup: bigCleanup } = await tempDir();
    try {
      const documents = Array.from({ length: 300 }, (_, i) => ({
        id: `row-${i}`,
        text: `${CORPUS[i % CORPUS.length]!.text} (copy ${i})`,
        metadata: { n: i },
      }));
      await buildTable(bigDir, embedder, documents);
      const table = await (await lancedb.connect(bigDir)).openTable("docs");
      await table.createIndex("vector", {
        config: lancedb.Index.ivfPq({ numPartitions: 2, numSubVectors: 4, distanceType: "cosine" }),
        replace: true,
      });
      assert.ok((await table.listIndices()).some((i) => i.columns.includes("vector")));
      const vectors = new Map(
        (await table.query().select(["id", "vector"]).toArray()).map((r) => [
          r.id,
          Float32Array.from(r.vector.toArray()),
        ]),
      );
      const response = await search({ table, embedder, query: "new nation", task: "question", k: 10 });
      const [q] = await embedder.embedQueries(["new nation"], { task: "question" });
      assert.equal(response.results.length, 10);
      for (const r of response.results) assert.ok(Math.abs(r.score - cosine(q!, vectors.get(r.id!)!)) <= 1e-5);
      const scores = response.results.map((r) => r.score);
      assert.deepEqual(
        scores,
        [...scores].sort((a, b) => b - a),
      );
    } finally {
      await bigCleanup();
    }
  });
});

describe("fulltext and hybrid modes", () => {
  test("fulltext finds the only document with a word, with a positive BM25 score", async () => {
    const response = await search({ db: dir, tableName: "docs", embedder, query: "Mancha", mode: "fulltext" });
    assert.deepEqual(
      response.results.map((r) => r.doc_id),
      ["quijote"],
    );
    assert.ok(response.results[0]!.score > 0);
  });

  test("fulltext honours filters", async () => {
    const hit = await search({ db: dir, tableName: "docs", embedder, query: "God", mode: "fulltext", k: 10 });
    assert.deepEqual(hit.results.map((r) => r.doc_id).sort(), ["genesis", "genesis-light"]);
    const filtered = await search({
      db: dir,
      tableName: "docs",
      embedder,
      query: "God",
      mode: "fulltext",
      filter: { doc_id: { $ne: "genesis" } },
    });
    assert.deepEqual(
      filtered.results.map((r) => r.doc_id),
      ["genesis-light"],
    );
  });

  test("hybrid fuses both lists with RRF: scores are Σ 1/(60+rank), rank from 0, the full-text-only hit is included", async () => {
    const response = await search({ db: dir, tableName: "docs", embedder, query: "Mancha", mode: "hybrid", k: 10 });
    const quijote = response.results.find((r) => r.doc_id === "quijote");
    assert.ok(quijote, "the only full-text match must be in the fused list");
    assert.ok(
      quijote.score >= 1 / 61 - 1e-6,
      `quijote has at least the first full-text rank's share: ${quijote.score}`,
    );
    for (const r of response.results) assert.ok(r.score > 0 && r.score <= 2 / 60 + 1e-6);
    const scores = response.results.map((r) => r.score);
    assert.deepEqual(
      scores,
      [...scores].sort((a, b) => b - a),
    );
    // Vector candidates are fused too: more than the one full-text hit comes back.
    assert.ok(response.results.length > 1);
  });

  test("a table without a full-text index says so", async () => {
    const { dir: d2, cleanup: c2 } = await tempDir();
    try {
      await buildTable(d2, embedder, CORPUS.slice(0, 3));
      const table = await (await lancedb.connect(d2)).openTable("docs");
      for (const index of await table.listIndices()) await table.dropIndex(index.name);
      await assert.rejects(
        search({ table, embedder, query: "nation", mode: "fulltext" }),
        (e: unknown) => e instanceof FullTextIndexMissingError && /no full-text index/.test(e.message),
      );
    } finally {
      await c2();
    }
  });
});

describe("refusals", () => {
  test("a table built by another model is refused, naming both models", async () => {
    const qwen = await loadEmbedder(TINY_QWEN2, { threads: 1 });
    try {
      await assert.rejects(
        search({ db: dir, tableName: "docs", embedder: qwen, query: "x" }),
        (e: unknown) =>
          e instanceof ModelMismatchError && e.message.includes("tiny-mistral") && e.message.includes("tiny-qwen2"),
      );
      await assert.rejects(openSearchTarget({ db: dir, tableName: "docs" }, qwen.identity), ModelMismatchError);
    } finally {
      await qwen.dispose();
    }
  });

  test("bad requests name the field", async () => {
    const base = { db: dir, tableName: "docs", embedder };
    await assert.rejects(search({ ...base, query: "x", task: "nope" }), (e: unknown) => {
      assert.ok(e instanceof UnknownTaskError);
      assert.match(e.message, /known tasks: .*web_search.*passkey/);
      return true;
    });
    await assert.rejects(search({ ...base, query: "x", task: "question", instruction: "y" }), SearchRequestError);
    await assert.rejects(search({ ...base, query: "  " }), /query: must be a non-empty string/);
    await assert.rejects(search({ ...base, query: "x", k: 0 }), /k: must be an integer/);
    await assert.rejects(search({ ...base, query: "x", k: 2.5 }), /k: must be an integer/);
    await assert.rejects(search({ ...base, query: "x", mode: "semantic" as "vector" }), /unknown mode "semantic"/);
    await assert.rejects(search({ ...base, query: "x", filter: { vector: 1 } }), FilterError);
    await assert.rejects(search({ ...base, tableName: "missing", query: "x" }), /table "missing" not found/);
  });
});
