import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { buildPool, PASSKEY_FILLER } from "../../src/eval/passkey/documents.ts";
import { heldOutSotuSentences } from "../../src/eval/passkey/haystack.ts";
import type { Embedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { FIXTURE_MODELS, REPO_ROOT, runCli, tempDir } from "./helpers.ts";

// Document construction, flags and the report shape run on the tiny-mistral parity fixture (random weights, max_length
// 512: its accuracies mean nothing); the CI-sized accuracy run uses the shipped default model.

const MODEL = path.join(FIXTURE_MODELS, "tiny-mistral");

describe("passkey documents", () => {
  let embedder: Embedder;
  before(async () => {
    embedder = await loadEmbedder(MODEL, { maxLength: 4096, threads: 1 });
  });
  after(() => embedder.dispose());
  const count = (text: string) => embedder.encode(text, Number.MAX_SAFE_INTEGER).ids.length;

  for (const length of [256, 1000, 4096]) {
    it(`every document is exactly ${length} model tokens including BOS and EOS`, () => {
      const pool = buildPool({ variant: "passkey", length, candidates: 8, queries: 3, seed: 7, count });
      assert.equal(pool.documents.length, 8);
      for (const doc of pool.documents) {
        assert.equal(count(doc.text), length);
        const ids = embedder.encode(doc.text, Number.MAX_SAFE_INTEGER).ids;
        assert.equal(ids[0], 1, "BOS first");
        assert.equal(ids.at(-1), 2, "EOS last");
      }
    });
  }

  it("uses the paper's filler, key sentence and query wording, one name and key per document", () => {
    const pool = buildPool({ variant: "passkey", length: 512, candidates: 20, queries: 5, seed: 3, count });
    assert.equal(new Set(pool.documents.map((d) => d.name)).size, 20);
    for (const doc of pool.documents) {
      assert.ok(
        doc.text.includes(
          `${doc.name}'s pass key is ${doc.key}. Remember it. ${doc.key} is the pass key for ${doc.name}.`,
        ),
      );
      assert.ok(doc.text.startsWith(PASSKEY_FILLER[0]!) || doc.depth < 0.1, "filler around the key");
      assert.match(doc.key, /^\d{5}$/);
    }
    assert.equal(pool.queries.length, 5);
    for (const q of pool.queries) {
      const doc = pool.documents.find((d) => d.id === q.answerId)!;
      assert.equal(q.text, `what is the pass key for ${doc.name}?`);
    }
  });

  it("is deterministic for a seed and differs across seeds", () => {
    const a = buildPool({ variant: "passkey", length: 256, candidates: 5, queries: 2, seed: 1, count });
    const b = buildPool({ variant: "passkey", length: 256, candidates: 5, queries: 2, seed: 1, count });
    const c = buildPool({ variant: "passkey", length: 256, candidates: 5, queries: 2, seed: 2, count });
    assert.deepEqual(a, b);
    assert.notDeepEqual(
      a.documents.map((d) => d.text),
      c.documents.map((d) => d.text),
    );
  });

  it("needle documents hide another fact in the haystack and are exact too", () => {
    const haystack = [
      "Congress met in the winter session.",
      "The budget was balanced at last.",
      "Trade grew across the ocean.",
    ];
    const pool = buildPool({ variant: "needle", length: 300, candidates: 4, queries: 2, seed: 5, count, haystack });
    for (const doc of pool.documents) {
      assert.equal(count(doc.text), 300);
      assert.ok(!doc.text.includes("pass key"));
      assert.ok(doc.text.includes(`${doc.name} hid a brass`));
      assert.ok(doc.text.includes(doc.key));
    }
  });

  it("needle pools over the real held-out haystack build at 256 tokens with 100 candidates (bench:passkey's pool)", async () => {
    // Regression: one of these documents had no whole-word filler count of exactly 256 tokens, and the needle run
    // of bench:passkey stopped with "could not build a document of exactly 256 tokens".
    const haystack = await heldOutSotuSentences();
    const pool = buildPool({ variant: "needle", length: 256, candidates: 100, queries: 50, seed: 0, count, haystack });
    assert.equal(pool.documents.length, 100);
    for (const doc of pool.documents) assert.equal(count(doc.text), 256);
  });

  it("refuses impossible requests", () => {
    assert.throws(
      () => buildPool({ variant: "passkey", length: 16, candidates: 2, queries: 1, seed: 0, count }),
      /too short/,
    );
    assert.throws(
      () => buildPool({ variant: "passkey", length: 256, candidates: 2, queries: 3, seed: 0, count }),
      /cannot exceed/,
    );
    assert.throws(
      () => buildPool({ variant: "needle", length: 256, candidates: 2, queries: 1, seed: 0, count }),
      /haystack/,
    );
  });
});

describe("lance-e5 passkey with the default model (CI-sized: 20 candidates, 20 queries)", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir("lance-e5-passkey-default-")));
  after(() => cleanup());

  it("finds the pass key far beyond the 512-token training length at RoPE base 1e5; the native base falls behind", async () => {
    const run = await runCli([
      "passkey",
      "--model",
      path.join(REPO_ROOT, "models/default"),
      "--lengths",
      "1024,8192",
      "--candidates",
      "20",
      "--queries",
      "20",
      "--seed",
      "0",
      "--db",
      path.join(dir, "db"),
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    const accuracy = (length: number, base: number) =>
      report.results.find((r: { length: number; rope_base: number }) => r.length === length && r.rope_base === base)
        ?.accuracy;
    // Default bases: the model's native one and its long_context one.
    assert.deepEqual([...new Set(report.results.map((r: { rope_base: number }) => r.rope_base))], [10000, 100000]);
    assert.ok(accuracy(1024, 100000) >= 0.9, JSON.stringify(report.results));
    assert.ok(accuracy(8192, 100000) >= 0.9, JSON.stringify(report.results));
    // Measured here: 1.00 at 1e5 and 0.70 at 1e4 for 8,192 tokens; the margins leave room for a few flipped queries.
    assert.ok(accuracy(8192, 10000) <= accuracy(8192, 100000) - 0.15, JSON.stringify(report.results));
    assert.deepEqual(
      report.fulltext.map((r: { accuracy: number }) => r.accuracy),
      [1, 1],
    );
  });
});

describe("lance-e5 passkey (CI-sized: lengths up to twice the fixture's 512-token training length)", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir("lance-e5-passkey-")));
  after(() => cleanup());

  it("ingests each pool whole, queries through the search path and reports every length and base beside BM25", async () => {
    const plot = path.join(dir, "passkey.svg");
    const run = await runCli([
      "passkey",
      "--model",
      MODEL,
      "--lengths",
      "256,1024",
      "--candidates",
      "6",
      "--queries",
      "4",
      "--rope-base",
      "1e4,1e5",
      "--seed",
      "11",
      "--json",
      "--plot",
      plot,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.match(run.stderr, /embedding passkey 1024 tokens at RoPE base 100000/, "progress on stderr with --json");
    assert.equal(report.instruction, "Given a question about a person, retrieve the document that contains the answer");
    assert.deepEqual(
      report.results.map((r: { length: number; rope_base: number }) => [r.length, r.rope_base]),
      [
        [256, 10000],
        [1024, 10000],
        [256, 100000],
        [1024, 100000],
      ],
    );
    for (const r of report.results) {
      assert.deepEqual(Object.keys(r).sort(), [
        "accuracy",
        "candidates",
        "length",
        "queries",
        "rope_base",
        "seconds",
        "variant",
      ]);
      assert.equal(r.variant, "passkey");
      assert.equal(r.queries, 4);
      assert.equal(r.candidates, 6);
      assert.ok(r.accuracy >= 0 && r.accuracy <= 1);
    }
    // Full-text search finds every name: a broken ingest (truncated documents, wrong ids) would fail this.
    assert.deepEqual(report.fulltext, [
      { variant: "passkey", length: 256, accuracy: 1 },
      { variant: "passkey", length: 1024, accuracy: 1 },
    ]);
    const svg = await readFile(plot, "utf8");
    assert.match(svg, /^<svg/);
    assert.match(svg, /full-text \(BM25\)/);
  });

  it("rejects bad flags with exit code 2", async () => {
    for (const args of [
      ["--lengths", "256,abc"],
      ["--queries", "10", "--candidates", "5"],
      ["--variant", "haystack"],
      ["--rope-base", "0.5"],
    ]) {
      const run = await runCli(["passkey", "--model", MODEL, ...args]);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, /--/);
    }
  });
});
