import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import "../../plugins/lancedb/index.ts";
import { ingestSources } from "../../src/ingest/index.ts";
import { search } from "../../src/search/index.ts";
import { corpusCopy, FIXTURE_MODELS, fixtureEmbedder, maxAbsDiff, REPO, tempDir } from "../ingest/helpers.ts";

// A table made by `ingest`, then used through plain LanceDB with the plugin imported. Random-weight fixture
// models: the checks compare the plugin's vectors and rankings with lance-e5's own, which holds for any weights.

async function ingestedTable(): Promise<{ db: string }> {
  const embedder = await fixtureEmbedder("tiny-mistral");
  const root = tempDir("lance-e5-plugin-");
  const db = path.join(root, "db");
  await ingestSources({
    sources: [corpusCopy(4, root)],
    db,
    table: "docs",
    embedder,
    chunkTokens: 64,
    skipOptimize: true,
  });
  return { db };
}

function runExample(args: string[], model: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", "examples/plugin.ts", ...args], {
    cwd: REPO,
    env: { ...process.env, LANCE_E5_MODEL: path.join(FIXTURE_MODELS, model), LANCE_E5_THREADS: "1" },
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("LanceDB plugin (lance-e5 in the embedding registry)", () => {
  it("in-process: table.add([{text}]) embeds as a document; table.search(text) ranks like lance-e5 search", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const { db } = await ingestedTable();
    const table = await (await lancedb.connect(db)).openTable("docs");
    const before = await table.countRows();
    const text = "A sentence added through plain LanceDB, embedded by the plugin.";
    await table.add([{ text }]);
    assert.equal(await table.countRows(), before + 1);
    const [row] = await table.query().where("id IS NULL").select(["text", "vector"]).toArray();
    const [expected] = await embedder.embedDocuments([text]);
    assert.equal(row.text, text);
    assert.ok(maxAbsDiff(Float32Array.from(row.vector.toArray()), expected!) < 1e-5, "document-side, no instruction");

    for (const query of ["the rights of the people", "navy and commerce"]) {
      const viaPlugin = await table.search(query, "vector").limit(5).select(["id", "text", "_distance"]).toArray();
      const viaLanceE5 = await search({ embedder, db, tableName: "docs", query, k: 5 });
      assert.deepEqual(
        viaPlugin.map((r: { text: string }) => r.text),
        viaLanceE5.results.map((r) => r.text),
      );
    }
  });

  it("examples/plugin.ts (only @lancedb/lancedb + the plugin) resolves the model from LANCE_E5_MODEL", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const { db } = await ingestedTable();
    const query = "what was said about the militia";
    const result = runExample(["--db", db, "--json", "--k", "5", query], "tiny-mistral");
    assert.equal(result.status, 0, result.stderr);
    const hits = JSON.parse(result.stdout) as Array<{ text: string }>;
    const ours = await search({ embedder, db, tableName: "docs", query, k: 5 });
    assert.deepEqual(
      hits.map((h) => h.text),
      ours.results.map((r) => r.text),
    );
    // … and the same top hits as the `lance-e5 search` command.
    const cli = spawnSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "search", query, "--db", db, "--k", "5", "--json"],
      {
        cwd: REPO,
        env: { ...process.env, LANCE_E5_MODEL: path.join(FIXTURE_MODELS, "tiny-mistral") },
        encoding: "utf8",
      },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.deepEqual(
      hits.map((h) => h.text),
      (JSON.parse(cli.stdout) as { results: Array<{ text: string }> }).results.map((r) => r.text),
    );

    const added = "Exact text added by the example program.";
    const withAdd = runExample(["--db", db, "--json", "--add", added, "--k", "1", added], "tiny-mistral");
    assert.equal(withAdd.status, 0, withAdd.stderr);
    const table = await (await lancedb.connect(db)).openTable("docs");
    assert.equal((await table.query().where("id IS NULL").select(["text"]).toArray()).length, 1);
  });

  it("refuses to embed for a table built with another model, naming both", async () => {
    const { db } = await ingestedTable();
    const result = runExample(["--db", db, "--json", "anything"], "tiny-qwen2");
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /tiny-mistral/);
    assert.match(result.stderr, /tiny-qwen2/);
  });
});
