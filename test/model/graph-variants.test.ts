/**
 * Graphs other than the exporter's plain one: last-token pooling inside the graph (output [batch, hidden]) and a
 * float16 output. Both are derived from the tiny-mistral fixture by graph-variants.py (onnx in training/.venv), so
 * the reference vectors still apply.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { lastTokenGraph } from "../../src/model/last-token-graph.ts";
import { loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { fixtureDir, maxAbsDiff, readReference } from "./fixtures.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PYTHON = path.join(ROOT, "training/.venv/bin/python");
const reference = readReference("tiny-mistral");
const cases = reference.cases.filter((c) => c.max_length === 512);
const tmp = mkdtempSync(path.join(os.tmpdir(), "lance-e5-graphs-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of tiny-mistral whose model.onnx is replaced by `graph` and whose lance-e5.json onnx block is edited. */
function variantDir(name: string, graph: string, onnx: Record<string, unknown>): string {
  const dir = path.join(tmp, name);
  cpSync(fixtureDir("tiny-mistral"), dir, { recursive: true });
  unlinkSync(path.join(dir, "model.onnx"));
  copyFileSync(path.join(tmp, graph), path.join(dir, "model.onnx"));
  const file = path.join(dir, "lance-e5.json");
  const config = JSON.parse(readFileSync(file, "utf8"));
  config.onnx = { ...config.onnx, ...onnx };
  writeFileSync(file, JSON.stringify(config));
  return dir;
}

describe("graph variants", () => {
  let pooledDir = "";
  let fp16Dir = "";
  let externalDir = "";
  before(() => {
    execFileSync(PYTHON, [
      path.join(ROOT, "test/model/graph-variants.py"),
      path.join(fixtureDir("tiny-mistral"), "model.onnx"),
      tmp,
    ]);
    pooledDir = variantDir("pooled", "pooled.onnx", { output: "sentence_embedding", pooling_in_graph: true });
    fp16Dir = variantDir("fp16", "fp16.onnx", {});
    externalDir = variantDir("external", "external.onnx", {});
    copyFileSync(path.join(tmp, "external.onnx.data"), path.join(externalDir, "external.onnx.data"));
  });

  test("pooling inside the graph ([batch, hidden] output) matches the reference", async () => {
    const embedder = await loadEmbedder(pooledDir, { threads: 1 });
    assert.equal(embedder.lastTokenGraph, false, "a pooled graph has no per-token tail to cut");
    const vectors = await embedder.embedRaw(cases.map((c) => c.text));
    for (const [i, c] of cases.entries()) {
      const diff = maxAbsDiff(vectors[i] as Float32Array, c.embedding);
      assert.ok(diff <= 1e-4, `${c.id}: ${diff}`);
    }
    await embedder.dispose();
  });

  test("the last-token rewrite leaves a graph with pooling inside alone", () => {
    const pooled = new Uint8Array(readFileSync(path.join(pooledDir, "model.onnx")));
    const result = lastTokenGraph(pooled, "sentence_embedding");
    assert.ok("skipped" in result, "the pooling Gather (its index comes from the mask) is not position-wise");
  });

  test("a graph declared as pooled that is not is refused at load", async () => {
    const dir = variantDir("not-pooled", "fp16.onnx", { pooling_in_graph: true });
    await assert.rejects(loadEmbedder(dir, { threads: 1 }), /expected rank 2 \(pooling_in_graph: true\)/);
  });

  test("a float16 output is decoded (within float16 precision of the reference)", async () => {
    const embedder = await loadEmbedder(fp16Dir, { threads: 1 });
    assert.equal(embedder.lastTokenGraph, true);
    const vectors = await embedder.embedRaw(cases.map((c) => c.text));
    for (const [i, c] of cases.entries()) {
      const diff = maxAbsDiff(vectors[i] as Float32Array, c.embedding);
      assert.ok(diff <= 2e-3, `${c.id}: ${diff}`);
      assert.ok(Math.abs(Math.hypot(...(vectors[i] as Float32Array)) - 1) < 1e-5);
    }
    await embedder.dispose();
  });

  test("weights in an external data file: plain load, RoPE override via a temp copy, identity covers the data", async () => {
    const embedder = await loadEmbedder(externalDir, { threads: 1 });
    assert.equal(embedder.lastTokenGraph, true, "the rewritten graph still finds its external data");
    const vectors = await embedder.embedRaw(cases.map((c) => c.text));
    for (const [i, c] of cases.entries()) assert.ok(maxAbsDiff(vectors[i] as Float32Array, c.embedding) <= 1e-4, c.id);

    const override = await loadEmbedder(externalDir, { threads: 1, ropeBase: reference.rope_override.base });
    const ropeCases = reference.rope_override.cases.filter((c) => c.max_length === 512);
    const ropeVectors = await override.embedRaw(ropeCases.map((c) => c.text));
    for (const [i, c] of ropeCases.entries()) {
      assert.ok(maxAbsDiff(ropeVectors[i] as Float32Array, c.embedding) <= 1e-4, c.id);
    }

    const edited = path.join(tmp, "external-edited");
    cpSync(externalDir, edited, { recursive: true });
    const data = readFileSync(path.join(edited, "external.onnx.data"));
    data[data.length - 1] = (data[data.length - 1] as number) ^ 1;
    writeFileSync(path.join(edited, "external.onnx.data"), data);
    const changed = await loadEmbedder(edited, { threads: 1 });
    assert.notEqual(changed.identity.hash, embedder.identity.hash);
    for (const e of [embedder, override, changed]) await e.dispose();
  });
});
