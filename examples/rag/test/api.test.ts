import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TASK_INSTRUCTIONS } from "lance-e5";
import { startFakeOpenAI, userMessage } from "../../../test/helpers/fake-openai.ts";
import type { LlmOptions } from "../src/options.ts";
import { appFor, type IngestedCorpus, ingestSampleCorpus, readSse } from "./helpers.ts";

/**
 * The JSON/SSE API in-process (Hono's app.request), over the sample corpus ingested for real with the shipped
 * default model. The only double is the chat endpoint: the project's fake OpenAI-compatible server.
 */

const FOUR_FREEDOMS = "What are the four essential human freedoms?";
let corpus: IngestedCorpus;

before(async () => {
  corpus = await ingestSampleCorpus();
});
after(async () => {
  await corpus?.close();
});

/** Polls a condition (a correctness wait, not a timing assertion: the limit is far beyond any normal delay). */
async function until(condition: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function ask(app: ReturnType<typeof appFor>, body: unknown, accept = "application/json") {
  return app.request("/api/ask", {
    method: "POST",
    headers: { "content-type": "application/json", accept },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

interface AskJson {
  instruction: string;
  mode: string;
  passages: Array<{ n: number; source: string; text: string; score: number; segments: { hit: boolean }[] }>;
  answer?: Record<string, unknown>;
  error?: { message: string; kind: string; status?: number };
}

describe("bad requests get a 400 naming the field", () => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ["empty question", { question: "   " }, "question", /non-empty/],
    ["missing question", {}, "question", /non-empty/],
    ["unknown task", { question: "x", task: "nope" }, "task", /unknown task "nope"; known tasks: web_search, question/],
    ["unknown mode", { question: "x", mode: "semantic" }, "mode", /modes: vector, fulltext, hybrid/],
    ["k out of range", { question: "x", k: 0 }, "k", /from 1 to 20/],
    ["k not an integer", { question: "x", k: 2.5 }, "k", /integer/],
    ["unknown field", { question: "x", top_k: 3 }, "top_k", /unknown field/],
    ["body not an object", "[1, 2]", "body", /JSON object/],
    ["body not JSON", "question=x", "body", /JSON object/],
  ];
  for (const [name, body, field, message] of cases) {
    test(name, async () => {
      const response = await ask(appFor(corpus), body);
      assert.equal(response.status, 400);
      const { error } = (await response.json()) as { error: { field: string; message: string } };
      assert.equal(error.field, field);
      assert.match(error.message, message);
    });
  }

  test("a bad request is refused before any LLM call, also when streaming is asked for", async () => {
    const fake = await startFakeOpenAI({ fallback: { content: "never [1]" } });
    try {
      const app = appFor(corpus, { baseUrl: fake.baseUrl, model: "m", timeoutMs: 5000 });
      const response = await ask(app, { question: "" }, "text/event-stream");
      assert.equal(response.status, 400);
      assert.equal(fake.requests.length, 0);
    } finally {
      await fake.close();
    }
  });
});

describe("page and settings", () => {
  test("GET / serves the page, its script and the SSE parser module", async () => {
    const app = appFor(corpus);
    const page = await app.request("/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await page.text(), /<script type="module" src="\/app.js">/);
    for (const script of ["/app.js", "/vendor/eventsource-parser/stream.js", "/vendor/eventsource-parser/index.js"]) {
      const response = await app.request(script);
      assert.equal(response.status, 200, script);
      assert.match(response.headers.get("content-type") ?? "", /javascript/);
    }
  });

  test("GET /api/config lists every task with its instruction, the modes and the defaults", async () => {
    const config = (await (await appFor(corpus).request("/api/config")).json()) as {
      tasks: Array<{ name: string; instruction: string }>;
      modes: string[];
      defaults: { task: string; mode: string; k: number };
      answerer: { kind: string };
      corpus: { chunks: number };
    };
    assert.deepEqual(
      config.tasks.map((t) => t.name),
      Object.keys(TASK_INSTRUCTIONS),
    );
    assert.equal(config.tasks.find((t) => t.name === "question")?.instruction, TASK_INSTRUCTIONS.question);
    assert.deepEqual(config.modes, ["vector", "fulltext", "hybrid"]);
    assert.deepEqual(config.defaults, { task: "question", mode: "hybrid", k: 5 });
    assert.equal(config.answerer.kind, "extractive");
    assert.equal(config.corpus.chunks, corpus.chunks);
  });
});

describe("extractive answers (no LLM configured)", () => {
  test("hybrid retrieval finds the 1941 Four Freedoms passage; the answer quotes it, cited and highlighted", async () => {
    const response = await ask(appFor(corpus), { question: FOUR_FREEDOMS });
    assert.equal(response.status, 200);
    const body = (await response.json()) as AskJson;
    assert.equal(body.mode, "hybrid");
    assert.equal(body.instruction, TASK_INSTRUCTIONS.question);
    assert.equal(body.passages.length, 5);
    assert.deepEqual(
      body.passages.map((p) => p.n),
      [1, 2, 3, 4, 5],
    );
    const fdr = body.passages.find((p) => p.source === "1941-franklin-d-roosevelt.md" && /four essential/.test(p.text));
    assert.ok(fdr, `no 1941 passage in ${body.passages.map((p) => p.source).join(", ")}`);
    assert.ok(fdr.segments.some((s) => s.hit));

    const answer = body.answer as { kind: string; sentences: Array<{ n: number; segments: { text: string }[] }> };
    assert.equal(answer.kind, "extractive");
    assert.ok(answer.sentences.length > 0 && answer.sentences.length <= 3);
    for (const sentence of answer.sentences) {
      const text = sentence.segments.map((s) => s.text).join("");
      const cited = body.passages.find((p) => p.n === sentence.n);
      assert.ok(cited, `sentence cites [${sentence.n}], which is not a passage`);
      assert.ok(cited.text.replace(/\s+/g, " ").includes(text), `"${text}" is not in passage [${sentence.n}]`);
    }
    const first = answer.sentences[0]!.segments.map((s) => s.text).join("");
    assert.match(first, /four essential human freedoms/);
  });

  test("the task picks the instruction the question is embedded with", async () => {
    const app = appFor(corpus);
    const scores: Record<string, number[]> = {};
    for (const task of ["question", "claim"]) {
      const body = (await (await ask(app, { question: FOUR_FREEDOMS, task, mode: "vector" })).json()) as AskJson;
      assert.equal(body.instruction, TASK_INSTRUCTIONS[task as keyof typeof TASK_INSTRUCTIONS]);
      scores[task] = body.passages.map((p) => p.score);
    }
    // Same question, other instruction → another query vector → other cosine scores.
    assert.notDeepEqual(scores.question, scores.claim);
  });

  test("fulltext mode finds the Alaska purchase (1867) as the top passage", async () => {
    const body = (await (
      await ask(appFor(corpus), { question: "payment to Russia for Alaska", mode: "fulltext", k: 3 })
    ).json()) as AskJson;
    assert.equal(body.passages.length, 3);
    assert.equal(body.passages[0]!.source, "1867-andrew-johnson.md");
  });

  test("as server-sent events: passages, then the answer, then done", async () => {
    const response = await ask(appFor(corpus), { question: FOUR_FREEDOMS }, "text/event-stream");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
    const events = await readSse(response);
    assert.deepEqual(
      events.map((e) => e.event),
      ["passages", "answer", "done"],
    );
    assert.equal((events[1]!.data as { kind: string }).kind, "extractive");
  });
});

describe("streamed LLM answers (fake OpenAI-compatible endpoint)", () => {
  const ANSWER = "Roosevelt named four freedoms [2]: speech, worship [2, 3], want and fear [9].";

  async function withFake<T>(
    replies: Parameters<typeof startFakeOpenAI>[0],
    llm: Partial<LlmOptions>,
    run: (app: ReturnType<typeof appFor>, fake: Awaited<ReturnType<typeof startFakeOpenAI>>) => Promise<T>,
  ): Promise<T> {
    const fake = await startFakeOpenAI(replies);
    try {
      return await run(appFor(corpus, { baseUrl: fake.baseUrl, model: "fake-chat", timeoutMs: 5000, ...llm }), fake);
    } finally {
      await fake.close();
    }
  }

  test("tokens arrive in order, then done with the citations; the prompt is grounded in numbered passages", async () => {
    await withFake({ replies: [{ content: ANSWER, chunkDelayMs: 5 }] }, { apiKey: "sk-test" }, async (app, fake) => {
      const response = await ask(app, { question: FOUR_FREEDOMS, k: 4 }, "text/event-stream");
      assert.equal(response.status, 200);
      const events = await readSse(response);
      assert.equal(events[0]!.event, "passages");
      const tokens = events.filter((e) => e.event === "token").map((e) => e.data as { index: number; text: string });
      assert.ok(tokens.length > 5, `only ${tokens.length} tokens`);
      assert.deepEqual(
        tokens.map((t) => t.index),
        tokens.map((_, i) => i),
      );
      assert.equal(tokens.map((t) => t.text).join(""), ANSWER);
      const last = events[events.length - 1]!;
      assert.equal(last.event, "done");
      assert.deepEqual(last.data, {
        kind: "llm",
        model: "fake-chat",
        finish_reason: "stop",
        cited: [2, 3],
        unknown: [9],
      });

      assert.equal(fake.requests.length, 1);
      const request = fake.requests[0]!;
      assert.equal(request.body.stream, true);
      assert.equal(request.body.model, "fake-chat");
      assert.equal(request.headers.authorization, "Bearer sk-test");
      const prompt = userMessage(request);
      const passages = (events[0]!.data as AskJson).passages;
      for (const p of passages) assert.ok(prompt.includes(`[${p.n}] (${p.source}`), `passage [${p.n}] not in prompt`);
      assert.ok(prompt.includes(passages[0]!.text.trim()));
      assert.match(prompt, /Question: What are the four essential human freedoms\?$/);
      assert.match(request.body.messages?.[0]?.content ?? "", /only the numbered passages/);
    });
  });

  test("the JSON form collects the whole answer with its citations; no key → no authorization header", async () => {
    await withFake({ replies: [{ content: ANSWER }] }, {}, async (app, fake) => {
      const response = await ask(app, { question: FOUR_FREEDOMS });
      assert.equal(response.status, 200);
      const body = (await response.json()) as AskJson;
      assert.deepEqual(body.answer, {
        kind: "llm",
        model: "fake-chat",
        text: ANSWER,
        finish_reason: "stop",
        cited: [2, 3],
        unknown: [9],
      });
      assert.equal(fake.requests[0]!.headers.authorization, undefined);
    });
  });

  const failures: Array<[string, Parameters<typeof startFakeOpenAI>[0], Partial<LlmOptions>, string, RegExp]> = [
    [
      "HTTP 500",
      { replies: [{ status: 500, body: { error: { message: "model overloaded" } } }] },
      {},
      "http",
      /HTTP 500: model overloaded/,
    ],
    ["HTTP 401", { replies: [{ status: 401 }] }, {}, "http", /HTTP 401: scripted HTTP 401/],
    [
      "a JSON answer to a streaming request",
      { replies: [{ status: 200, body: { choices: [] } }] },
      {},
      "bad_stream",
      /did not stream: asked for server-sent events, got application\/json/,
    ],
    [
      "silence past the timeout",
      { replies: [{ hang: true }] },
      { timeoutMs: 300 },
      "timeout",
      /sent nothing for 300 ms/,
    ],
    ["an empty answer", { replies: [{ content: "" }] }, {}, "bad_stream", /without any answer text/],
  ];
  for (const [name, replies, llm, kind, message] of failures) {
    test(`${name}: an error event after the passages (SSE), a 502 with the passages (JSON)`, async () => {
      await withFake({ ...replies, fallback: replies?.replies?.[0] }, llm, async (app) => {
        const events = await readSse(await ask(app, { question: FOUR_FREEDOMS }, "text/event-stream"));
        assert.deepEqual(
          events.map((e) => e.event),
          ["passages", "error"],
        );
        const error = events[1]!.data as { kind: string; message: string };
        assert.equal(error.kind, kind);
        assert.match(error.message, message);

        const response = await ask(app, { question: FOUR_FREEDOMS });
        assert.equal(response.status, 502);
        const body = (await response.json()) as AskJson;
        assert.equal(body.error?.kind, kind);
        assert.match(body.error?.message ?? "", message);
        assert.equal(body.passages.length, 5);
      });
    });
  }

  test("when the page goes away mid-answer, the request to the LLM is cancelled too", async () => {
    await withFake({ replies: [{ hang: true }] }, { timeoutMs: 60_000 }, async (app, fake) => {
      const response = await ask(app, { question: FOUR_FREEDOMS }, "text/event-stream");
      const reader = response.body!.getReader();
      assert.match(new TextDecoder().decode((await reader.read()).value), /^event: passages/);
      await until(() => fake.hanging() === 1, "the LLM request to start");
      await reader.cancel();
      await until(() => fake.hanging() === 0, "the LLM request to be cancelled");
    });
  });

  test("an unreachable endpoint is a network error naming the URL", async () => {
    const fake = await startFakeOpenAI();
    const baseUrl = fake.baseUrl;
    await fake.close(); // nothing listens there any more
    const app = appFor(corpus, { baseUrl, model: "m", timeoutMs: 5000 });
    const events = await readSse(await ask(app, { question: FOUR_FREEDOMS }, "text/event-stream"));
    const error = events[1]!.data as { kind: string; message: string };
    assert.equal(error.kind, "network");
    assert.ok(error.message.includes(`${baseUrl}/chat/completions`), error.message);
  });
});
