import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import autocannon from "autocannon";
import OpenAI from "openai";
import { listen, type RunningServer } from "../../src/server/serve.ts";
import { CORPUS, REPO_ROOT, runCli, TINY_MISTRAL, TINY_QWEN2 } from "../search/helpers.ts";
import { maxAbsDiff, type ServerFixture, serverFixture } from "./helpers.ts";

/**
 * The server through a real loopback socket: an OpenAI client against /v1/embeddings compared with the
 * `lance-e5 embed` CLI, `lance-e5 search --json` against POST /search, chunked oversize bodies, graceful drain,
 * a bounded load test, and the `lance-e5 serve` process itself.
 */

let fx: ServerFixture;
const servers: RunningServer[] = [];

before(async () => {
  fx = await serverFixture();
});
after(async () => {
  for (const s of servers) await s.shutdown();
  await fx.cleanup();
});

async function start(options: Parameters<ServerFixture["app"]>[0] = {}): Promise<RunningServer> {
  const running = await listen(await fx.app(options), { port: 0, drainTimeoutMs: 5000 });
  servers.push(running);
  return running;
}

function cliVectors(stdout: string): number[][] {
  return stdout
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { embedding: number[] }).embedding);
}

describe("over a socket", () => {
  test("an OpenAI client gets the same vectors as `lance-e5 embed` (≤ 1e-5), float and base64", async () => {
    const server = await start({ apiKeys: ["sk-test"] });
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
    const texts = [CORPUS[0]!.text, CORPUS[5]!.text, "emoji 👩‍👩‍👧 and CJK 日本語", "x"];
    const stdin = texts.map((text) => JSON.stringify({ text })).join("\n");

    const documents = await runCli(["embed", "--document", "--model", TINY_MISTRAL], {}, stdin);
    assert.equal(documents.code, 0, documents.stderr);
    const expectedDocs = cliVectors(documents.stdout);
    // The client asks for base64 by default and decodes it; then explicitly float.
    for (const encoding_format of [undefined, "float"] as const) {
      const response = await client.embeddings.create({ model: "tiny-mistral", input: texts, encoding_format });
      assert.equal(response.data.length, texts.length);
      for (const [i, d] of response.data.entries()) {
        assert.ok(maxAbsDiff(d.embedding, expectedDocs[i]!) <= 1e-5, `${encoding_format} ${i}`);
      }
      assert.ok(response.usage.prompt_tokens > texts.length);
    }

    const queries = await runCli(["embed", "--query", "--task", "question", "--model", TINY_MISTRAL], {}, stdin);
    assert.equal(queries.code, 0, queries.stderr);
    const expectedQueries = cliVectors(queries.stdout);
    const body = { model: "default", input: texts, input_type: "query", task: "question" };
    const response = await client.embeddings.create(body as unknown as OpenAI.EmbeddingCreateParams);
    for (const [i, d] of response.data.entries()) assert.ok(maxAbsDiff(d.embedding, expectedQueries[i]!) <= 1e-5);

    await assert.rejects(
      new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "wrong", maxRetries: 0 }).embeddings.create({
        model: "default",
        input: "x",
      }),
      (e: unknown) => e instanceof OpenAI.AuthenticationError,
    );
    await assert.rejects(
      client.embeddings.create({ model: "text-embedding-3-small", input: "x" }),
      (e: unknown) => e instanceof OpenAI.NotFoundError && /model_not_found|not served/.test(String(e.message)),
    );
  });

  test("`lance-e5 search --json` prints what POST /search returns", async () => {
    const server = await start();
    for (const mode of ["vector", "fulltext", "hybrid"]) {
      const body = { query: "light of the earth", task: "question", k: 4, mode, filter: { "metadata.lang": "en" } };
      const response = await fetch(`${server.url}/search`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 200);
      const viaHttp = (await response.json()) as { results: Array<{ score: number }>; took_ms: number };
      const cli = await runCli([
        "search",
        body.query,
        "--db",
        fx.dir,
        "--table",
        "docs",
        "--model",
        TINY_MISTRAL,
        "--task",
        "question",
        "--k",
        "4",
        "--mode",
        mode,
        "--filter",
        JSON.stringify(body.filter),
        "--json",
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      const viaCli = JSON.parse(cli.stdout) as typeof viaHttp;
      assert.deepEqual(Object.keys(viaCli).sort(), ["results", "took_ms"]);
      const strip = (r: typeof viaHttp) =>
        r.results.map(({ score, ...rest }) => ({ ...rest, score: score.toFixed(5) }));
      assert.deepEqual(strip(viaCli), strip(viaHttp), mode);
      assert.ok(viaHttp.results.length > 0);
    }
  });

  test("the CLI refuses a model that did not build the table, naming both; bad filters exit 2", async () => {
    const mismatch = await runCli(["search", "x", "--db", fx.dir, "--model", TINY_QWEN2]);
    assert.equal(mismatch.code, 2);
    assert.match(mismatch.stderr, /tiny-mistral.*tiny-qwen2/);
    const badFilter = await runCli(["search", "x", "--db", fx.dir, "--model", TINY_MISTRAL, "--filter", '{"x":1}']);
    assert.equal(badFilter.code, 2);
    assert.match(badFilter.stderr, /unknown field "x"/);
    const notJson = await runCli(["search", "x", "--db", fx.dir, "--model", TINY_MISTRAL, "--filter", "source = 'a'"]);
    assert.equal(notJson.code, 2);
    assert.match(notJson.stderr, /--filter is not valid JSON/);
    const task = await runCli(["search", "x", "--db", fx.dir, "--model", TINY_MISTRAL, "--task", "nope"]);
    assert.equal(task.code, 2);
    assert.match(task.stderr, /known tasks/);
  });

  test("a chunked body over the limit is cut off with 413 (no Content-Length to trust)", async () => {
    const server = await start({ limits: { maxBodyBytes: 4096 } });
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        `${server.url}/v1/embeddings`,
        { method: "POST", headers: { "Content-Type": "application/json", "Transfer-Encoding": "chunked" } },
        (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on("error", reject);
      req.write('{"model":"default","input":"');
      for (let i = 0; i < 10; i++) req.write("y".repeat(1000));
      req.end('"}');
    });
    assert.equal(status, 413);
    assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, "payload_too_large");
  });

  test("graceful shutdown: in-flight requests finish, new connections are refused", async () => {
    // After a batch of two callers the batcher expects two again, so a lone request waits up to the 2 s batching
    // window: it is in flight while shutdown starts.
    const server = await start({ batching: { batchWindowMs: 2000, maxBatchesInFlight: 1 } });
    const post = (input: string) =>
      fetch(`${server.url}/v1/embeddings`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "default", input }),
      });
    const warm = await Promise.all([post("warm"), post("up")]);
    assert.deepEqual(
      warm.map((r) => r.status),
      [200, 200],
    );
    const inFlight = post("still answered");
    await new Promise((r) => setTimeout(r, 100));
    const closed = server.shutdown();
    const response = await inFlight;
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { data: unknown[] }).data.length, 1);
    await closed;
    await assert.rejects(fetch(`${server.url}/health`), /fetch failed/);
  });

  test("load: several thousand requests at concurrency 32 finish with zero 5xx and zero errors", async () => {
    const server = await start();
    const queries = ["light", "nation", "truths", "Mancha", "gloire", "Philosophie", "people", "free"];
    let i = 0;
    const result = await autocannon({
      url: `${server.url}/search`,
      connections: 32,
      amount: 3000,
      requests: [
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          setupRequest: (req) => {
            i++;
            const mode = i % 10 === 0 ? "hybrid" : i % 5 === 0 ? "fulltext" : "vector";
            return { ...req, body: JSON.stringify({ query: queries[i % queries.length], k: 5, mode }) };
          },
        },
      ],
    });
    assert.equal(result.errors, 0);
    assert.equal(result.timeouts, 0);
    assert.equal(result["5xx"], 0);
    assert.equal(result.non2xx, 0);
    assert.equal(result["2xx"], 3000);
    // Concurrency must have produced shared model calls (the micro-batcher at work).
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const sum = Number(/lance_e5_embed_batch_size_sum (\d+)/.exec(metrics)?.[1]);
    const count = Number(/lance_e5_embed_batch_size_count (\d+)/.exec(metrics)?.[1]);
    assert.ok(sum / count > 1.5, `mean batch size ${sum}/${count}`);
  });
});

describe("`lance-e5 serve`", () => {
  function serveProcess(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; url: Promise<string> } {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(REPO_ROOT, "src/cli/main.ts"), "serve", "--port", "0", ...args],
      { cwd: REPO_ROOT, env: { ...process.env, LANCE_E5_THREADS: "1", ...env } },
    );
    let stderr = "";
    const url = new Promise<string>((resolve, reject) => {
      child.stderr!.on("data", (chunk) => {
        stderr += chunk;
        const match = /listening on (http:\/\/\S+)/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    });
    return { child, url };
  }

  test("serves with keys from LANCE_E5_API_KEYS and flags from env, then drains and exits 0 on SIGTERM", async () => {
    const { child, url } = serveProcess(["--db", fx.dir, "--model", TINY_MISTRAL], {
      LANCE_E5_API_KEYS: "k1,k2",
      LANCE_E5_MAX_K: "3",
    });
    const base = await url;
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    const post = (key: string, body: unknown) =>
      fetch(`${base}/search`, {
        method: "POST",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    assert.equal((await post("nope", { query: "x" })).status, 401);
    assert.equal((await post("k2", { query: "x", k: 3 })).status, 200);
    assert.equal((await post("k2", { query: "x", k: 4 })).status, 400);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  });

  test("--max-batches-in-flight below 1 (flag or env) is refused, naming the setting", async () => {
    const byFlag = await runCli(["serve", "--port", "0", "--db", fx.dir, "--max-batches-in-flight", "0"]);
    assert.equal(byFlag.code, 2);
    assert.match(byFlag.stderr, /--max-batches-in-flight.*'0' is invalid/);
    const byEnv = await runCli(["serve", "--port", "0", "--db", fx.dir], { LANCE_E5_MAX_BATCHES_IN_FLIGHT: "x" });
    assert.equal(byEnv.code, 2);
    assert.match(byEnv.stderr, /LANCE_E5_MAX_BATCHES_IN_FLIGHT.*invalid/);
  });

  test("refuses to start with a model that did not build the default table", async () => {
    const run = await runCli(["serve", "--port", "0", "--db", fx.dir, "--model", TINY_QWEN2]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /tiny-mistral.*tiny-qwen2/);
  });
});
