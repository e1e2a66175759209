/**
 * A graph exported with `--attention gqa` (onnxruntime GroupQueryAttention: right padding only, memory linear in
 * length, the long-context path), with a long_context block and Matryoshka dims, exported here from the
 * tiny-mistral checkpoint by the project's exporter. The reference vectors of the eager fixture apply unchanged.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
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

  test("Matryoshka dims declared by the export are honoured", async () => {
    const embedder = await loadEmbedder(dir, { threads: 1 });
    const [v16] = await embedder.embedDocuments(["hello world"], { dimensions: 16 });
    assert.equal(v16?.length, 16);
    assert.ok(Math.abs(Math.hypot(...(v16 as Float32Array)) - 1) < 1e-5);
    await embedder.dispose();
  });
});
