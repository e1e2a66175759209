import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { SHIPPED_MODEL_DIR } from "../../src/defaults.ts";
import type { SearchResponse } from "../../src/search/index.ts";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";
import { corpusCopy, FIXTURE_MODELS, tempDir } from "../ingest/helpers.ts";

// examples/langchain.ts run as a user runs it (public imports only), with the shipped default model: real
// retrieval on real text. Its hybrid search includes BM25, so a query naming a word only one document has
// finds that document whatever the small model ranks.

interface ExampleOutput {
  table: string;
  added: string[];
  hits: Array<{ id: string; text: string; metadata: Record<string, unknown> }>;
}

function runExample(args: string[], model?: string): { status: number | null; stdout: string; stderr: string } {
  const { LANCE_E5_MODEL: _unset, ...env } = process.env;
  const result = spawnSync(process.execPath, ["--import", "tsx", "examples/langchain.ts", ...args], {
    cwd: REPO_ROOT,
    env: { ...env, LANCE_E5_THREADS: "1", ...(model ? { LANCE_E5_MODEL: model } : {}) },
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("examples/langchain.ts", () => {
  it("stores its documents once, and its filtered hybrid retriever finds the one about Rottnest Island", async () => {
    const db = path.join(tempDir("lance-e5-langchain-example-"), "db");
    const args = ["--db", db, "--json", "--lang", "en", "Which animal lives on Rottnest Island?"];
    const first = runExample(args);
    assert.equal(first.status, 0, first.stderr);
    const out = JSON.parse(first.stdout) as ExampleOutput;
    assert.equal(out.table, "langchain_demo");
    assert.equal(out.added.length, 6);
    assert.ok(out.hits.length > 0 && out.hits.length <= 3);
    assert.match(out.hits[0]!.text, /quokka .* Rottnest Island/);
    for (const hit of out.hits) {
      assert.equal(hit.metadata.lang, "en", "the filter keeps the German quokka out");
      assert.ok(out.added.includes(hit.id));
    }

    const again = runExample(args);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as ExampleOutput).added, out.added, "stable ids");
    const table = await (await lancedb.connect(db)).openTable("langchain_demo");
    assert.equal(await table.countRows(), 6, "a second run stores nothing new");

    // Another model cannot use the table: a clear message naming both, non-zero exit.
    const wrongModel = runExample(args, path.join(FIXTURE_MODELS, "tiny-qwen2"));
    assert.equal(wrongModel.status, 1);
    assert.match(wrongModel.stderr, /^error: .*tiny-qwen2/m);
    assert.equal(await table.countRows(), 6);
  });

  it("--existing searches a table made by `lance-e5 ingest` like `lance-e5 search --mode hybrid`", async () => {
    const root = tempDir("lance-e5-langchain-example-");
    const db = path.join(root, "db");
    const ingest = await runCli(["ingest", corpusCopy(2, root), "--db", db, "--model", SHIPPED_MODEL_DIR, "--json"]);
    assert.equal(ingest.code, 0, ingest.stderr);
    const query = "the army and the militia";
    const example = runExample(["--existing", "--db", db, "--json", "--k", "3", query]);
    assert.equal(example.status, 0, example.stderr);
    const hits = (JSON.parse(example.stdout) as ExampleOutput).hits;
    const cli = await runCli([
      ...["search", query, "--db", db, "--model", SHIPPED_MODEL_DIR],
      ...["--mode", "hybrid", "--task", "web_search", "--k", "3", "--json"],
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.ok(hits.length > 0);
    assert.deepEqual(
      hits.map((h) => h.metadata.chunk_id),
      (JSON.parse(cli.stdout) as SearchResponse).results.map((r) => r.id),
    );

    const missing = runExample(["--existing", "--db", db, "--table", "nope", "anything"]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^error: table "nope" not found/m);
  });
});
