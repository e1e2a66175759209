import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  BudgetExhaustedError,
  type ChatClientOptions,
  chatCompletion,
  LlmHttpError,
  LlmResponseError,
  LlmUnreachableError,
  RequestBudget,
  type RetryEvent,
  RunAbortedError,
  retryAfterMs,
} from "../../src/synth/llm/client.ts";
import { type FakeOpenAI, startFakeOpenAI } from "../helpers/fake-openai.ts";

/** The retrying chat client against the fake endpoint: observed request counts, arrival gaps and errors. */
describe("chatCompletion", () => {
  let fake: FakeOpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(() => fake.close());

  const options = (overrides: Partial<ChatClientOptions> = {}): ChatClientOptions & { retries: RetryEvent[] } => {
    const retries: RetryEvent[] = [];
    return {
      baseUrl: fake.baseUrl,
      model: "teacher",
      temperature: 1,
      topP: 1,
      timeoutMs: 2000,
      maxRetries: 4,
      retryBaseMs: 40,
      retryMaxMs: 1000,
      budget: new RequestBudget(),
      onRetry: (event) => retries.push(event),
      retries,
      ...overrides,
    };
  };
  const since = () => fake.requests.length;

  test("sends one user message with the model, temperature/top_p 1.0 and the API key; returns content and usage", async () => {
    const first = since();
    fake.push({ content: "hello", usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } });
    const opts = options({ apiKey: "sk-test" });
    const result = await chatCompletion(opts, "say hello");
    assert.deepEqual(result, { content: "hello", usage: { promptTokens: 7, completionTokens: 3, totalTokens: 10 } });
    const request = fake.requests[first];
    assert.ok(request);
    assert.deepEqual(request.body.messages, [{ role: "user", content: "say hello" }]);
    assert.equal(request.body.model, "teacher");
    assert.equal(request.body.temperature, 1);
    assert.equal(request.body.top_p, 1);
    assert.equal(request.headers.authorization, "Bearer sk-test");
    assert.equal(opts.budget.requests, 1);
    assert.equal(opts.budget.totalTokens, 10);
  });

  test("429 with Retry-After: 1 waits at least a second before the retry", async () => {
    const first = since();
    fake.push({ status: 429, headers: { "retry-after": "1" } }, { content: "ok" });
    const opts = options({ retryBaseMs: 1 });
    assert.equal((await chatCompletion(opts, "x")).content, "ok");
    assert.equal(fake.requests.length - first, 2);
    const gap = (fake.requests[first + 1]?.receivedAt ?? 0) - (fake.requests[first]?.receivedAt ?? 0);
    assert.ok(gap >= 990, `retry came after ${gap} ms`);
    assert.deepEqual(opts.retries, [{ retry: 1, delayMs: 1000, cause: "429", fromRetryAfter: true }]);
    assert.equal(opts.budget.requests, 2);
    assert.equal(opts.budget.retries, 1);
  });

  test("retry-after-ms and HTTP-date forms are understood", () => {
    assert.equal(retryAfterMs(new Headers({ "retry-after-ms": "250" })), 250);
    assert.equal(retryAfterMs(new Headers({ "retry-after": "2" })), 2000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    assert.equal(retryAfterMs(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:03 GMT" }), now), 3000);
    assert.equal(retryAfterMs(new Headers({})), undefined);
  });

  test("500 and 503 are retried with growing, jittered backoff", async () => {
    const first = since();
    fake.push({ status: 500 }, { status: 503 }, { status: 502 }, { content: "ok" });
    const opts = options({ retryBaseMs: 60, random: () => 1 });
    assert.equal((await chatCompletion(opts, "x")).content, "ok");
    assert.equal(fake.requests.length - first, 4);
    assert.deepEqual(
      opts.retries.map((event) => [event.cause, event.delayMs, event.fromRetryAfter]),
      [
        ["500", 60, false],
        ["503", 120, false],
        ["502", 240, false],
      ],
    );
    const gaps = [1, 2, 3].map(
      (i) => (fake.requests[first + i]?.receivedAt ?? 0) - (fake.requests[first + i - 1]?.receivedAt ?? 0),
    );
    assert.ok(gaps[0]! >= 55 && gaps[1]! >= 115 && gaps[2]! >= 235, `gaps ${gaps}`);
    // Jitter draws the delay from [50%, 100%] of the exponential step.
    const jittered = options({ retryBaseMs: 100, random: () => 0 });
    fake.push({ status: 500 }, { content: "ok" });
    await chatCompletion(jittered, "x");
    assert.equal(jittered.retries[0]?.delayMs, 50);
  });

  test("a hanging request times out and is retried", async () => {
    const first = since();
    fake.push({ hang: true }, { content: "after the hang" });
    const opts = options({ timeoutMs: 300, retryBaseMs: 1 });
    const started = Date.now();
    assert.equal((await chatCompletion(opts, "x")).content, "after the hang");
    assert.ok(Date.now() - started >= 290);
    assert.equal(fake.requests.length - first, 2);
    assert.equal(opts.retries[0]?.cause, "timeout");
  });

  test("a request that hangs on every try fails with LlmUnreachableError after the retries", async () => {
    fake.push({ hang: true }, { hang: true });
    const opts = options({ timeoutMs: 150, maxRetries: 1, retryBaseMs: 1 });
    await assert.rejects(chatCompletion(opts, "x"), (error: unknown) => {
      assert.ok(error instanceof LlmUnreachableError);
      assert.equal(error.lastCause, "timeout");
      assert.equal(error.retries, 1);
      return true;
    });
    assert.equal(opts.budget.requests, 2);
  });

  test("500 on every try ends in LlmHttpError naming the status", async () => {
    fake.push({ status: 500 }, { status: 500 }, { status: 500 });
    await assert.rejects(chatCompletion(options({ maxRetries: 2, retryBaseMs: 1 }), "x"), (error: unknown) => {
      assert.ok(error instanceof LlmHttpError);
      assert.equal(error.status, 500);
      assert.equal(error.retries, 2);
      return true;
    });
  });

  test("400/401 are not retried", async () => {
    const first = since();
    fake.push({ status: 401, body: { error: { message: "bad key" } } });
    await assert.rejects(chatCompletion(options(), "x"), /HTTP 401.*bad key/);
    assert.equal(fake.requests.length - first, 1);
  });

  test("a 200 without choices is an LlmResponseError", async () => {
    fake.push({ status: 200, body: { choices: [] } });
    await assert.rejects(chatCompletion(options(), "x"), LlmResponseError);
  });

  test("the budget refuses requests past --max-requests, retries included", async () => {
    const first = since();
    fake.push({ status: 500 }, { status: 500 });
    const opts = options({ budget: new RequestBudget(2), retryBaseMs: 1 });
    await assert.rejects(chatCompletion(opts, "x"), (error: unknown) => {
      assert.ok(error instanceof BudgetExhaustedError);
      assert.equal(error.limit, "max-requests");
      return true;
    });
    assert.equal(fake.requests.length - first, 2);
  });

  test("an abort signal ends a hanging request without retrying", async () => {
    const controller = new AbortController();
    fake.push({ hang: true }, { content: "not used" });
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(chatCompletion(options({ signal: controller.signal }), "x"), RunAbortedError);
    assert.ok(Date.now() - started < 1500);
    // Drain the reply the aborted call never asked for.
    assert.equal((await chatCompletion(options(), "x")).content, "not used");
  });
});
