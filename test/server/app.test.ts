import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadEmbedder } from "../../src/model/index.ts";
import { search } from "../../src/search/index.ts";
import { schemaErrors } from "../../src/server/schemas.ts";
import { buildTable, CORPUS, TINY_MISTRAL, TINY_QWEN2 } from "../search/helpers.ts";
import { decodeBase64Floats, errorOf, maxAbsDiff, postJson, type ServerFixture, serverFixture } from "./helpers.ts";

/**
 * The Hono app in-process (app.request()), with the real tiny Mistral model and real LanceDB tables built by the
 * ingest pipeline. Random weights: vector expectations compare against the library/runtime computing the same
 * thing, never against "relevance".
 */

let fx: ServerFixture;

before(async () => {
  fx = await serverFixture();
});
after(async () => {
  await fx.cleanup();
});

async function expectError(response: Response | Promise<Response>, status: number, code: string, mentions?: RegExp) {
  const error = await errorOf(await response);
  assert.equal(error.status, status, `${error.code}: ${error.message}`);
  assert.equal(error.code, code, error.message);
  if (mentions) assert.match(error.message, mentions);
  return error;
}

describe("POST /search", () => {
  test("returns what the library returns, in the documented shape, for every mode", async () => {
    const lanceE5 = await fx.app();
    for (const mode of ["vector", "fulltext", "hybrid"] as const) {
      const body = { query: "God created light", task: "question", k: 5, mode };
      const response = await postJson(lanceE5, "/search", body);
      assert.equal(response.status, 200);
      const json = (await response.json()) as { results: Array<{ id: string; score: number }>; took_ms: number };
      assert.deepEqual(schemaErrors("SearchResponse", json), []);
      const direct = await search({ ...body, db: fx.db, tableName: "docs", embedder: fx.embedder });
      assert.deepEqual(
        json.results.map((r) => r.id),
        direct.results.map((r) => r.id),
        mode,
      );
      for (const [i, r] of json.results.entries()) assert.ok(Math.abs(r.score - direct.results[i]!.score) <= 1e-6);
    }
  });

  test("filters reach LanceDB safely: injection attempts are values, SQL in names is refused", async () => {
    const lanceE5 = await fx.app();
    const ok = await postJson(lanceE5, "/search", { query: "x", k: 20, filter: { "metadata.lang": "de" } });
    assert.deepEqual(
      ((await ok.json()) as { results: Array<{ doc_id: string }> }).results.map((r) => r.doc_id),
      ["faust"],
    );
    for (const attack of ["' OR 1=1 --", "x' OR '1'='1", "`source`", "a'; DROP TABLE docs; --"]) {
      const response = await postJson(lanceE5, "/search", { query: "x", k: 20, filter: { source: attack } });
      assert.equal(response.status, 200);
      assert.deepEqual(((await response.json()) as { results: unknown[] }).results, [], attack);
    }
    const quoted = await postJson(lanceE5, "/search", { query: "x", filter: { doc_id: "o'brien" } });
    assert.equal(((await quoted.json()) as { results: unknown[] }).results.length, 1);
    await expectError(
      postJson(lanceE5, "/search", { query: "x", filter: { "source = 'a' OR 1=1 --": "a" } }),
      400,
      "invalid_filter",
      /unknown field "source = 'a' OR 1=1 --"/,
    );
    await expectError(
      postJson(lanceE5, "/search", { query: "x", filter: { source: { $regex: ".*" } } }),
      400,
      "invalid_filter",
      /unknown operator "\$regex"/,
    );
    await expectError(
      postJson(lanceE5, "/search", { query: "x", filter: "source = 'a' OR 1=1" }),
      400,
      "invalid_request",
      /filter: must be object/,
    );
  });

  test("every validation error is a 400 naming the problem", async () => {
    const lanceE5 = await fx.app({ limits: { maxK: 50 } });
    const cases: Array<[unknown, string, RegExp]> = [
      [{}, "invalid_request", /body: must have required property 'query'/],
      [{ query: "" }, "invalid_request", /query: must NOT have fewer than 1 characters/],
      [{ query: 5 }, "invalid_request", /query: must be string/],
      [{ query: "x", k: 0 }, "invalid_request", /k: must be >= 1/],
      [{ query: "x", k: "5" }, "invalid_request", /k: must be integer/],
      [{ query: "x", k: 51 }, "invalid_request", /k: must be at most 50/],
      [{ query: "x", mode: "semantic" }, "invalid_request", /mode: must be one of "vector", "fulltext", "hybrid"/],
      [{ query: "x", sql: "1=1" }, "invalid_request", /unknown field "sql"/],
      [{ query: "x", table: "../etc" }, "invalid_request", /table: must match pattern/],
      [{ query: "x", task: "nope" }, "unknown_task", /unknown task "nope"; known tasks: .*web_search/],
      [{ query: "x", task: "question", instruction: "y" }, "invalid_request", /not both/],
      [{ query: "   " }, "invalid_request", /query: must be a non-empty string/],
      [[{ query: "x" }], "invalid_request", /body: must be object/],
    ];
    for (const [body, code, message] of cases) {
      await expectError(postJson(lanceE5, "/search", body), 400, code, message);
    }
    await expectError(postJson(lanceE5, "/search", "{not json"), 400, "invalid_json", /not valid JSON/);
    await expectError(postJson(lanceE5, "/search", { query: "x", table: "missing" }), 404, "table_not_found");
  });

  test("a table embedded by another model is a 409 naming both models; no FTS index is a 409 too", async () => {
    const qwen = await loadEmbedder(TINY_QWEN2, { threads: 1 });
    try {
      await buildTable(fx.dir, qwen, CORPUS.slice(0, 2), "qwen_docs");
    } finally {
      await qwen.dispose();
    }
    const lanceE5 = await fx.app();
    await expectError(
      postJson(lanceE5, "/search", { query: "x", table: "qwen_docs" }),
      409,
      "model_mismatch",
      /tiny-qwen2.*tiny-mistral/,
    );

    await buildTable(fx.dir, fx.embedder, CORPUS.slice(0, 2), "no_fts");
    const table = await fx.db.openTable("no_fts");
    for (const index of await table.listIndices()) await table.dropIndex(index.name);
    await expectError(
      postJson(lanceE5, "/search", { query: "x", table: "no_fts", mode: "fulltext" }),
      409,
      "no_fulltext_index",
    );
  });

  test("an unexpected failure is a 500 internal_error with no internals; the log gets the details", async () => {
    await buildTable(fx.dir, fx.embedder, CORPUS.slice(0, 2), "broken");
    const logged: string[] = [];
    const lanceE5 = await fx.app({ log: (m) => logged.push(m) });
    await postJson(lanceE5, "/search", { query: "x", table: "broken" }); // opens and caches the target
    await rm(path.join(fx.dir, "broken.lance", "data"), { recursive: true, force: true });
    const response = await postJson(lanceE5, "/search", { query: "x", table: "broken" });
    const error = await expectError(response, 500, "internal_error");
    assert.equal(error.message, "internal server error");
    assert.ok(logged.some((line) => line.includes("POST /search failed")));
  });
});

describe("POST /v1/embeddings", () => {
  test("documents (default), float and base64, equal the runtime's vectors; usage counts tokens", async () => {
    const lanceE5 = await fx.app();
    const input = [CORPUS[0]!.text, "ünïcödé ✓ 日本語 🎉", "short"];
    const expected = await fx.embedder.embedDocuments(input);
    const tokens = input.reduce((n, t) => n + fx.embedder.encode(t).ids.length, 0);

    const floatRes = await postJson(lanceE5, "/v1/embeddings", { input, model: "tiny-mistral" });
    assert.equal(floatRes.status, 200);
    const floatJson = (await floatRes.json()) as {
      object: string;
      model: string;
      data: Array<{ object: string; index: number; embedding: number[] }>;
      usage: { prompt_tokens: number; total_tokens: number };
    };
    assert.deepEqual(schemaErrors("EmbeddingsResponse", floatJson), []);
    assert.equal(floatJson.object, "list");
    assert.equal(floatJson.model, "tiny-mistral");
    assert.deepEqual(floatJson.usage, { prompt_tokens: tokens, total_tokens: tokens });
    for (const [i, d] of floatJson.data.entries()) {
      assert.equal(d.index, i);
      assert.equal(d.object, "embedding");
      assert.ok(maxAbsDiff(d.embedding, expected[i]!) <= 1e-6);
    }

    const b64Res = await postJson(lanceE5, "/v1/embeddings", { input, model: "default", encoding_format: "base64" });
    const b64Json = (await b64Res.json()) as { data: Array<{ embedding: string }> };
    for (const [i, d] of b64Json.data.entries()) {
      assert.equal(typeof d.embedding, "string");
      assert.ok(maxAbsDiff(decodeBase64Floats(d.embedding), expected[i]!) <= 1e-6);
    }

    const single = (await (await postJson(lanceE5, "/v1/embeddings", { input: "short", model: "default" })).json()) as {
      data: Array<{ embedding: number[] }>;
    };
    assert.equal(single.data.length, 1);
    assert.ok(maxAbsDiff(single.data[0]!.embedding, expected[2]!) <= 1e-6);
  });

  test("input_type query applies the instruction; raw applies nothing", async () => {
    const lanceE5 = await fx.app();
    const input = ["what is the pass key for Ada?"];
    const cases: Array<[Record<string, unknown>, Float32Array]> = [
      [{ input_type: "query", task: "passkey" }, (await fx.embedder.embedQueries(input, { task: "passkey" }))[0]!],
      [
        { input_type: "query", instruction: "Find it" },
        (await fx.embedder.embedQueries(input, { instruction: "Find it" }))[0]!,
      ],
      [{ input_type: "query" }, (await fx.embedder.embedQueries(input))[0]!],
      [{ input_type: "raw" }, (await fx.embedder.embedRaw(input))[0]!],
    ];
    for (const [extra, expected] of cases) {
      const response = await postJson(lanceE5, "/v1/embeddings", { input, model: "default", ...extra });
      const json = (await response.json()) as { data: Array<{ embedding: number[] }> };
      assert.ok(maxAbsDiff(json.data[0]!.embedding, expected) <= 1e-6, JSON.stringify(extra));
    }
    const doc = (await fx.embedder.embedDocuments(input))[0]!;
    assert.ok(maxAbsDiff(doc, cases[0]![1]) > 1e-3, "the instruction must change the vector");
  });

  test("over-length inputs: 400 naming the input unless truncate is true", async () => {
    const lanceE5 = await fx.app();
    const long = "word ".repeat(2000);
    await expectError(
      postJson(lanceE5, "/v1/embeddings", { input: ["fine", long], model: "default" }),
      400,
      "input_too_long",
      /input 1: longer than the model's 512 tokens; send "truncate": true/,
    );
    const response = await postJson(lanceE5, "/v1/embeddings", {
      input: ["fine", long],
      model: "default",
      truncate: true,
    });
    assert.equal(response.status, 200);
    const json = (await response.json()) as { data: Array<{ embedding: number[] }>; usage: { prompt_tokens: number } };
    const expected = (await fx.embedder.embedDocuments([long], { truncate: true }))[0]!;
    assert.ok(maxAbsDiff(json.data[1]!.embedding, expected) <= 1e-6);
    assert.equal(json.usage.prompt_tokens, fx.embedder.encode("fine").ids.length + 512);
  });

  test("every validation error is a 4xx with its code", async () => {
    const lanceE5 = await fx.app({ limits: { maxInputs: 3, maxInputTokens: 100 } });
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ input: "x", model: "gpt-4" }, 404, "model_not_found", /model "gpt-4" is not served here; use "tiny-mistral"/],
      [{ input: "x" }, 400, "invalid_request", /required property 'model'/],
      [{ model: "default" }, 400, "invalid_request", /required property 'input'/],
      [
        { input: [[1, 2, 3]], model: "default" },
        400,
        "invalid_request",
        /input: must be a string or a non-empty array/,
      ],
      [{ input: [], model: "default" }, 400, "invalid_request", /input: must be a string or a non-empty array/],
      [{ input: ["a", "b", "c", "d"], model: "default" }, 400, "invalid_request", /4 inputs exceed the limit of 3/],
      [{ input: "x", model: "default", dimensions: 32 }, 400, "unsupported_dimensions", /no Matryoshka dims/],
      [{ input: "x", model: "default", encoding_format: "int8" }, 400, "invalid_request", /encoding_format/],
      [{ input: "x", model: "default", input_type: "passage" }, 400, "invalid_request", /input_type/],
      [{ input: "x", model: "default", task: "question" }, 400, "invalid_request", /only to input_type "query"/],
      [{ input: "x", model: "default", input_type: "query", task: "nope" }, 400, "unknown_task", /known tasks/],
      [{ input: ["ok", " "], model: "default" }, 400, "invalid_input", /input 1: text is empty/],
      [{ input: ["a\u0000b"], model: "default" }, 400, "invalid_input", /input 0: .*NUL/],
      [{ input: ["word ".repeat(150)], model: "default" }, 400, "input_too_long", /exceed the limit of 100/],
    ];
    for (const [body, status, code, message] of cases) {
      await expectError(postJson(lanceE5, "/v1/embeddings", body), status, code, message);
    }
    // The full dimension count is always allowed (no Matryoshka needed).
    const full = await postJson(lanceE5, "/v1/embeddings", { input: "x", model: "default", dimensions: 64 });
    assert.equal(full.status, 200);
  });
});

describe("security and limits", () => {
  test("API keys: required when configured (401 without or with a wrong key), health stays open", async () => {
    const lanceE5 = await fx.app({ apiKeys: ["key-one", "key-two"] });
    const body = { query: "x" };
    const missing = await expectError(postJson(lanceE5, "/search", body), 401, "unauthorized", /missing bearer/);
    assert.ok(missing);
    await expectError(postJson(lanceE5, "/search", body, { Authorization: "Bearer key-three" }), 401, "unauthorized");
    await expectError(postJson(lanceE5, "/search", body, { Authorization: "Basic a2V5LW9uZQ==" }), 401, "unauthorized");
    await expectError(postJson(lanceE5, "/search", body, { Authorization: "Bearer key-on" }), 401, "unauthorized");
    const noKey = await postJson(lanceE5, "/v1/embeddings", { input: "x", model: "default" });
    assert.equal(noKey.status, 401);
    assert.match(noKey.headers.get("WWW-Authenticate") ?? "", /Bearer/);
    assert.equal((await lanceE5.app.request("/metrics")).status, 401);
    for (const key of ["key-one", "key-two"]) {
      const ok = await postJson(lanceE5, "/search", body, { Authorization: `Bearer ${key}` });
      assert.equal(ok.status, 200);
    }
    assert.equal((await lanceE5.app.request("/health")).status, 200);
    assert.equal((await lanceE5.app.request("/ready")).status, 200);
    assert.equal((await lanceE5.app.request("/openapi.json")).status, 200);
    assert.equal((await lanceE5.app.request("/metrics", { headers: { Authorization: "Bearer key-one" } })).status, 200);
  });

  test("without keys, no authentication is asked", async () => {
    const lanceE5 = await fx.app();
    assert.equal((await postJson(lanceE5, "/search", { query: "x" })).status, 200);
  });

  test("per-key rate limit: 429 with Retry-After once the burst is spent; other keys unaffected", async () => {
    const lanceE5 = await fx.app({ apiKeys: ["a", "b"], limits: { rateLimitPerMinute: 6, rateLimitBurst: 2 } });
    const as = (key: string) => postJson(lanceE5, "/search", { query: "x" }, { Authorization: `Bearer ${key}` });
    assert.equal((await as("a")).status, 200);
    assert.equal((await as("a")).status, 200);
    const limited = await as("a");
    await expectError(limited.clone(), 429, "rate_limited", /6 requests\/minute/);
    const retryAfter = Number(limited.headers.get("Retry-After"));
    assert.ok(retryAfter >= 1 && retryAfter <= 10, `Retry-After ${retryAfter}`);
    assert.equal((await as("b")).status, 200);
  });

  test("oversize bodies are a 413 before they are parsed", async () => {
    const lanceE5 = await fx.app({ limits: { maxBodyBytes: 1024 } });
    await expectError(
      postJson(lanceE5, "/v1/embeddings", { input: "x".repeat(5000), model: "default" }),
      413,
      "payload_too_large",
      /larger than 1024 bytes/,
    );
    assert.equal((await postJson(lanceE5, "/v1/embeddings", { input: "small", model: "default" })).status, 200);
  });

  test("a request past the per-request timeout is a 504", async () => {
    // After a batch of two callers the batcher expects two again, so a lone request waits for company up to the
    // 3 s window, longer than the 50 ms deadline: deterministic, no sleeps in the model. The first two may
    // themselves time out on a busy machine, so wait until their model call is over.
    const lanceE5 = await fx.app({
      limits: { requestTimeoutMs: 50 },
      batching: { batchWindowMs: 3000, maxBatchesInFlight: 1 },
    });
    await Promise.all(["warm", "up"].map((input) => postJson(lanceE5, "/v1/embeddings", { input, model: "default" })));
    while (lanceE5.deps.batcher.queuedTexts > 0) await new Promise((r) => setTimeout(r, 5));
    await expectError(
      postJson(lanceE5, "/v1/embeddings", { input: "x", model: "default" }),
      504,
      "timeout",
      /longer than 50 ms/,
    );
  });

  test("CORS headers only for configured origins", async () => {
    const preflight = (lanceE5: Awaited<ReturnType<ServerFixture["app"]>>, origin: string) =>
      lanceE5.app.request("/search", {
        method: "OPTIONS",
        headers: { Origin: origin, "Access-Control-Request-Method": "POST" },
      });
    const closed = await fx.app();
    assert.equal((await preflight(closed, "https://app.example")).headers.get("Access-Control-Allow-Origin"), null);
    const open = await fx.app({ limits: { corsOrigins: ["https://app.example"] } });
    const allowed = await preflight(open, "https://app.example");
    assert.equal(allowed.headers.get("Access-Control-Allow-Origin"), "https://app.example");
    assert.match(allowed.headers.get("Access-Control-Allow-Headers") ?? "", /Authorization/);
    assert.equal((await preflight(open, "https://evil.example")).headers.get("Access-Control-Allow-Origin"), null);
  });

  test("unknown routes are a JSON 404", async () => {
    const lanceE5 = await fx.app();
    await expectError(lanceE5.app.request("/v1/chat/completions", { method: "POST" }), 404, "not_found");
  });
});

describe("micro-batching settings", () => {
  test("batches in flight default to the embedder's parallelism (its worker sessions); the option overrides", async () => {
    assert.equal((await fx.app()).deps.batcher.maxBatchesInFlight, 1); // the fixture's embedder: one session
    assert.equal((await fx.app({ batching: { maxBatchesInFlight: 3 } })).deps.batcher.maxBatchesInFlight, 3);
    const twoSessions = await loadEmbedder(TINY_MISTRAL, { threads: 2, sessions: 2 });
    try {
      assert.equal(twoSessions.parallelism, 2);
      const lanceE5 = await fx.app({ embedder: twoSessions });
      assert.equal(lanceE5.deps.batcher.maxBatchesInFlight, 2);
      // Both slots in use still answer every caller with its own vector.
      const inputs = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"];
      const responses = await Promise.all(
        inputs.map((input) => postJson(lanceE5, "/v1/embeddings", { input, model: "default" })),
      );
      const direct = await twoSessions.embedRaw(inputs);
      for (const [i, response] of responses.entries()) {
        const body = (await response.json()) as { data: Array<{ embedding: number[] }> };
        assert.ok(maxAbsDiff(body.data[0]!.embedding, direct[i]!) <= 1e-5, inputs[i]);
      }
    } finally {
      await twoSessions.dispose();
    }
  });
});

describe("tokenising once", () => {
  test("/v1/embeddings and /search hand the ids they encoded to the model: no second tokenisation", async () => {
    const calls = { encode: 0, embedRaw: 0, embedEncoded: 0 };
    // The real embedder, with its three entry points counted.
    const counted = new Proxy(fx.embedder, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (prop in calls) calls[prop as keyof typeof calls]++;
          return value.apply(target, args);
        };
      },
    });
    const lanceE5 = await fx.app({ embedder: counted });
    Object.assign(calls, { encode: 0, embedRaw: 0, embedEncoded: 0 });
    const inputs = ["first question", "second, longer question about the same thing"];
    const response = await postJson(lanceE5, "/v1/embeddings", {
      input: inputs,
      model: "default",
      input_type: "query",
    });
    const body = (await response.json()) as { data: Array<{ embedding: number[] }> };
    assert.deepEqual(calls, { encode: 2, embedRaw: 0, embedEncoded: 1 });
    const direct = await fx.embedder.embedQueries(inputs);
    for (const [i, d] of body.data.entries()) assert.ok(maxAbsDiff(d.embedding, direct[i]!) <= 1e-6, inputs[i]);

    Object.assign(calls, { encode: 0, embedRaw: 0, embedEncoded: 0 });
    assert.equal((await postJson(lanceE5, "/search", { query: "freedom of speech", k: 3 })).status, 200);
    assert.deepEqual(calls, { encode: 1, embedRaw: 0, embedEncoded: 1 });
  });
});

describe("operations", () => {
  test("/health, /ready (ready, not ready, draining)", async () => {
    const lanceE5 = await fx.app();
    assert.deepEqual(await (await lanceE5.app.request("/health")).json(), {
      status: "ok",
      model: "tiny-mistral",
      identity: lanceE5.deps.embedder.identity,
    });
    assert.deepEqual(await (await lanceE5.app.request("/ready")).json(), {
      status: "ready",
      model: "tiny-mistral",
      table: "docs",
    });
    lanceE5.deps.state.draining = true;
    assert.equal((await lanceE5.app.request("/ready")).status, 503);
    await expectError(postJson(lanceE5, "/search", { query: "x" }), 503, "shutting_down");

    const { createApp } = await import("../../src/server/app.ts");
    const missing = createApp({ embedder: fx.embedder, db: fx.db, defaultTable: "not_there", log: () => {} });
    await assert.rejects(missing.warmUp(), /not found/);
    const notReady = await missing.app.request("/ready");
    assert.equal(notReady.status, 503);
    assert.match(JSON.stringify(await notReady.json()), /not_ready.*not_there/);
  });

  test("/metrics: Prometheus text with request counts, latencies and batch sizes", async () => {
    const lanceE5 = await fx.app();
    await postJson(lanceE5, "/search", { query: "x" });
    await postJson(lanceE5, "/v1/embeddings", { input: ["a", "b"], model: "default" });
    await postJson(lanceE5, "/search", { query: "" });
    const response = await lanceE5.app.request("/metrics");
    assert.match(response.headers.get("Content-Type") ?? "", /text\/plain/);
    const text = await response.text();
    assert.match(text, /lance_e5_http_requests_total\{method="POST",route="\/search",status="200"\} 1/);
    assert.match(text, /lance_e5_http_requests_total\{method="POST",route="\/search",status="400"\} 1/);
    assert.match(text, /lance_e5_http_requests_total\{method="POST",route="\/v1\/embeddings",status="200"\} 1/);
    assert.match(text, /lance_e5_http_request_duration_seconds_count\{method="POST",route="\/search"\} 2/);
    assert.match(text, /lance_e5_embed_batch_size_count 2/);
    assert.match(text, /lance_e5_embed_batch_size_sum 3/);
  });

  test("/openapi.json is OpenAPI 3.1 built from schemas/api", async () => {
    const lanceE5 = await fx.app({ version: "9.9.9" });
    const doc = (await (await lanceE5.app.request("/openapi.json")).json()) as {
      openapi: string;
      info: { version: string };
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { title: string }> };
    };
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(doc.info.version, "9.9.9");
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      "/health",
      "/metrics",
      "/openapi.json",
      "/ready",
      "/search",
      "/v1/embeddings",
    ]);
    const { API_SCHEMAS } = await import("../../src/server/schemas.ts");
    for (const [name, schema] of Object.entries(API_SCHEMAS)) {
      assert.equal(doc.components.schemas[name]!.title, schema.title);
    }
    // Every $ref in the document resolves.
    for (const ref of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([A-Za-z]+)"/g)) {
      assert.ok(doc.components.schemas[ref[1]!], ref[1]);
    }
    const error = await (await postJson(lanceE5, "/search", {})).json();
    assert.deepEqual(schemaErrors("Error", error), []);
  });
});
