/**
 * The attention rewrites (src/model/attention-graph.ts) on the shipped default model (fp16 GroupQueryAttention with
 * a key-value cache): rotary inside the attention op and the last layer as a one-token step. Vectors stay within
 * the fp16 graph's rounding of the graph as exported (short, batched, chunked long texts, another RoPE base); the
 * rewritten graph keeps nothing unused; what does not match is left alone with a reason. The fp32 export's parity
 * with torch under these rewrites is in gqa-export.test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { attentionGraph, LAST_LAYER_DECODE, ROTARY_IN_ATTENTION } from "../../src/model/attention-graph.ts";
import { lastTokenGraph } from "../../src/model/last-token-graph.ts";
import { type LoadEmbedderOptions, loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { parseModelGraph } from "../../src/model/onnx-graph.ts";
import { ropeInverseFrequencies } from "../../src/model/rope.ts";
import { DEFAULT_MODEL, fixtureDir, MIXED_TEXTS, maxAbsDiff, ROOT } from "./fixtures.ts";

const TEXTS = [
  ...MIXED_TEXTS,
  ...readFileSync(path.join(ROOT, "README.md"), "utf8")
    .split("\n\n")
    .filter((p) => p.trim().length > 0)
    .slice(0, 60),
];
/** fp16: the rotary is rounded once instead of after each op. Measured max |diff| 1.3e-4 on README paragraphs. */
const FP16_TOLERANCE = 3e-4;

const defaultGraph = () => {
  const result = lastTokenGraph(
    new Uint8Array(readFileSync(path.join(DEFAULT_MODEL, "model.onnx"))),
    "last_hidden_state",
  );
  assert.ok("bytes" in result);
  return result.bytes;
};
const options = (overrides: Partial<Parameters<typeof attentionGraph>[1]> = {}) => ({
  invFreq: ropeInverseFrequencies(10000, 32),
  positions: 4096,
  positionIds: "position_ids",
  invFreqInitializer: "rope_inv_freq",
  ...overrides,
});

async function assertCloseToExported(load: LoadEmbedderOptions, texts: string[]): Promise<void> {
  const rewritten = await loadEmbedder(DEFAULT_MODEL, load);
  const exported = await loadEmbedder(DEFAULT_MODEL, { ...load, attentionGraph: false });
  try {
    assert.deepEqual(rewritten.graphEdits, ["last-token", ROTARY_IN_ATTENTION, LAST_LAYER_DECODE]);
    assert.deepEqual(exported.graphEdits, ["last-token"]);
    const [a, b] = [await rewritten.embedDocuments(texts), await exported.embedDocuments(texts)];
    for (const [i, vector] of a.entries()) {
      const diff = maxAbsDiff(vector, b[i] as Float32Array);
      assert.ok(diff <= FP16_TOLERANCE, `text ${i}: ${diff}`);
    }
  } finally {
    await rewritten.dispose();
    await exported.dispose();
  }
}

describe("attention graph", () => {
  test("default model: both rewrites apply and the vectors stay within fp16 rounding of the exported attention", async () => {
    await assertCloseToExported({ threads: 1 }, TEXTS);
  });

  test("default model: a long text in key-value-cache chunks, at the long-context RoPE base", async () => {
    const long = "the quick brown fox jumps over the lazy dog, and then it sleeps. ".repeat(300);
    // ~4,000 tokens in 64-token chunks: the last layer's one-token step reads the cache the chunks leave.
    await assertCloseToExported({ threads: 1, longContext: true, attentionBufferBytes: 64 * 1024 }, [long, "short"]);
  });

  test("the rewritten graph: rotary nodes gone, one RotaryEmbedding, nothing unused", () => {
    const before = parseModelGraph(defaultGraph());
    const result = attentionGraph(defaultGraph(), options());
    assert.ok("bytes" in result, "skipped" in result ? result.skipped : "");
    assert.deepEqual(result.edits, [ROTARY_IN_ATTENTION, LAST_LAYER_DECODE]);
    const after = parseModelGraph(result.bytes);
    assert.ok(before !== undefined && after !== undefined);
    const count = (g: typeof after, op: string) => g.nodes.filter((n) => n.opType === op).length;
    assert.equal(count(after, "GroupQueryAttention"), count(before, "GroupQueryAttention"));
    assert.equal(count(before, "Neg"), 8, "the export rotates q and k with rotate_half in each of 4 layers");
    assert.equal(count(after, "Neg"), 0);
    assert.equal(count(after, "RotaryEmbedding"), 1);
    for (const n of after.nodes.filter((n) => n.opType === "GroupQueryAttention")) {
      assert.deepEqual(n.ints.get("do_rotary"), [1n]);
    }
    const used = new Set(after.nodes.flatMap((n) => n.inputs));
    for (const name of after.initializers.keys()) assert.ok(used.has(name), `unused initializer ${name}`);
    assert.ok(after.nodes.length < before.nodes.length);
  });

  test("what it does not recognise is left alone, with the reason", () => {
    const eager = lastTokenGraph(
      new Uint8Array(readFileSync(path.join(fixtureDir("tiny-mistral"), "model.onnx"))),
      "last_hidden_state",
    );
    assert.ok("bytes" in eager);
    assert.deepEqual(attentionGraph(eager.bytes, options()), { skipped: "no GroupQueryAttention" });
    assert.deepEqual(attentionGraph(defaultGraph(), options({ positionIds: undefined })), {
      skipped: "no position_ids input",
    });
    assert.deepEqual(attentionGraph(defaultGraph(), options({ invFreqInitializer: "no_such_tensor" })), {
      skipped: "no RoPE inverse-frequency initializer",
    });
    assert.deepEqual(attentionGraph(defaultGraph(), options({ invFreq: ropeInverseFrequencies(10000, 16) })), {
      skipped: "rotary dimension is not the head dimension",
    });
    const garbage = attentionGraph(Uint8Array.from([0x3a, 0x05, 0x0a]), options());
    assert.ok("skipped" in garbage && /unreadable graph/.test(garbage.skipped), JSON.stringify(garbage));
  });

  test("attentionGraph: false keeps the exported attention (and the session is not shared with the rewritten one)", async () => {
    const a = await loadEmbedder(DEFAULT_MODEL, { threads: 1, attentionGraph: false });
    const b = await loadEmbedder(DEFAULT_MODEL, { threads: 1 });
    assert.deepEqual(a.graphEdits, ["last-token"]);
    assert.equal(b.graphEdits.length, 3);
    await a.dispose();
    await b.dispose();
  });
});
