import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { Command } from "commander";
import { commandModules } from "../../src/cli/commands/index.ts";
import { EMBEDDING_COMMANDS } from "../../src/cli/embedder-options.ts";
import type { LocalEmbedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { createApp } from "../../src/server/app.ts";
import { listen, type RunningServer } from "../../src/server/serve.ts";
import { CORPUS, REPO_ROOT, runCli, TINY_MISTRAL, TINY_QWEN2, tempDir } from "../search/helpers.ts";
import { maxAbsDiff } from "../server/helpers.ts";

/**
 * The CLI with --embedder-url against a real lance-e5 server (tiny-mistral, in this process, on a loopback
 * socket): ingest then search through it, tables interchangeable with local ONNX runs, embed output equal to the
 * local one, the API-key flags, and usage errors.
 */

let local: LocalEmbedder;
let server: RunningServer;
let securedServer: RunningServer;
let root: string;
let cleanup: () => Promise<void>;
let corpusFile: string;

before(async () => {
  local = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
  ({ dir: root, cleanup } = await tempDir("lance-e5-remote-cli-"));
  const db = await lancedb.connect(path.join(root, "served"));
  const app = (apiKeys: string[]) => createApp({ embedder: local, db, defaultTable: "docs", apiKeys, log: () => {} });
  server = await listen(app([]), { port: 0 });
  securedServer = await listen(app(["sk-right"]), { port: 0 });
  corpusFile = path.join(root, "corpus.jsonl");
  writeFileSync(corpusFile, CORPUS.map((d) => JSON.stringify({ id: d.id, text: d.text })).join("\n"));
});

after(async () => {
  await server.shutdown();
  await securedServer.shutdown();
  await local.dispose();
  await cleanup();
});

interface SearchJson {
  results: Array<{ doc_id: string; score: number }>;
}

async function searchJson(args: string[]): Promise<SearchJson> {
  const run = await runCli(["search", ...args, "--json", "--model", TINY_MISTRAL]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as SearchJson;
}

function assertSameResults(a: SearchJson, b: SearchJson, label: string): void {
  assert.deepEqual(
    a.results.map((r) => r.doc_id),
    b.results.map((r) => r.doc_id),
    label,
  );
  for (const [i, r] of a.results.entries()) {
    assert.ok(Math.abs(r.score - b.results[i]!.score) <= 1e-5, `${label} score ${i}`);
  }
}

describe("lance-e5 CLI with --embedder-url", () => {
  test("ingest through the server, then search: same results remotely and locally (one identity)", async () => {
    const db = path.join(root, "db-remote");
    const ingest = await runCli([
      "ingest",
      corpusFile,
      "--db",
      db,
      "--json",
      "--model",
      TINY_MISTRAL,
      "--embedder-url",
      server.url,
      "--embedder-batch-size",
      "3",
    ]);
    assert.equal(ingest.code, 0, ingest.stderr);
    assert.equal(JSON.parse(ingest.stdout).chunks_added, CORPUS.length);

    const query = ["who is created equal", "--db", db, "--k", "5"];
    const remote = await searchJson([...query, "--embedder-url", `${server.url}/v1`]);
    const localRun = await searchJson(query);
    assert.equal(remote.results.length, 5);
    assertSameResults(remote, localRun, "remote vs local search of a remotely ingested table");

    // Re-ingesting locally finds every chunk unchanged: the vectors' model identity is the same.
    const again = await runCli(["ingest", corpusFile, "--db", db, "--json", "--model", TINY_MISTRAL]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).chunks_unchanged, CORPUS.length);
  });

  test("a model described by flags adopts the identity the lance-e5 server states: the same model's tables interchange, another's are refused", async () => {
    const db = path.join(root, "db-flags");
    const remoteFlags = ["--embedder-url", server.url, "--embedder-model", "tiny-mistral", "--embedder-dim", "64"];
    const ingest = await runCli(["ingest", corpusFile, "--db", db, "--json", ...remoteFlags]);
    assert.equal(ingest.code, 0, ingest.stderr);
    const remote = await runCli(["search", "the firmament", "--db", db, "--json", ...remoteFlags]);
    assert.equal(remote.code, 0, remote.stderr);
    assert.equal((JSON.parse(remote.stdout) as SearchJson).results.length, CORPUS.length);

    const sameModel = await runCli(["search", "the firmament", "--db", db, "--json", "--model", TINY_MISTRAL]);
    assert.equal(sameModel.code, 0, sameModel.stderr);
    const hits = (out: string) => (JSON.parse(out) as SearchJson).results.map((r) => r.doc_id);
    assert.deepEqual(hits(sameModel.stdout), hits(remote.stdout));

    const otherModel = await runCli(["search", "the firmament", "--db", db, "--model", TINY_QWEN2]);
    assert.equal(otherModel.code, 2, otherModel.stderr);
    assert.match(otherModel.stderr, /tiny-mistral/);
  });

  test("embed --embedder-url prints the local vectors (≤ 1e-5)", async () => {
    const stdin = CORPUS.slice(0, 3)
      .map((d) => JSON.stringify({ text: d.text }))
      .join("\n");
    const args = ["embed", "--query", "--task", "question", "--model", TINY_MISTRAL];
    const remote = await runCli([...args, "--embedder-url", server.url], {}, stdin);
    const localRun = await runCli(args, {}, stdin);
    assert.equal(remote.code, 0, remote.stderr);
    assert.equal(localRun.code, 0, localRun.stderr);
    const vectors = (out: string) =>
      out
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { embedding: number[] }).embedding);
    const [a, b] = [vectors(remote.stdout), vectors(localRun.stdout)];
    assert.equal(a.length, 3);
    for (const [i, v] of a.entries()) assert.ok(maxAbsDiff(v, b[i]!) <= 1e-5, `line ${i + 1}`);
  });

  test("API keys: a 401 says which flag to set; --embedder-api-key-env reads the key; an unset variable is exit 2", async () => {
    const stdin = JSON.stringify({ text: "hello" });
    const args = ["embed", "--document", "--model", TINY_MISTRAL, "--embedder-url", securedServer.url];
    const refused = await runCli(args, {}, stdin);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /HTTP 401/);
    assert.match(refused.stderr, /--embedder-api-key-env/);
    assert.equal(refused.stdout, "");

    const keyed = await runCli(
      [...args, "--embedder-api-key-env", "MY_EMBEDDER_KEY"],
      { MY_EMBEDDER_KEY: "sk-right" },
      stdin,
    );
    assert.equal(keyed.code, 0, keyed.stderr);
    const byDefault = await runCli(args, { LANCE_E5_EMBEDDER_API_KEY: "sk-right" }, stdin);
    assert.equal(byDefault.code, 0, byDefault.stderr);

    const unset = await runCli([...args, "--embedder-api-key-env", "NO_SUCH_VARIABLE_SET"], {}, stdin);
    assert.equal(unset.code, 2);
    assert.match(unset.stderr, /NO_SUCH_VARIABLE_SET/);
  });

  test("flag mistakes are usage errors (exit 2) naming the flags", async () => {
    const stdin = JSON.stringify({ text: "hello" });
    const noUrl = await runCli(["embed", "--document", "--embedder-dim", "64"], {}, stdin);
    assert.equal(noUrl.code, 2);
    assert.match(noUrl.stderr, /--embedder-dim need\(s\) --embedder-url/);
    const both = await runCli(
      ["embed", "--document", "--embedder-url", server.url, "--embedder-dim", "64", "--model", TINY_MISTRAL],
      {},
      stdin,
    );
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--model DIR or by --embedder-dim/);
    const badTemplate = await runCli(
      [
        "embed",
        "--query",
        "--embedder-url",
        server.url,
        "--embedder-model",
        "m",
        "--embedder-dim",
        "64",
        "--embedder-template",
        "{query}",
      ],
      {},
      stdin,
    );
    assert.equal(badTemplate.code, 2);
    assert.match(badTemplate.stderr, /--embedder-template must contain \{task\} then \{query\}/);
  });

  test("serve --embedder-url: a gateway server embeds through another and answers with the local vectors", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(REPO_ROOT, "src/cli/main.ts"), "serve", "--port", "0"],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          LANCE_E5_DB: path.join(root, "gateway-db"),
          LANCE_E5_MODEL: TINY_MISTRAL,
          LANCE_E5_EMBEDDER_URL: server.url, // the env form of --embedder-url
        },
      },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
          const match = /listening on (http:\/\/\S+)/.exec(stderr);
          if (match) resolve(match[1]!);
        });
        child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
      });
      const texts = CORPUS.slice(0, 2).map((d) => d.text);
      const response = await fetch(`${url}/v1/embeddings`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny-mistral", input: texts }),
      });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { data: Array<{ embedding: number[] }> };
      const expected = await local.embedDocuments(texts);
      for (const [i, item] of body.data.entries()) assert.ok(maxAbsDiff(item.embedding, expected[i]!) <= 1e-5, `${i}`);
    } finally {
      child.kill("SIGTERM");
    }
  });

  test("tune-fusion --embedder-url scores the grid as the local model does; --write needs a model directory", async () => {
    const docs = CORPUS.slice(0, 6);
    const held = path.join(root, "held.jsonl");
    const lines = docs.map((d, i) =>
      JSON.stringify({
        task_family: "short-long",
        instruction: "Given a phrase, retrieve the passage that contains it",
        query: d.text.split(" ").slice(2, 6).join(" "),
        positive: d.text,
        negative: docs[(i + 1) % docs.length]!.text,
        language: "en",
        source: "test",
      }),
    );
    writeFileSync(held, `${lines.join("\n")}\n`);
    const tune = async (extra: string[]) => {
      const run = await runCli(["tune-fusion", held, "--model", TINY_MISTRAL, "--json", ...extra]);
      assert.equal(run.code, 0, run.stderr);
      return JSON.parse(run.stdout) as { grid: Array<{ method: string; vector_weight: number; "ndcg@10": number }> };
    };
    const [locally, remotely] = [await tune([]), await tune(["--embedder-url", server.url])];
    assert.equal(remotely.grid.length, locally.grid.length);
    for (const [i, point] of remotely.grid.entries()) {
      assert.ok(
        Math.abs(point["ndcg@10"] - locally.grid[i]!["ndcg@10"]) <= 1e-9,
        `${point.method} ${point.vector_weight}`,
      );
    }
    const described = ["--embedder-url", server.url, "--embedder-model", "tiny-mistral", "--embedder-dim", "64"];
    const refused = await runCli(["tune-fusion", held, "--write", ...described]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /--write.*--model DIR/);
  });

  test("every command that embeds takes the --embedder-* flags", () => {
    const program = new Command();
    for (const register of commandModules) register(program);
    for (const name of EMBEDDING_COMMANDS) {
      const command = program.commands.find((c) => c.name() === name);
      assert.ok(command, name);
      const flags = command.options.map((o) => o.long);
      for (const flag of ["--embedder-url", "--embedder-model", "--embedder-api-key-env", "--embedder-dim"]) {
        assert.ok(flags.includes(flag), `${name} ${flag}`);
      }
    }
  });
});
