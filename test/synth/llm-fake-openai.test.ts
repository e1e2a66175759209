import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { startFakeOpenAI, userMessage } from "../helpers/fake-openai.ts";

/** The fake endpoint itself (reused by the RAG tests): queue → function → fallback, SSE streaming, hangs. */
describe("fake OpenAI-compatible server", () => {
  const post = (baseUrl: string, body: object, signal?: AbortSignal) =>
    fetch(`${baseUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi there" }], ...body }),
      signal,
    });

  test("answers from the queue, then the responder, then the fallback; unscripted requests get a 500", async () => {
    const fake = await startFakeOpenAI({
      replies: [{ content: "from queue" }],
      respond: (request) => (request.index === 1 ? { content: `echo ${userMessage(request)}` } : (undefined as never)),
    });
    try {
      const first = (await (await post(fake.baseUrl, {})).json()) as {
        choices: Array<{ message: { content: string } }>;
        usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
      };
      assert.equal(first.choices[0]?.message.content, "from queue");
      assert.deepEqual(first.usage, { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 });
      const second = (await (await post(fake.baseUrl, {})).json()) as {
        choices: Array<{ message: { content: string } }>;
      };
      assert.equal(second.choices[0]?.message.content, "echo hi there");
      const third = await post(fake.baseUrl, {});
      assert.equal(third.status, 500);
      assert.match(await third.text(), /no scripted reply for request 2/);
      assert.equal(fake.requests.length, 3);
      const models = (await (await fetch(`${fake.baseUrl}/models`)).json()) as { data: Array<{ id: string }> };
      assert.equal(models.data[0]?.id, "fake-model");
    } finally {
      await fake.close();
    }
  });

  test("status replies carry their headers", async () => {
    const fake = await startFakeOpenAI({ fallback: { status: 429, headers: { "retry-after": "3" } } });
    try {
      const response = await post(fake.baseUrl, {});
      assert.equal(response.status, 429);
      assert.equal(response.headers.get("retry-after"), "3");
    } finally {
      await fake.close();
    }
  });

  test("stream: true answers as server-sent chat.completion.chunk events ending in [DONE], with usage on request", async () => {
    const fake = await startFakeOpenAI({ fallback: { content: "one two three", usage: { total_tokens: 9 } } });
    try {
      const response = await post(fake.baseUrl, { stream: true, stream_options: { include_usage: true } });
      assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
      const events = (await response.text())
        .split("\n\n")
        .map((block) => block.replace(/^data: /, "").trim())
        .filter(Boolean);
      assert.equal(events.at(-1), "[DONE]");
      const chunks = events.slice(0, -1).map((event) => JSON.parse(event));
      const text = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? "").join("");
      assert.equal(text, "one two three");
      assert.ok(chunks.filter((chunk) => chunk.choices[0]?.delta?.content).length >= 3);
      assert.equal(chunks.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0].finish_reason, "stop");
      assert.equal(chunks.at(-1).usage.total_tokens, 9);
    } finally {
      await fake.close();
    }
  });

  test("a hang lasts until the client aborts; close() releases hangs still open", async () => {
    const fake = await startFakeOpenAI({ fallback: { hang: true } });
    const controller = new AbortController();
    const aborted = post(fake.baseUrl, {}, controller.signal).catch((error: Error) => error.name);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(fake.hanging(), 1);
    controller.abort();
    assert.equal(await aborted, "AbortError");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(fake.hanging(), 0);
    const open = post(fake.baseUrl, {}).then(
      (response) => response.status,
      () => "closed",
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(fake.hanging(), 1);
    await fake.close();
    assert.ok(["closed", 499].includes((await open) as never));
  });
});
