import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { ModelMismatchError } from "../../src/lancedb/errors.ts";
import type { Embedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/index.ts";
import { type FromTableOptions, generateFromTable } from "../../src/synth/llm/from-table.ts";
import { type SynthExample, schemaErrors } from "../../src/synth/validate.ts";
import { type FakeOpenAI, type RecordedChatRequest, startFakeOpenAI, userMessage } from "../helpers/fake-openai.ts";
import { buildTable, CORPUS, TINY_MISTRAL, TINY_QWEN2, tempDir } from "../search/helpers.ts";

/**
 * Corpus-grounded mode on a real table built by the real ingest pipeline with the tiny random Mistral fixture.
 * Expectations hold whatever the random weights: positives are stored passages, negatives are stored passages
 * of *other* documents, and full-text mining is plain BM25 (the scripted queries all contain "created", which
 * two corpus documents share, so every passage has a lexical neighbour in another document).
 */

const passageOf = (prompt: string) => /<passage>\n([\s\S]*?)\n<\/passage>/.exec(prompt)?.[1] ?? "";

function groundedResponder(request: RecordedChatRequest) {
  const passage = passageOf(userMessage(request));
  const word = (passage.match(/[A-Za-z]{5,}/g) ?? ["thing"])[0]?.toLowerCase();
  return {
    content: JSON.stringify({
      task_definition: "Given a question about a historical text, retrieve the passage that answers it.",
      query: `who created ${word} in request ${request.index}`,
    }),
  };
}

const readLines = (file: string): SynthExample[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as SynthExample);

describe("synth --from-table (corpus-grounded)", () => {
  let fake: FakeOpenAI;
  let embedder: Embedder;
  let dir: string;
  let cleanup: () => Promise<void>;
  let stored: Map<string, { text: string; doc_id: string }>;
  let fileNumber = 0;

  before(async () => {
    ({ dir, cleanup } = await tempDir("lance-e5-synth-table-"));
    embedder = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
    await buildTable(dir, embedder);
    const table = await (await lancedb.connect(dir)).openTable("docs");
    const rows = await table.query().select(["id", "doc_id", "text"]).toArray();
    stored = new Map(rows.map((row) => [String(row.id), { text: String(row.text), doc_id: String(row.doc_id) }]));
    fake = await startFakeOpenAI({ respond: groundedResponder });
  });
  after(async () => {
    await fake.close();
    await embedder.dispose();
    await cleanup();
  });

  const run = (overrides: Partial<FromTableOptions>) =>
    generateFromTable({
      baseUrl: fake.baseUrl,
      model: "fake-teacher",
      db: dir,
      table: "docs",
      embedder,
      negatives: "fulltext",
      language: "en",
      count: 6,
      seed: "s",
      out: path.join(dir, `grounded-${fileNumber++}.jsonl`),
      retryBaseMs: 1,
      ...overrides,
    });

  test("full-text mining: positives are stored passages, negatives stored passages of other documents", async () => {
    assert.equal(stored.size, CORPUS.length);
    const summary = await run({ concurrency: 2 });
    assert.equal(summary.stopped, "complete");
    assert.equal(summary.withoutNegative, 0);
    const lines = readLines(summary.out);
    assert.equal(lines.length, 6);
    assert.equal(new Set(lines.map((l) => l.meta?.chunk_id)).size, 6, "six different passages");
    for (const line of lines) {
      assert.equal(schemaErrors(line), undefined);
      assert.equal(line.task_family, "short-long");
      assert.equal(line.source, "corpus:docs");
      assert.equal(line.instruction, "Given a question about a historical text, retrieve the passage that answers it.");
      const positive = stored.get(line.meta?.chunk_id as string);
      assert.equal(line.positive, positive?.text);
      assert.equal(line.meta?.doc_id, positive?.doc_id);
      const negative = stored.get(line.meta?.negative_chunk_id as string);
      assert.equal(line.negative, negative?.text);
      assert.notEqual(negative?.doc_id, positive?.doc_id);
      assert.equal(line.meta?.negative_doc_id, negative?.doc_id);
      // BM25 on "created": the negative shares the word (the positive may or may not).
      assert.match(line.negative ?? "", /created/);
    }
  });

  test("vector mining with the table's model also yields other documents' passages; none mining yields none", async () => {
    const byVector = await run({ negatives: "vector", count: 3 });
    assert.equal(byVector.stopped, "complete");
    for (const line of readLines(byVector.out)) {
      const positive = stored.get(line.meta?.chunk_id as string);
      const negative = stored.get(line.meta?.negative_chunk_id as string);
      assert.ok(negative, "a negative was mined");
      assert.notEqual(negative.doc_id, positive?.doc_id);
      assert.equal(line.meta?.mining, "vector");
    }
    const without = await run({ negatives: "none", count: 2 });
    assert.equal(without.withoutNegative, 2);
    for (const line of readLines(without.out)) assert.equal(line.negative, undefined);
  });

  test("a query copied from its passage, and malformed answers, are dropped by reason", async () => {
    fake.push(
      { content: "not json" },
      { content: JSON.stringify({ task_definition: "Retrieve it.", query: "q", note: "x" }) },
      { content: JSON.stringify({ task_definition: "Retrieve it.", query: " " }) },
    );
    const summary = await run({ count: 2, concurrency: 1 });
    assert.equal(summary.stopped, "complete");
    assert.deepEqual(summary.drops, { "invalid-json": 1, "extra-keys": 1, "empty-field": 1 });
    // A responder that copies the first words of the passage: always inside the positive.
    const copying = await startFakeOpenAI({
      respond: (request) => ({
        content: JSON.stringify({
          task_definition: "Retrieve it.",
          query: passageOf(userMessage(request)).slice(0, 20),
        }),
      }),
    });
    try {
      const copied = await run({ baseUrl: copying.baseUrl, count: 1, maxAttempts: 3 });
      assert.equal(copied.stopped, "max-attempts");
      assert.equal(copied.drops["query-in-positive"], 3);
    } finally {
      await copying.close();
    }
  });

  test("resume continues with new passages; a table made by another model is refused", async () => {
    const out = path.join(dir, "resumed.jsonl");
    const first = await run({ out, count: 3 });
    assert.equal(first.written, 3);
    const second = await run({ out, count: 7 });
    assert.equal(second.resumed, 3);
    assert.equal(second.written, 7);
    const lines = readLines(out);
    assert.equal(lines.length, 7);
    assert.equal(new Set(lines.map((l) => l.meta?.chunk_id)).size, 7);
    const qwen = await loadEmbedder(TINY_QWEN2, { threads: 1 });
    try {
      await assert.rejects(run({ embedder: qwen, count: 1 }), ModelMismatchError);
    } finally {
      await qwen.dispose();
    }
    await assert.rejects(run({ language: "English" }), /BCP-47/);
  });
});
