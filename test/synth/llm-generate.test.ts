import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseLanguageSpec } from "../../src/synth/languages.ts";
import { generateWithLlm, type LlmSynthOptions } from "../../src/synth/llm/generate.ts";
import { CorruptJsonlError } from "../../src/synth/llm/jsonl-file.ts";
import { LLM_FAMILIES } from "../../src/synth/placeholders.ts";
import { type SynthExample, schemaErrors } from "../../src/synth/validate.ts";
import { type FakeOpenAI, startFakeOpenAI, userMessage } from "../helpers/fake-openai.ts";
import { familyOfPrompt, isBrainstorm, taskList, validExample, validResponder } from "./llm-scripts.ts";

const readLines = (file: string): SynthExample[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as SynthExample);

describe("generateWithLlm against the fake endpoint", () => {
  let fake: FakeOpenAI;
  let dir: string;
  let fileNumber = 0;
  before(async () => {
    fake = await startFakeOpenAI({ respond: validResponder });
    dir = mkdtempSync(path.join(tmpdir(), "lance-e5-synth-"));
  });
  after(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const outFile = () => path.join(dir, `out-${fileNumber++}.jsonl`);
  const run = (overrides: Partial<LlmSynthOptions>) =>
    generateWithLlm({
      baseUrl: fake.baseUrl,
      model: "fake-teacher",
      families: LLM_FAMILIES,
      count: 12,
      languages: parseLanguageSpec("paper"),
      seed: "7",
      out: outFile(),
      retryBaseMs: 1,
      ...overrides,
    });

  test("every family: count met, quotas even, lines valid, brainstormed or fixed instructions, usage summed", async () => {
    const first = fake.requests.length;
    const summary = await run({ concurrency: 3 });
    assert.equal(summary.stopped, "complete");
    const lines = readLines(summary.out);
    assert.equal(lines.length, 12);
    for (const line of lines) assert.equal(schemaErrors(line), undefined);
    for (const family of LLM_FAMILIES) assert.equal(lines.filter((l) => l.task_family === family).length, 2, family);
    assert.deepEqual(summary.perFamily, Object.fromEntries(LLM_FAMILIES.map((f) => [f, 2])));
    for (const line of lines) {
      assert.equal(line.source, "llm:fake-teacher");
      const values = (line.meta?.placeholders ?? {}) as Record<string, string>;
      // Bitext names two languages; every other family one.
      assert.equal(typeof values.language === "string", line.task_family !== "bitext");
      assert.equal(typeof values.src_language === "string", line.task_family === "bitext");
      if (line.task_family === "sts") assert.equal(line.instruction, "Retrieve semantically similar text.");
      else if (line.task_family === "bitext") {
        assert.equal(line.instruction, "Retrieve parallel sentences.");
        assert.match(line.language, /^[a-z]{2}-[a-z]{2}$/);
      } else assert.match(line.instruction, /^Given a .* query number \d+, retrieve the matching text\.$/);
      assert.equal(line.negative === undefined, line.task_family === "short-short" || line.task_family === "long-long");
    }
    // Two examples per asymmetric family fit in one brainstormed list (5 examples per list by default).
    const requests = fake.requests.slice(first);
    assert.equal(requests.filter((r) => isBrainstorm(userMessage(r))).length, 4);
    assert.equal(summary.brainstorms, 4);
    assert.equal(summary.requests, 16);
    assert.equal(requests.length, 16);
    assert.equal(summary.totalTokens, summary.promptTokens + summary.completionTokens);
    assert.ok(summary.totalTokens > 0);
    assert.equal(
      Object.values(summary.perLanguage).reduce((a, b) => a + b, 0),
      12,
    );
    // The example prompt carries the sampled placeholders.
    const shortLong = lines.find((l) => l.task_family === "short-long");
    const placeholders = shortLong?.meta?.placeholders as Record<string, string>;
    const prompt = requests
      .map(userMessage)
      .find((p) => p.includes(shortLong?.instruction ?? "?") && p.includes('"user_query"'));
    assert.ok(prompt?.includes(`at least ${placeholders.num_words} words`));
    assert.ok(
      prompt?.includes(
        `Write all three fields in ${placeholders.language}, at a level a reader with ${placeholders.difficulty} education`,
      ),
    );
    assert.ok(prompt?.includes(`a ${placeholders.query_type} query, ${placeholders.query_length} long`));
  });

  test("drops are counted by reason and only valid, new examples are written", async () => {
    const good = (tag: string) => JSON.stringify(validExample("short-short", tag));
    const a = validExample("short-short", "A");
    fake.push(
      { content: "Sure! Here are some tasks." }, // brainstorm that is not a list
      { content: JSON.stringify(taskList("scripted")) },
      { content: `\`\`\`json\n${good("A")}\n\`\`\`` }, // kept (fence tolerated)
      { content: '{"input": "unterminated' },
      { content: JSON.stringify({ input: "only the input" }) },
      { content: JSON.stringify({ ...a, input: "x y z", extra: "field" }) },
      { content: JSON.stringify({ input: "   ", positive_document: "something" }) },
      { content: JSON.stringify({ input: "paris", positive_document: "paris is a city" }) },
      { content: good("A") }, // exact duplicate of the kept A
      { content: JSON.stringify({ input: a.input?.toUpperCase(), positive_document: `  ${a.positive_document}!!` }) },
      { content: JSON.stringify({ input: 42, positive_document: "number" }) },
      { status: 200, body: { choices: [] } },
      { content: good("B") },
      { content: good("C") },
    );
    const summary = await run({ families: ["short-short"], count: 3, concurrency: 1, examplesPerBrainstorm: 100 });
    assert.equal(summary.stopped, "complete");
    assert.deepEqual(
      readLines(summary.out).map((l) => l.query),
      ["capital of France A", "capital of France B", "capital of France C"],
    );
    assert.deepEqual(summary.drops, {
      "brainstorm-invalid": 1,
      "invalid-json": 1,
      "missing-keys": 1,
      "extra-keys": 1,
      "empty-field": 1,
      "query-in-positive": 1,
      "duplicate-exact": 1,
      "duplicate-normalised": 1,
      "not-a-string": 1,
      "bad-response": 1,
    });
    assert.equal(summary.attempts, 13);
    assert.equal(summary.brainstorms, 2);
  });

  test("429 with Retry-After, 500s and a hang are retried inside a run", async () => {
    fake.push(
      { status: 429, headers: { "retry-after": "1" } },
      { content: JSON.stringify(validExample("sts", "after-429")) },
      { status: 500 },
      { hang: true },
      { content: JSON.stringify(validExample("sts", "after-hang")) },
    );
    const events: string[] = [];
    const started = Date.now();
    const summary = await run({
      families: ["sts"],
      count: 2,
      concurrency: 1,
      timeoutMs: 300,
      onRetry: (event) => events.push(`${event.cause}:${event.fromRetryAfter}`),
    });
    assert.equal(summary.stopped, "complete");
    assert.deepEqual(events, ["429:true", "500:false", "timeout:false"]);
    assert.equal(summary.retries, 3);
    assert.equal(summary.requests, 5);
    assert.ok(Date.now() - started >= 1000 + 300);
    assert.deepEqual(
      readLines(summary.out).map((l) => l.query),
      ["The cat sat on the mat after-429.", "The cat sat on the mat after-hang."],
    );
  });

  test("resume: a torn last line is cut, earlier lines kept, dedup and attempt numbers continue", async () => {
    const out = outFile();
    const first = await run({ out, families: ["sts", "bitext"], count: 4, languages: parseLanguageSpec("en,de") });
    assert.equal(first.written, 4);
    const before = readFileSync(out, "utf8");
    const previous = readLines(out);
    writeFileSync(out, `${before}{"task_family":"sts","instruction":"Retrie`);
    // The LLM repeats an example already in the file: dropped as a duplicate after the restart.
    const repeated = previous.find((l) => l.task_family === "sts");
    fake.push({ content: JSON.stringify({ S1: repeated?.query, S2: repeated?.positive, S3: repeated?.negative }) });
    const second = await run({
      out,
      families: ["sts", "bitext"],
      count: 8,
      languages: parseLanguageSpec("en,de"),
      concurrency: 1,
    });
    assert.equal(second.stopped, "complete");
    assert.equal(second.resumed, 4);
    assert.equal(second.written, 8);
    assert.equal(second.truncatedBytes, '{"task_family":"sts","instruction":"Retrie'.length);
    assert.equal(second.drops["duplicate-exact"], 1);
    const after = readFileSync(out, "utf8");
    assert.ok(after.startsWith(before));
    const lines = readLines(out);
    assert.equal(lines.length, 8);
    assert.equal(new Set(lines.map((l) => l.query)).size, 8);
    const attempts = lines.map((l) => l.meta?.attempt as number);
    assert.equal(new Set(attempts).size, 8);
    assert.ok(Math.min(...attempts.slice(4)) > Math.max(...attempts.slice(0, 4)));
    // A finished file: rerunning does nothing.
    const requestsBefore = fake.requests.length;
    const third = await run({ out, families: ["sts", "bitext"], count: 8, languages: parseLanguageSpec("en,de") });
    assert.equal(third.stopped, "complete");
    assert.equal(fake.requests.length, requestsBefore);
    assert.equal(readFileSync(out, "utf8"), after);
  });

  test("a missing output directory is created", async () => {
    const out = path.join(dir, "nested", "deeper", "out.jsonl");
    const summary = await run({ out, families: ["sts"], count: 1 });
    assert.equal(summary.stopped, "complete");
    assert.equal(readLines(out).length, 1);
  });

  test("a corrupt complete line is refused and the file left untouched", async () => {
    const out = outFile();
    const content = `${JSON.stringify({ task_family: "sts", query: "no" })}\n`;
    writeFileSync(out, content);
    await assert.rejects(run({ out, families: ["sts"], count: 2 }), (error: unknown) => {
      assert.ok(error instanceof CorruptJsonlError);
      assert.match(error.message, /:1: not a synthetic example/);
      return true;
    });
    writeFileSync(out, "not json\n");
    await assert.rejects(run({ out, families: ["sts"], count: 2 }), /:1: line is not valid JSON/);
    assert.equal(readFileSync(out, "utf8"), "not json\n");
  });

  test("--max-requests and --max-tokens stop the run with what was accepted so far", async () => {
    const byRequests = await run({ families: ["sts"], count: 10, concurrency: 1, maxRequests: 3 });
    assert.equal(byRequests.stopped, "max-requests");
    assert.equal(byRequests.requests, 3);
    assert.equal(readLines(byRequests.out).length, 3);
    fake.push(
      { content: JSON.stringify(validExample("sts", "t1")), usage: { total_tokens: 60 } },
      { content: JSON.stringify(validExample("sts", "t2")), usage: { total_tokens: 60 } },
      { content: JSON.stringify(validExample("sts", "t3")), usage: { total_tokens: 60 } },
    );
    const byTokens = await run({ families: ["sts"], count: 10, concurrency: 1, maxTokens: 100 });
    assert.equal(byTokens.stopped, "max-tokens");
    assert.equal(byTokens.totalTokens, 120);
    assert.equal(readLines(byTokens.out).length, 2);
  });

  test("an endpoint that rejects the key stops the run with the error", async () => {
    fake.push({ status: 401, body: { error: { message: "invalid api key" } } });
    const summary = await run({ families: ["sts"], count: 2, concurrency: 1 });
    assert.equal(summary.stopped, "error");
    assert.match(summary.error ?? "", /HTTP 401.*invalid api key/);
  });

  test("answers that are always dropped end at the attempt guard instead of looping", async () => {
    for (let i = 0; i < 5; i++) fake.push({ content: "no JSON here" });
    const summary = await run({ families: ["sts"], count: 2, concurrency: 1, maxAttempts: 5 });
    assert.equal(summary.stopped, "max-attempts");
    assert.equal(summary.drops["invalid-json"], 5);
    assert.equal(summary.written, 0);
  });

  test("option errors are typed", async () => {
    await assert.rejects(
      run({ families: ["bitext"], languages: parseLanguageSpec("en") }),
      /bitext needs at least two/,
    );
    await assert.rejects(run({ count: 0 }), /count must be a positive integer/);
    assert.equal(familyOfPrompt('"S1" translating S1'), "bitext");
  });
});
