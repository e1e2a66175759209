/**
 * loadEmbedder on broken and modified model directories (each a copy of the tiny-mistral fixture in a tmp dir):
 * every problem is a typed error naming the file/field, and load options (long context, Matryoshka, threads,
 * session sharing, identity) behave as documented.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { EmbedOptionsError, InvalidInputError, ModelDirectoryError } from "../../src/model/errors.ts";
import { loadEmbedder, resolveThreads } from "../../src/model/onnx-embedder.ts";
import { cachedSessionCount } from "../../src/model/session-cache.ts";
import { fixtureDir, maxAbsDiff, readReference } from "./fixtures.ts";

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), "lance-e5-load-"));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));
let copies = 0;

/** A private copy of a fixture directory, optionally with lance-e5.json edited. */
function copyFixture(name = "tiny-mistral", edit?: (config: Record<string, unknown>) => void): string {
  const dir = path.join(tmpRoot, `${name}-${copies++}`);
  cpSync(fixtureDir(name), dir, { recursive: true });
  if (edit) {
    const file = path.join(dir, "lance-e5.json");
    const config = JSON.parse(readFileSync(file, "utf8"));
    edit(config);
    writeFileSync(file, JSON.stringify(config, null, 2));
  }
  return dir;
}

async function rejectsWithProblem(dir: string, pattern: RegExp, options = {}): Promise<void> {
  await assert.rejects(loadEmbedder(dir, { threads: 1, ...options }), (error: unknown) => {
    assert.ok(error instanceof ModelDirectoryError, `expected ModelDirectoryError, got ${String(error)}`);
    assert.match(error.problem, pattern);
    return true;
  });
}

describe("broken model directories → ModelDirectoryError naming the problem", () => {
  test("directory does not exist", async () => {
    await rejectsWithProblem(path.join(tmpRoot, "nope"), /lance-e5\.json is missing/);
  });

  test("lance-e5.json missing, corrupt, or not matching the schema", async () => {
    const missing = copyFixture();
    unlinkSync(path.join(missing, "lance-e5.json"));
    await rejectsWithProblem(missing, /lance-e5\.json is missing/);

    const corrupt = copyFixture();
    writeFileSync(path.join(corrupt, "lance-e5.json"), "{ not json");
    await rejectsWithProblem(corrupt, /lance-e5\.json is not valid JSON/);

    const wrongType = copyFixture("tiny-mistral", (c) => {
      c.hidden_size = "64";
    });
    await rejectsWithProblem(wrongType, /does not match the schema: \/hidden_size must be integer/);

    const unknownField = copyFixture("tiny-mistral", (c) => {
      c.pooling = "mean";
    });
    await rejectsWithProblem(unknownField, /\/pooling must be equal to constant/);
  });

  test("tokenizer.json missing or corrupt", async () => {
    const missing = copyFixture();
    unlinkSync(path.join(missing, "tokenizer.json"));
    await rejectsWithProblem(missing, /tokenizer\.json is missing/);

    const corrupt = copyFixture();
    writeFileSync(path.join(corrupt, "tokenizer.json"), "[1, 2");
    await rejectsWithProblem(corrupt, /tokenizer\.json is not valid JSON/);

    const notATokenizer = copyFixture();
    writeFileSync(path.join(notATokenizer, "tokenizer.json"), JSON.stringify({ model: { type: "Nonsense" } }));
    await rejectsWithProblem(notATokenizer, /tokenizer\.json cannot be loaded/);
  });

  test("model.onnx missing or corrupt", async () => {
    const missing = copyFixture();
    unlinkSync(path.join(missing, "model.onnx"));
    await rejectsWithProblem(missing, /model\.onnx is missing/);

    const garbage = copyFixture();
    writeFileSync(path.join(garbage, "model.onnx"), Buffer.from("definitely not a protobuf \u0007\u0007\u0007"));
    await rejectsWithProblem(garbage, /model\.onnx (is not a valid ONNX model|cannot be loaded by onnxruntime)/);

    const truncated = copyFixture();
    const bytes = readFileSync(path.join(truncated, "model.onnx"));
    writeFileSync(path.join(truncated, "model.onnx"), bytes.subarray(0, bytes.length / 2));
    await rejectsWithProblem(truncated, /model\.onnx (is not a valid ONNX model|cannot be loaded)/);
  });

  test("ONNX hidden size disagrees with lance-e5.json", async () => {
    const dir = copyFixture("tiny-mistral", (c) => {
      c.hidden_size = 128;
      c.output_dim = 128;
    });
    await rejectsWithProblem(dir, /hidden size is 64 but lance-e5\.json hidden_size is 128/);
  });

  test("tokenizer/vocab mismatch: config.json vocab_size smaller than the tokenizer", async () => {
    const dir = copyFixture();
    const file = path.join(dir, "config.json");
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), vocab_size: 1000 }));
    await rejectsWithProblem(dir, /ids up to 31999 but config\.json vocab_size is 1000/);
  });

  test("tokenizer/vocab mismatch without config.json: the probe run hits the embedding table's end", async () => {
    // Qwen3's 151k tokenizer next to a graph with a 32k-row embedding table.
    const dir = copyFixture("tiny-mistral", (c) => {
      c.tokens = { bos_id: null, eos_id: 151643, pad_id: 151643 };
    });
    unlinkSync(path.join(dir, "config.json"));
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      cpSync(path.join(fixtureDir("tiny-qwen3"), f), path.join(dir, f));
    }
    await rejectsWithProblem(dir, /past the model's embedding table \(tokenizer\/vocab mismatch\)/);
  });

  test("EOS id the tokenizer does not know", async () => {
    const dir = copyFixture("tiny-mistral", (c) => {
      c.tokens = { bos_id: 1, eos_id: 99999, pad_id: null };
    });
    await rejectsWithProblem(dir, /tokens\.eos_id 99999 is not in tokenizer\.json/);
  });

  test("graph input or output names that lance-e5.json gets wrong", async () => {
    const badInput = copyFixture("tiny-mistral", (c) => {
      (c.onnx as { inputs: Record<string, string> }).inputs.input_ids = "ids";
    });
    await rejectsWithProblem(badInput, /onnx\.inputs names "ids"/);
    const unmapped = copyFixture("tiny-mistral", (c) => {
      delete (c.onnx as { inputs: Record<string, string> }).inputs.position_ids;
    });
    await rejectsWithProblem(unmapped, /needs inputs lance-e5\.json does not map: position_ids/);
    const badOutput = copyFixture("tiny-mistral", (c) => {
      (c.onnx as { output: string }).output = "pooled";
    });
    await rejectsWithProblem(badOutput, /onnx\.output is "pooled"/);
  });

  test("RoPE override without a named initializer, or naming one the graph lacks", async () => {
    const unnamed = copyFixture("tiny-mistral", (c) => {
      delete (c.rope as Record<string, unknown>).inv_freq_initializer;
    });
    await rejectsWithProblem(unnamed, /RoPE base cannot be changed/, { ropeBase: 1e5 });
    const wrongName = copyFixture("tiny-mistral", (c) => {
      (c.rope as Record<string, unknown>).inv_freq_initializer = "not_there";
    });
    await rejectsWithProblem(wrongName, /no initializer named "not_there"/, { ropeBase: 1e5 });
    const wrongDim = copyFixture("tiny-mistral", (c) => {
      (c.rope as Record<string, unknown>).dim = 32;
    });
    await rejectsWithProblem(wrongDim, /has 8 values; rope\.dim 32 needs 16/, { ropeBase: 1e5 });
  });

  test("a fixed directory loads after a failed attempt (failures are not cached)", async () => {
    const dir = copyFixture();
    const good = readFileSync(path.join(dir, "model.onnx"));
    writeFileSync(path.join(dir, "model.onnx"), "junk");
    await rejectsWithProblem(dir, /model\.onnx/);
    writeFileSync(path.join(dir, "model.onnx"), good);
    const embedder = await loadEmbedder(dir, { threads: 1 });
    assert.equal(embedder.dim, 64);
    await embedder.dispose();
  });
});

describe("load options", () => {
  const reference = readReference("tiny-mistral");

  test("long-context mode reads long_context (RoPE base and max length) from the config", async () => {
    const dir = copyFixture("tiny-mistral", (c) => {
      c.long_context = { rope_base: reference.rope_override.base, max_length: 4096 };
    });
    const embedder = await loadEmbedder(dir, { threads: 1, longContext: true });
    assert.equal(embedder.maxLength, 4096);
    const cases = reference.rope_override.cases.filter((c) => c.max_length === 512);
    const vectors = await embedder.embedRaw(cases.map((c) => c.text));
    for (const [i, c] of cases.entries()) assert.ok(maxAbsDiff(vectors[i] as Float32Array, c.embedding) <= 1e-4, c.id);
    await embedder.dispose();
    await assert.rejects(
      loadEmbedder(fixtureDir("tiny-mistral"), { longContext: true }),
      (e: unknown) => e instanceof EmbedOptionsError && /no long_context block/.test(e.message),
    );
  });

  test("Matryoshka dims: truncate then renormalise; error on models without them or on unlisted dims", async () => {
    const plain = await loadEmbedder(fixtureDir("tiny-mistral"), { threads: 1 });
    await assert.rejects(
      plain.embedDocuments(["hello"], { dimensions: 32 }),
      (e: unknown) => e instanceof EmbedOptionsError && /has no Matryoshka dims/.test(e.message),
    );
    const dir = copyFixture("tiny-mistral", (c) => {
      c.matryoshka_dims = [16, 32];
    });
    const embedder = await loadEmbedder(dir, { threads: 1 });
    const [full] = await embedder.embedDocuments(["hello world"]);
    const [short] = await embedder.embedDocuments(["hello world"], { dimensions: 32 });
    assert.equal(short?.length, 32);
    const head = (full as Float32Array).slice(0, 32);
    const norm = Math.hypot(...head);
    assert.ok(
      maxAbsDiff(
        short as Float32Array,
        head.map((v) => v / norm),
      ) < 1e-6,
    );
    await assert.rejects(embedder.embedDocuments(["x"], { dimensions: 20 }), /not one of the model's Matryoshka dims/);
    await plain.dispose();
    await embedder.dispose();
  });

  test("bad input arrays name the index and leave the embedder usable", async () => {
    const embedder = await loadEmbedder(fixtureDir("tiny-mistral"), { threads: 1 });
    await assert.rejects(
      embedder.embedDocuments(["fine", "  ", "also fine"]),
      (e: unknown) => e instanceof InvalidInputError && e.index === 1,
    );
    await assert.rejects(
      embedder.embedQueries(["ok", 3 as unknown as string]),
      (e: unknown) => e instanceof InvalidInputError && e.index === 1 && /got number/.test(e.message),
    );
    await assert.rejects(
      embedder.embedQueries(["ok"], { task: "no_such_task" }),
      /unknown task "no_such_task"; known tasks: web_search/,
    );
    assert.equal((await embedder.embedDocuments(["fine"])).length, 1);
    assert.deepEqual(await embedder.embedDocuments([]), []);
    await embedder.dispose();
  });

  test("threads: option, LANCE_E5_THREADS, and rejection of nonsense", () => {
    assert.equal(resolveThreads(3), 3);
    const saved = process.env.LANCE_E5_THREADS;
    try {
      process.env.LANCE_E5_THREADS = "2";
      assert.equal(resolveThreads(), 2);
      process.env.LANCE_E5_THREADS = "many";
      assert.throws(() => resolveThreads(), /LANCE_E5_THREADS=many/);
      assert.throws(() => resolveThreads(0), EmbedOptionsError);
    } finally {
      if (saved === undefined) delete process.env.LANCE_E5_THREADS;
      else process.env.LANCE_E5_THREADS = saved;
    }
  });

  test("sessions are shared per (path, RoPE base, threads) and released with the last holder", async () => {
    const dir = copyFixture();
    const before = cachedSessionCount();
    const a = await loadEmbedder(dir, { threads: 1 });
    const b = await loadEmbedder(dir, { threads: 1 });
    assert.equal(cachedSessionCount(), before + 1, "same key → one session");
    const c = await loadEmbedder(dir, { threads: 1, ropeBase: 5e4 });
    assert.equal(cachedSessionCount(), before + 2, "another RoPE base → another session");
    await a.dispose();
    assert.deepEqual(await b.embedDocuments(["still works"]).then((v) => v.length), 1);
    await b.dispose();
    await c.dispose();
    assert.equal(cachedSessionCount(), before);
    await assert.rejects(a.embedDocuments(["x"]), /disposed/);
  });

  test("identity: name, dim and a content hash that ignores the card but not the tokenizer", async () => {
    const base = await loadEmbedder(copyFixture(), { threads: 1 });
    assert.deepEqual({ name: base.identity.name, dim: base.identity.dim }, { name: "tiny-mistral", dim: 64 });
    assert.match(base.identity.hash, /^[0-9a-f]{64}$/);
    const recarded = await loadEmbedder(
      copyFixture("tiny-mistral", (c) => {
        c.card = { description: "edited card" };
      }),
      { threads: 1 },
    );
    assert.equal(recarded.identity.hash, base.identity.hash);
    const retemplated = await loadEmbedder(
      copyFixture("tiny-mistral", (c) => {
        c.instruction_template = "Task: {task}\nQ: {query}";
      }),
      { threads: 1 },
    );
    assert.notEqual(retemplated.identity.hash, base.identity.hash);
    for (const e of [base, recarded, retemplated]) await e.dispose();
  });
});
