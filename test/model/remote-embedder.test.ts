import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { approximateTokenCount } from "../../src/model/approximate-tokens.ts";
import type { Embedder, LocalEmbedder } from "../../src/model/embedder.ts";
import { ModelDirectoryError } from "../../src/model/errors.ts";
import { loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { loadRemoteEmbedder, remoteEndpoints } from "../../src/model/remote-embedder.ts";
import {
  RemoteAuthError,
  RemoteDimensionError,
  RemoteHttpError,
  RemoteModelMismatchError,
  RemoteModelNotFoundError,
  RemoteResponseError,
  RemoteUnreachableError,
} from "../../src/model/remote-errors.ts";
import { remoteModelIdentity } from "../../src/model/remote-model.ts";
import { createApp } from "../../src/server/app.ts";
import { listen, type RunningServer } from "../../src/server/serve.ts";
import { CORPUS, TINY_MISTRAL, TINY_QWEN2, tempDir } from "../search/helpers.ts";
import { maxAbsDiff } from "../server/helpers.ts";
import { type FakeEmbeddings, fakeVector, startFakeEmbeddings } from "./remote-embedder-fake.ts";

/**
 * The remote backend against a real `lance-e5 serve` app on a loopback socket (tiny-mistral fixture): vectors
 * equal the local ONNX ones, identities, auth, model and dimension errors. Failure modes a real server will not
 * produce on demand (429/503, hangs, malformed bodies) use a fake endpoint.
 */

let local: LocalEmbedder;
let server: RunningServer;
let securedServer: RunningServer;
let cleanup: () => Promise<void>;
const fakes: FakeEmbeddings[] = [];
const remotes: Embedder[] = [];
const FAST_RETRY = { retryBaseMs: 5, retryMaxMs: 20 };

before(async () => {
  local = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
  const tmp = await tempDir("lance-e5-remote-");
  cleanup = tmp.cleanup;
  const db = await lancedb.connect(tmp.dir);
  const app = (apiKeys: string[]) => createApp({ embedder: local, db, defaultTable: "docs", apiKeys, log: () => {} });
  server = await listen(app([]), { port: 0 });
  securedServer = await listen(app(["sk-right"]), { port: 0 });
});

after(async () => {
  for (const remote of remotes) await remote.dispose();
  for (const fake of fakes) await fake.close();
  await server.shutdown();
  await securedServer.shutdown();
  await local.dispose();
  await cleanup();
});

async function remote(options: Partial<Parameters<typeof loadRemoteEmbedder>[0]> = {}): Promise<Embedder> {
  const embedder = await loadRemoteEmbedder({
    url: server.url,
    source: { kind: "directory", dir: TINY_MISTRAL },
    retry: FAST_RETRY,
    ...options,
  });
  remotes.push(embedder);
  return embedder;
}

async function fake(dim = 8): Promise<FakeEmbeddings> {
  const f = await startFakeEmbeddings({ dim });
  fakes.push(f);
  return f;
}

function assertClose(actual: Float32Array[], expected: Float32Array[], label: string): void {
  assert.equal(actual.length, expected.length, label);
  actual.forEach((vector, i) => {
    const diff = maxAbsDiff(vector, expected[i]!);
    assert.ok(diff <= 1e-5, `${label} ${i}: max |diff| ${diff}`);
  });
}

const TEXTS = [...CORPUS.map((d) => d.text), "emoji 👩‍👩‍👧 and CJK 日本語", "x"];

describe("against a real lance-e5 server", () => {
  test("documents, instructed queries and raw texts equal the local ONNX vectors (≤ 1e-5)", async () => {
    const embedder = await remote();
    assert.deepEqual(embedder.identity, local.identity, "a full model directory keeps its own identity");
    assert.equal(embedder.dim, local.dim);
    assert.equal(embedder.maxLength, local.maxLength);
    assertClose(await embedder.embedDocuments(TEXTS), await local.embedDocuments(TEXTS), "documents");
    assertClose(await embedder.embedRaw(TEXTS), await local.embedRaw(TEXTS), "raw");
    const queries = ["who wrote the declaration?", "creation of the heavens"];
    for (const options of [{}, { task: "question" }, { instruction: "Find old speeches" }]) {
      assertClose(
        await embedder.embedQueries(queries, options),
        await local.embedQueries(queries, options),
        `queries ${JSON.stringify(options)}`,
      );
      assert.equal(embedder.formatQuery(queries[0]!, options), local.formatQuery(queries[0]!, options));
    }
    // Token counts come from the directory's own tokenizer.
    assert.deepEqual(embedder.encode(TEXTS[0]!), local.encode(TEXTS[0]!));
    assert.equal(embedder.countTokens(TEXTS[1]!), local.countTokens(TEXTS[1]!));
  });

  test("an over-length text is truncated by the server exactly as locally; truncate: false refuses it", async () => {
    const embedder = await remote();
    const long = `${"The quick brown fox jumps over the lazy dog. ".repeat(200)}`;
    assert.ok(local.encode(long).truncated, "the text must exceed the fixture's max length");
    assertClose(await embedder.embedDocuments([long]), await local.embedDocuments([long]), "long");
    await assert.rejects(embedder.embedDocuments(["short", long], { truncate: false }), /input 1: text is longer/);
  });

  test("batches of --embedder-batch-size, in flight together, come back in input order", async () => {
    const embedder = await remote({ batchSize: 2, concurrency: 3 });
    const progress: number[] = [];
    const vectors = await embedder.embedDocuments(TEXTS, { onProgress: (done) => progress.push(done) });
    assertClose(vectors, await local.embedDocuments(TEXTS), "batched");
    assert.equal(progress.length, Math.ceil(TEXTS.length / 2), "one progress call per request");
    assert.equal(progress.at(-1), TEXTS.length);
  });

  test("401 without the right key names the flag to fix it; the right key works", async () => {
    const noKey = await remote({ url: `${securedServer.url}/v1` });
    await assert.rejects(noKey.embedDocuments(["hello"]), (error: Error) => {
      assert.ok(error instanceof RemoteAuthError, error.message);
      assert.equal(error.status, 401);
      assert.match(error.message, /HTTP 401/);
      assert.match(error.message, /--embedder-api-key-env/);
      return true;
    });
    const wrongKey = await remote({ url: securedServer.url, apiKey: "sk-wrong" });
    await assert.rejects(wrongKey.embedDocuments(["hello"]), RemoteAuthError);
    const rightKey = await remote({ url: securedServer.url, apiKey: "sk-right" });
    assertClose(await rightKey.embedDocuments(["hello"]), await local.embedDocuments(["hello"]), "with key");
  });

  test("a model the server does not serve is a 404 naming the model", async () => {
    const embedder = await remote({ model: "not-this-one" });
    await assert.rejects(embedder.embedDocuments(["hello"]), (error: Error) => {
      assert.ok(error instanceof RemoteModelNotFoundError, error.message);
      assert.match(error.message, /not-this-one/);
      return true;
    });
  });

  test("vectors of another size than described are a dimension error (at load: the server states its dim)", async () => {
    await assert.rejects(
      remote({ source: { kind: "flags", outputDim: 32 }, model: "tiny-mistral" }),
      (error: Error) => {
        assert.ok(error instanceof RemoteDimensionError, error.message);
        assert.equal(error.got, local.dim);
        assert.equal(error.expected, 32);
        return true;
      },
    );
  });

  test("a remote descriptor (no ONNX files): its identity, approximate counts, same vectors", async () => {
    const { dir, cleanup: remove } = await tempDir("lance-e5-descriptor-");
    try {
      const descriptor = {
        format_version: 1,
        name: "tiny via http",
        output_dim: local.dim,
        max_length: local.maxLength,
        instruction_template: local.config.instruction_template,
        default_task: local.config.default_task,
        backend: { type: "remote", model: "tiny-mistral" },
      };
      writeFileSync(path.join(dir, "lance-e5.json"), JSON.stringify(descriptor));
      // A lance-e5 server states its identity in /health: an unpinned descriptor adopts it, so tables built
      // through the server and locally with the same model are interchangeable.
      const embedder = await remote({ source: { kind: "directory", dir } });
      assert.deepEqual(embedder.identity, local.identity);
      // Against an endpoint that states nothing (TEI, vLLM, OpenAI), the identity derives from the description.
      const f = await fake(local.dim);
      const unstated = await remote({ url: f.url, source: { kind: "directory", dir } });
      assert.deepEqual(
        unstated.identity,
        remoteModelIdentity("tiny via http", "tiny-mistral", descriptor.instruction_template, local.dim),
      );
      assert.notEqual(unstated.identity.hash, local.identity.hash, "unpinned: not the local identity");
      assert.equal(embedder.countTokens(TEXTS[0]!), approximateTokenCount(TEXTS[0]!));
      assertClose(await embedder.embedQueries(["a query"]), await local.embedQueries(["a query"]), "descriptor");

      // Pinning the local identity makes tables interchangeable (the user vouches for it).
      const pinned = path.join(dir, "pinned");
      mkdirSync(pinned);
      writeFileSync(
        path.join(pinned, "lance-e5.json"),
        JSON.stringify({ ...descriptor, backend: { ...descriptor.backend, identity_hash: local.identity.hash } }),
      );
      const pinnedEmbedder = await remote({ source: { kind: "directory", dir: pinned } });
      assert.equal(pinnedEmbedder.identity.hash, local.identity.hash);

      // A descriptor with an onnx block is contradictory.
      const contradictory = path.join(dir, "contradictory");
      mkdirSync(contradictory);
      writeFileSync(
        path.join(contradictory, "lance-e5.json"),
        JSON.stringify({ ...descriptor, onnx: local.config.onnx }),
      );
      await assert.rejects(
        remote({ source: { kind: "directory", dir: contradictory } }),
        /must not have an onnx block/,
      );

      // The local runtime refuses a descriptor and says what to do instead.
      await assert.rejects(loadEmbedder(dir), (error: Error) => {
        assert.ok(error instanceof ModelDirectoryError);
        assert.match(error.message, /remote model.*--embedder-url/);
        return true;
      });
    } finally {
      await remove();
    }
  });

  test("a lance-e5 server embedding through another (a gateway) serves the same vectors", async () => {
    const embedder = await remote();
    const tmp = await tempDir("lance-e5-gateway-");
    try {
      const gateway = createApp({
        embedder,
        db: await lancedb.connect(tmp.dir),
        defaultTable: "docs",
        log: () => {},
      });
      const response = await gateway.app.request("/v1/embeddings", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          model: "tiny-mistral",
          input: TEXTS.slice(0, 3),
          input_type: "query",
          task: "question",
        }),
      });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { data: Array<{ embedding: number[] }> };
      const expected = await local.embedQueries(TEXTS.slice(0, 3), { task: "question" });
      for (const [i, item] of body.data.entries()) {
        assert.ok(maxAbsDiff(item.embedding, expected[i]!) <= 1e-5, `gateway ${i}`);
      }
    } finally {
      await tmp.cleanup();
    }
  });

  test("the server states its identity in /health: a client describing another model is refused at load", async () => {
    const health = (await (await fetch(`${server.url}/health`)).json()) as { identity?: unknown };
    assert.deepEqual(health.identity, local.identity);
    await assert.rejects(remote({ source: { kind: "directory", dir: TINY_QWEN2 } }), (error: Error) => {
      assert.ok(error instanceof RemoteModelMismatchError, error.message);
      assert.match(error.message, /tiny-mistral/);
      return true;
    });
  });

  test("a gateway whose upstream fails for good answers 502 embedder_unavailable, not a 500", async () => {
    const f = await fake(local.dim);
    const embedder = await remote({
      url: f.url,
      source: { kind: "flags", outputDim: local.dim },
      model: "fake-model",
      retry: { ...FAST_RETRY, maxRetries: 0 },
    });
    const tmp = await tempDir("lance-e5-gateway-down-");
    try {
      const gateway = createApp({ embedder, db: await lancedb.connect(tmp.dir), defaultTable: "docs", log: () => {} });
      f.push({ status: 503 });
      const response = await gateway.app.request("/v1/embeddings", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "default", input: ["hello"] }),
      });
      assert.equal(response.status, 502);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, "embedder_unavailable");
      assert.match(body.error.message, /503/);
    } finally {
      await tmp.cleanup();
    }
  });

  test("the identity of a remote model depends on its name, template and dim, not on the URL", () => {
    const base = remoteModelIdentity("a", "e5-mistral-7b-instruct", "Instruct: {task}\nQuery: {query}", 4096);
    assert.equal(
      remoteModelIdentity("renamed", "e5-mistral-7b-instruct", "Instruct: {task}\nQuery: {query}", 4096).hash,
      base.hash,
    );
    assert.notEqual(remoteModelIdentity("a", "other", "Instruct: {task}\nQuery: {query}", 4096).hash, base.hash);
    assert.notEqual(
      remoteModelIdentity("a", "e5-mistral-7b-instruct", "Instruct: {task}\nQuery:{query}", 4096).hash,
      base.hash,
    );
    assert.notEqual(
      remoteModelIdentity("a", "e5-mistral-7b-instruct", "Instruct: {task}\nQuery: {query}", 1024).hash,
      base.hash,
    );
  });
});

describe("against a fake endpoint (failure modes)", () => {
  const flags = (dim = 8) => ({ source: { kind: "flags", outputDim: dim } as const, model: "fake-model" });

  test("batching splits large inputs (longest first) and places vectors by index; no lance-e5 extras to others", async () => {
    const f = await fake();
    const embedder = await remote({ url: f.url, ...flags(), batchSize: 3, concurrency: 1 });
    const texts = Array.from({ length: 10 }, (_, i) => `text number ${i}${" and more".repeat(i % 4)}`);
    const vectors = await embedder.embedDocuments(texts);
    assert.deepEqual(
      f.requests.map((r) => r.body.input?.length),
      [3, 3, 3, 1],
    );
    const longestFirst = [...texts].sort((a, b) => b.length - a.length);
    assert.deepEqual(
      f.requests.flatMap((r) => r.body.input),
      longestFirst,
      "requests hold texts of similar length",
    );
    for (const [i, vector] of vectors.entries()) {
      const expected = fakeVector(texts[i]!, 8);
      const norm = Math.hypot(...expected);
      assert.ok(
        maxAbsDiff(
          vector,
          expected.map((v) => v / norm),
        ) < 1e-6,
        `vector ${i} in place and normalised`,
      );
    }
    const body = f.requests[0]!.body;
    assert.equal(body.model, "fake-model");
    assert.equal(body.input_type, undefined, "input_type goes to lance-e5 servers only");
    assert.equal(body.truncate, undefined);
  });

  test("queries are formatted client-side and sent as plain text", async () => {
    const f = await fake();
    const embedder = await remote({ url: f.url, ...flags() });
    await embedder.embedQueries(["what is lance?"], { task: "question" });
    assert.deepEqual(f.requests[0]!.body.input, [
      "Instruct: Given a question, retrieve Wikipedia passages that answer the question\nQuery: what is lance?",
    ]);
  });

  test("429 with Retry-After, then 503, then success: retried, honouring Retry-After", async () => {
    const f = await fake();
    f.push({ status: 429, headers: { "Retry-After": "1" } }, { status: 503 });
    const embedder = await remote({ url: f.url, ...flags() });
    const [vector] = await embedder.embedDocuments(["hello"]);
    assert.equal(vector!.length, 8);
    assert.equal(f.requests.length, 3);
    const waited = f.requests[1]!.receivedAt - f.requests[0]!.receivedAt;
    assert.ok(waited >= 950, `waited ${waited} ms after Retry-After: 1`);
  });

  test("a persisting 503 fails after the configured retries; 400 is not retried", async () => {
    const f = await fake();
    f.push(...Array.from({ length: 3 }, () => ({ status: 503 })));
    const embedder = await remote({ url: f.url, ...flags(), retry: { ...FAST_RETRY, maxRetries: 2 } });
    await assert.rejects(embedder.embedDocuments(["hello"]), (error: Error) => {
      assert.ok(error instanceof RemoteHttpError, error.message);
      assert.equal(error.status, 503);
      assert.equal(error.retries, 2);
      return true;
    });
    assert.equal(f.requests.length, 3);

    f.push({ status: 400, body: { error: { message: "input is bad" } } });
    await assert.rejects(embedder.embedDocuments(["hello"]), /HTTP 400: input is bad/);
    assert.equal(f.requests.length, 4);
  });

  test("after a request fails for good, no further batches are sent", async () => {
    const f = await fake();
    f.push({ status: 400, body: { error: { message: "refused" } } });
    const embedder = await remote({ url: f.url, ...flags(), batchSize: 1, concurrency: 2 });
    const texts = Array.from({ length: 20 }, (_, i) => `text ${i}`);
    await assert.rejects(embedder.embedDocuments(texts), /HTTP 400: refused/);
    assert.ok(f.requests.length <= 3, `${f.requests.length} requests`);
  });

  test("a request that hangs times out, is retried, then fails as unreachable", async () => {
    const f = await fake();
    f.push({ hang: true }, { hang: true });
    const embedder = await remote({ url: f.url, ...flags(), retry: { ...FAST_RETRY, timeoutMs: 200, maxRetries: 1 } });
    await assert.rejects(embedder.embedDocuments(["hello"]), (error: Error) => {
      assert.ok(error instanceof RemoteUnreachableError, error.message);
      assert.match(error.message, /timeout after 200 ms/);
      return true;
    });
    assert.equal(f.requests.length, 2);
  });

  test("a lance-e5 server stating its identity: adopted by a name-derived description, checked against a vouched one", async () => {
    const stated = { name: "served", hash: "a".repeat(64), dim: 8 };
    const f = await startFakeEmbeddings({ health: { status: "ok", model: "fake-model", identity: stated } });
    fakes.push(f);
    const adopted = await remote({ url: f.url, ...flags() });
    assert.deepEqual(adopted.identity, stated);
    await adopted.embedDocuments(["hello"]);
    assert.equal(f.requests[0]!.body.input_type, "raw", "a lance-e5 server gets input_type raw");
    assert.equal(f.requests[0]!.body.truncate, true);

    const other = await startFakeEmbeddings({
      dim: local.dim,
      health: { status: "ok", model: "tiny-mistral", identity: { ...stated, dim: local.dim } },
    });
    fakes.push(other);
    await assert.rejects(remote({ url: other.url }), (error: Error) => {
      assert.ok(error instanceof RemoteModelMismatchError, error.message);
      assert.match(error.message, /serves model "served"/);
      return true;
    });
    const same = await startFakeEmbeddings({
      dim: local.dim,
      health: { status: "ok", model: "tiny-mistral", identity: local.identity },
    });
    fakes.push(same);
    assert.deepEqual((await remote({ url: same.url })).identity, local.identity);
  });

  test("malformed answers are clear errors", async () => {
    const f = await fake();
    const embedder = await remote({
      url: f.url,
      ...flags(),
      retry: { ...FAST_RETRY, maxRetries: 0 },
    });
    const cases: Array<[string, RegExp]> = [
      ["not json", /not JSON/],
      ["{}", /no "data" array/],
      ['{"data": []}', /0 embeddings for 1 inputs/],
      ['{"data": [{"index": 0, "embedding": [1, "a", 3, 4, 5, 6, 7, 8]}]}', /embedding\[1\] is not a finite number/],
      ['{"data": [{"index": 5, "embedding": [1, 2, 3, 4, 5, 6, 7, 8]}]}', /index 5 is not an input index/],
      ['{"data": [{"index": 0, "embedding": [0, 0, 0, 0, 0, 0, 0, 0]}]}', /all zeros/],
    ];
    for (const [raw, pattern] of cases) {
      f.push({ raw });
      await assert.rejects(embedder.embedDocuments(["hello"]), (error: Error) => {
        assert.ok(error instanceof RemoteResponseError, `${raw}: ${error.message}`);
        assert.match(error.message, pattern, raw);
        return true;
      });
    }
    // base64 answers (OpenAI's default in its SDKs) decode as little-endian float32.
    const floats = new Float32Array([3, 4, 0, 0, 0, 0, 0, 0]);
    f.push({ raw: JSON.stringify({ data: [{ index: 0, embedding: Buffer.from(floats.buffer).toString("base64") }] }) });
    const [vector] = await embedder.embedDocuments(["hello"]);
    assert.deepEqual(Array.from(vector!.slice(0, 2)), [Math.fround(0.6), Math.fround(0.8)]);
  });

  test("an endpoint nobody listens on fails at load, naming it", async () => {
    const f = await fake();
    await f.close();
    await assert.rejects(
      loadRemoteEmbedder({ url: f.url, ...flags(), retry: { ...FAST_RETRY, maxRetries: 1 } }),
      (error: Error) => {
        assert.ok(error instanceof RemoteUnreachableError, error.message);
        assert.ok(error.message.includes("127.0.0.1"), error.message);
        return true;
      },
    );
  });
});

describe("endpoints and token estimates", () => {
  test("--embedder-url takes a server root, a /v1 base or the full embeddings URL", () => {
    for (const url of ["http://h:8080", "http://h:8080/", "http://h:8080/v1", "http://h:8080/v1/embeddings"]) {
      assert.deepEqual(remoteEndpoints(url), {
        embeddings: "http://h:8080/v1/embeddings",
        health: "http://h:8080/health",
      });
    }
    assert.equal(remoteEndpoints("https://gw.example/e5/v1").embeddings, "https://gw.example/e5/v1/embeddings");
    assert.throws(() => remoteEndpoints("not a url"), /not a URL/);
    assert.throws(() => remoteEndpoints("ftp://h/v1"), /http:\/\/ or https:\/\//);
    assert.throws(() => remoteEndpoints("http://user:secret@h/v1"), /credentials/);
  });

  test("the approximate count does not fall short of the real one on prose, code and numbers", () => {
    const texts = [...TEXTS, "const sum = (a: number, b: number) => a + b; // 42", "Pi is 3.14159, e is 2.71828."];
    for (const text of texts) {
      assert.ok(
        approximateTokenCount(text) >= local.countTokens(text),
        `${JSON.stringify(text.slice(0, 30))}: estimate ${approximateTokenCount(text)} < ${local.countTokens(text)}`,
      );
    }
  });
});
