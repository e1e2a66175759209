/**
 * The load-time last-token rewrite (src/model/last-token-graph.ts): the graph's position-wise tail (last MLP,
 * final norm) runs on the pooled row only. It must find that tail in every exported family and in the shipped
 * default model, return exactly the vectors of the graph as exported (left and right padding, a batch of mixed
 * lengths), and leave alone what it does not recognise.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { LAST_TOKEN_INPUT, lastTokenGraph } from "../../src/model/last-token-graph.ts";
import { type LoadEmbedderOptions, loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { DEFAULT_MODEL, FAMILY_FIXTURES, fixtureDir, MIXED_TEXTS, maxAbsDiff } from "./fixtures.ts";

const TEXTS = MIXED_TEXTS;

/** Loads `dir` with and without the rewrite and checks the rewrite is on and the vectors agree within `tolerance`. */
async function assertSameAsExported(
  dir: string,
  options: LoadEmbedderOptions,
  texts: string[],
  tolerance: number,
): Promise<void> {
  const cut = await loadEmbedder(dir, options);
  const full = await loadEmbedder(dir, { ...options, lastTokenGraph: false });
  try {
    assert.equal(cut.lastTokenGraph, true);
    assert.equal(full.lastTokenGraph, false);
    const [a, b] = [await cut.embedDocuments(texts), await full.embedDocuments(texts)];
    for (const [i, vector] of a.entries())
      assert.ok(maxAbsDiff(vector, b[i] as Float32Array) <= tolerance, `text ${i}`);
  } finally {
    await cut.dispose();
    await full.dispose();
  }
}

const graphBytes = (dir: string) => new Uint8Array(readFileSync(path.join(dir, "model.onnx")));
const layerCount = (dir: string) =>
  (JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as { num_hidden_layers: number }).num_hidden_layers;

describe("last-token graph", () => {
  for (const [name, dir] of [...FAMILY_FIXTURES.map((f) => [f, fixtureDir(f)]), ["default model", DEFAULT_MODEL]]) {
    test(`${name}: the tail starts at the last layer's residual after attention`, () => {
      const result = lastTokenGraph(graphBytes(dir as string), "last_hidden_state");
      assert.ok("bytes" in result, "skipped" in result ? result.skipped : "");
      assert.equal(result.gathered, `/model/layers.${layerCount(dir as string) - 1}/Add_output_0`);
    });
  }

  for (const family of FAMILY_FIXTURES) {
    for (const paddingSide of ["right", "left"] as const) {
      test(`${family}, ${paddingSide} padding: vectors equal the graph as exported`, async () => {
        await assertSameAsExported(fixtureDir(family), { threads: 1, paddingSide }, TEXTS, 1e-6);
      });
    }
  }

  test("default model (fp16, GroupQueryAttention, key-value cache): same vectors, chunked long text too", async () => {
    // A 2,000-token text runs in chunks. The attention rewrite (attention-graph.test.ts) is off: this compares the
    // last-token cut alone.
    const options = { threads: 1, attentionBufferBytes: 8 * 1024 * 1024, attentionGraph: false };
    const texts = [...TEXTS, "the quick brown fox jumps over the lazy dog ".repeat(200)];
    await assertSameAsExported(DEFAULT_MODEL, options, texts, 1e-5);
  });

  test("the rewrite adds one int64 [batch, 1, 1] input and keeps every initializer", () => {
    const original = graphBytes(fixtureDir("tiny-mistral"));
    const result = lastTokenGraph(original, "last_hidden_state");
    assert.ok("bytes" in result);
    const text = Buffer.from(result.bytes).toString("latin1");
    assert.ok(text.includes(LAST_TOKEN_INPUT));
    assert.ok(text.includes("GatherND"));
    // Weights are copied, not re-encoded: the new graph is the old one plus a few hundred bytes.
    assert.ok(result.bytes.length > original.length && result.bytes.length < original.length + 1024);
  });

  test("the rewritten graph reaches the sessions through a temp file that is gone after loading", async () => {
    const ours = () => readdirSync(os.tmpdir()).filter((name) => name.startsWith("lance-e5-graph-"));
    const before = new Set(ours());
    const embedder = await loadEmbedder(fixtureDir("tiny-mistral"), { threads: 1, sessions: 2 });
    assert.equal(embedder.lastTokenGraph, true);
    assert.deepEqual(
      ours().filter((name) => !before.has(name)),
      [],
    );
    await embedder.dispose();
  });

  test("without a writable temp dir the rewritten graph goes to the sessions as bytes", async () => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = path.join(os.tmpdir(), "lance-e5-no-such-dir", "deeper");
    try {
      await assertSameAsExported(fixtureDir("tiny-qwen2"), { threads: 1, ropeBase: 20000 }, TEXTS, 1e-6);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  test("what it does not recognise is left alone, with the reason", () => {
    const model = graphBytes(fixtureDir("tiny-mistral"));
    assert.deepEqual(lastTokenGraph(model, "no_such_output"), { skipped: 'no graph output "no_such_output"' });
    const garbage = lastTokenGraph(model.subarray(0, 1000), "last_hidden_state");
    assert.ok("skipped" in garbage && /unreadable graph/.test(garbage.skipped), JSON.stringify(garbage));
  });
});
