/**
 * A graph exported with `--attention gqa` (onnxruntime GroupQueryAttention + key-value cache: right padding only,
 * chunked long texts, the long-context path), with a long_context block and Matryoshka dims, exported here from the
 * tiny-mistral checkpoint by the project's exporter. The reference vectors of the eager fixture apply unchanged.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ModelDirectoryError } from "../../src/model/errors.ts";
import { chunkTokens } from "../../src/model/kv-cache.ts";
import { loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { FIXTURES_DIR, maxAbsDiff, readReference } from "./fixtures.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const reference = readReference("tiny-mistral");
const tmp = mkdtempSync(path.join(os.tmpdir(), "lance-e5-gqa-"));
const dir = path.join(tmp, "tiny-mistral-gqa");
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("GroupQueryAttention export", () => {
  before(() => {
    const checkpoint = path.join(FIXTURES_DIR, ".checkpoints/tiny-mistral");
    assert.ok(existsSync(checkpoint), "run bash scripts/build-fixtures.sh");
    execFileSync(
      path.join(ROOT, "training/.venv/bin/python"),
      ["-m", "lance_e5_train", "export", "--checkpoint", checkpoint, "--out", dir, "--attention", "gqa"].concat([
        "--long-context-base",
        String(reference.rope_override.base),
        "--long-context-length",
        "4096",
        "--matryoshka-dims",
        "16,32",
      ]),
      {
        cwd: path.join(ROOT, "training"),
        env: { ...process.env, HF_HUB_OFFLINE: "1", PYTHONWARNINGS: "ignore" },
        stdio: "pipe",
      },
    );
  });

  test("native base: every case matches the reference, batched with right padding", async () => {
    const embedder = await loadEmbedder(dir, { threads: 1 });
    assert.equal(embedder.config.padding_side, "right");
    // The parity below holds for the graph the runtime runs: last-token cut plus both attention rewrites.
    assert.deepEqual(embedder.graphEdits, ["last-token", "rotary-in-attention", "last-layer-decode"]);
    const cases = reference.cases.filter((c) => c.max_length === 512);
    const vectors = await embedder.embedRaw(cases.map((c) => c.text));
    for (const [i, c] of cases.entries()) assert.ok(maxAbsDiff(vectors[i] as Float32Array, c.embedding) <= 1e-4, c.id);
    await embedder.dispose();
  });

  test("long-context mode (RoPE base rewritten at load) matches torch at that base; long inputs batch exactly", async () => {
    const embedder = await loadEmbedder(dir, { threads: 1, longContext: true });
    assert.equal(embedder.maxLength, 4096);
    const cases = reference.rope_override.cases.filter((c) => c.max_length === 512);
    const vectors = await embedder.embedRaw(cases.map((c) => c.text));
    for (const [i, c] of cases.entries()) assert.ok(maxAbsDiff(vectors[i] as Float32Array, c.embedding) <= 1e-4, c.id);

    // No reference exists at thousands of tokens; what must hold is that batching does not change a vector.
    const long = reference.tokenizer_parity.lines
      .map((l) => l.text)
      .join(" ")
      .repeat(6);
    const texts = [long, "short", long.slice(0, 2500)];
    assert.ok(embedder.encode(long).ids.length > 2000);
    const single = await loadEmbedder(dir, { threads: 1, longContext: true, batchTokenBudget: 1 });
    const alone = await single.embedRaw(texts);
    const together = await embedder.embedRaw(texts);
    for (const [i, v] of alone.entries()) assert.ok(maxAbsDiff(v, together[i] as Float32Array) <= 1e-5);
    await embedder.dispose();
    await single.dispose();
  });

  test("long texts run in chunks through the key-value cache and give the vector of one run", async () => {
    const whole = await loadEmbedder(dir, { threads: 1, longContext: true });
    const cache = whole.config.onnx.kv_cache;
    assert.deepEqual(cache, {
      past: "past_key_values.{layer}.{kind}",
      present: "present.{layer}.{kind}",
      layers: 2,
      kv_heads: 2,
      head_dim: 16,
      query_heads: 4,
    });
    const long = reference.tokenizer_parity.lines
      .map((l) => l.text)
      .join(" ")
      .repeat(6);
    const length = whole.encode(long).ids.length;
    assert.ok(length > 2000 && length <= 4096);
    // 64 KiB of scores: chunks of 64 tokens (the floor), so 30+ runs each carrying the cache of the earlier ones.
    const bufferBytes = 64 * 1024;
    assert.equal(chunkTokens(cache!, length, bufferBytes), 64);
    assert.equal(chunkTokens(cache!, length), length, "the default buffer runs this text whole");
    const chunked = await loadEmbedder(dir, { threads: 1, longContext: true, attentionBufferBytes: bufferBytes });
    const texts = [long, "short", long.slice(0, 3000)];
    const [a, b] = [await whole.embedRaw(texts), await chunked.embedRaw(texts)];
    for (const [i, v] of a.entries()) assert.ok(maxAbsDiff(v, b[i] as Float32Array) <= 1e-5, `text ${i}`);
    await whole.dispose();
    await chunked.dispose();
  });

  test("fp32: the attention rewrites leave the vectors as the exported attention gives them (≤ 1e-6), chunked too", async () => {
    const long = reference.tokenizer_parity.lines
      .map((l) => l.text)
      .join(" ")
      .repeat(6);
    const texts = [long, ...reference.cases.filter((c) => c.max_length === 512).map((c) => c.text)];
    const load = { threads: 1, longContext: true, attentionBufferBytes: 64 * 1024 };
    const rewritten = await loadEmbedder(dir, load);
    const exported = await loadEmbedder(dir, { ...load, attentionGraph: false });
    assert.equal(rewritten.graphEdits.length, 3);
    const [a, b] = [await rewritten.embedRaw(texts), await exported.embedRaw(texts)];
    for (const [i, v] of a.entries()) assert.ok(maxAbsDiff(v, b[i] as Float32Array) <= 1e-6, `text ${i}`);
    await rewritten.dispose();
    await exported.dispose();
  });

  test("a kv_cache block naming tensors the graph lacks is refused, naming them", async () => {
    const broken = path.join(tmp, "kv-names");
    cpSync(dir, broken, { recursive: true });
    const configPath = path.join(broken, "lance-e5.json");
    const config = JSON.parse(readFileSync(configPath, "utf8"));
    config.onnx.kv_cache.past = "cache.{layer}.{kind}";
    writeFileSync(configPath, JSON.stringify(config));
    await assert.rejects(
      loadEmbedder(broken, { threads: 1 }),
      (error: unknown) =>
        error instanceof ModelDirectoryError &&
        /cache\.0\.key/.test(error.message) &&
        /past_key_values\.0\.key/.test(error.message),
    );
  });

  test("Matryoshka dims declared by the export are honoured", async () => {
    const embedder = await loadEmbedder(dir, { threads: 1 });
    const [v16] = await embedder.embedDocuments(["hello world"], { dimensions: 16 });
    assert.equal(v16?.length, 16);
    assert.ok(Math.abs(Math.hypot(...(v16 as Float32Array)) - 1) < 1e-5);
    await embedder.dispose();
  });
});
