import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { loadEmbedder } from "../../src/model/index.ts";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";

/** The shipped default model: the fixtures have no long_context block. */
const DEFAULT_MODEL = path.join(REPO_ROOT, "models/default");

/**
 * A table ingested in long-context mode holds vectors made at the extended RoPE base; queries embedded at the
 * native base would be compared against them silently. The identity includes the RoPE base, so search refuses the
 * mismatch and `--long-context` on the query side matches it. Only identities and the refusal are asserted, plus that the
 * exact stored text finds its own chunk (true for any weights).
 */

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "lance-e5-long-context-"));
  await writeFile(path.join(dir, "note.txt"), "The lighthouse keeper logs every ship that passes the northern cape.");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("identity depends on the RoPE base the model runs at, and only when it differs from the native one", async () => {
  const native = await loadEmbedder(DEFAULT_MODEL, { threads: 1 });
  const explicitNative = await loadEmbedder(DEFAULT_MODEL, { threads: 1, ropeBase: native.config.rope.base });
  const long = await loadEmbedder(DEFAULT_MODEL, { threads: 1, longContext: true });
  try {
    assert.deepEqual(explicitNative.identity, native.identity);
    assert.notEqual(long.identity.hash, native.identity.hash);
    assert.equal(long.identity.name, native.identity.name);
    assert.equal(long.identity.dim, native.identity.dim);
  } finally {
    await Promise.all([native.dispose(), explicitNative.dispose(), long.dispose()]);
  }
});

test("search refuses a long-context table without --long-context and works with it", async () => {
  const db = path.join(dir, "db");
  const common = ["--db", db, "--table", "docs", "--model", DEFAULT_MODEL];
  const ingest = await runCli(["ingest", path.join(dir, "note.txt"), ...common, "--long-context", "--json"]);
  assert.equal(ingest.code, 0, ingest.stderr);

  const text = "The lighthouse keeper logs every ship that passes the northern cape.";
  const refused = await runCli(["search", text, ...common, "--json"]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /lance-e5-default/);
  assert.match(refused.stderr, /model|identity/i);

  const found = await runCli(["search", text, ...common, "--mode", "fulltext", "--long-context", "--json"]);
  assert.equal(found.code, 0, found.stderr);
  const response = JSON.parse(found.stdout) as { results: Array<{ text: string }> };
  assert.equal(response.results[0]?.text, text);

  const vector = await runCli(["search", text, ...common, "--long-context", "--json"]);
  assert.equal(vector.code, 0, vector.stderr);
  assert.equal((JSON.parse(vector.stdout) as { results: unknown[] }).results.length, 1);
});

test("--rope-base/--max-length set the base and length for any model: 1e5 is what --long-context loads", async () => {
  // ~3,000 tokens: the RoPE base matters over distances like these (the default model pools by attention).
  const input = path.join(dir, "texts.jsonl");
  const long = Array.from({ length: 400 }, (_, i) => `ship${i % 97} cape${i % 89}`).join(" ");
  await writeFile(input, `${JSON.stringify({ text: long })}\n`);
  const embed = async (...flags: string[]) => {
    const run = await runCli(["embed", "--document", "--model", DEFAULT_MODEL, "--input", input, ...flags]);
    assert.equal(run.code, 0, run.stderr);
    return (JSON.parse(run.stdout) as { embedding: number[] }).embedding;
  };
  const [nativeBase, longContext, explicit] = [
    await embed("--max-length", "4096"),
    await embed("--long-context"),
    await embed("--rope-base", "1e5", "--max-length", "4096"),
  ];
  assert.deepEqual(explicit, longContext);
  assert.ok(
    nativeBase.some((x, i) => Math.abs(x - (explicit[i] as number)) > 1e-3),
    "the base changes the vector",
  );

  // Over-length texts are cut at --max-length (12 = BOS + 10 tokens + EOS): a longer text equals its cut prefix.
  const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
  await writeFile(input, `${JSON.stringify({ text: words })}\n`);
  const cut = await embed("--max-length", "12");
  assert.notDeepEqual(cut, await embed());

  for (const [flags, message] of [
    [["--rope-base", "0.5"], /--rope-base/],
    [["--max-length", "0"], /--max-length/],
    [["--rope-base", "1e5", "--embedder-url", "http://127.0.0.1:9"], /--rope-base apply to local models/],
  ] as const) {
    const run = await runCli(["embed", "--document", "--model", DEFAULT_MODEL, "--input", input, ...flags]);
    assert.equal(run.code, 2, `${flags.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
});
