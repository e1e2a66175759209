import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { documentText, loadBeirDataset } from "../../src/eval/beir.ts";
import { EvalInputError } from "../../src/eval/errors.ts";
import { jsonl, tempDir, writeBeirDir } from "./helpers.ts";

const corpus = jsonl([
  { _id: "d1", title: "Cats", text: "Cats purr." },
  { _id: "d2", title: "", text: "Dogs bark." },
  { _id: 3, text: "Numeric id, no title." },
]);
const queries = jsonl([
  { _id: "q1", text: "what purrs" },
  { _id: "q2", text: "what barks" },
  { _id: "q3", text: "unjudged" },
]);
const qrels = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\t3\t0\nq2\td2\t1\n";

let root: string;
let cleanup: () => Promise<void>;
let n = 0;
before(async () => ({ dir: root, cleanup } = await tempDir()));
after(() => cleanup());

async function beir(files: { corpus?: string; queries?: string; qrels?: string }): Promise<string> {
  n += 1;
  return writeBeirDir(path.join(root, `case${n}`), files);
}

async function rejectsAt(dir: string, file: string, line: number | null, pattern: RegExp): Promise<void> {
  await assert.rejects(loadBeirDataset(dir), (error: unknown) => {
    assert.ok(error instanceof EvalInputError, `expected EvalInputError, got ${error}`);
    assert.equal(path.basename(error.file), file);
    assert.equal(error.line, line);
    assert.match(error.message, pattern);
    return true;
  });
}

describe("loadBeirDataset", () => {
  it("reads corpus, queries and graded qrels, skipping the header line", async () => {
    const data = await loadBeirDataset(await beir({ corpus, queries, qrels }));
    assert.deepEqual(
      data.corpus.map((doc) => doc.id),
      ["d1", "d2", "3"],
    );
    assert.equal(data.queries.length, 3);
    assert.deepEqual(
      [...data.qrels.get("q1")!],
      [
        ["d1", 2],
        ["3", 0],
      ],
    );
    assert.equal(data.qrels.has("q3"), false);
    assert.equal(documentText(data.corpus[0]!), "Cats\nCats purr.");
    assert.equal(documentText(data.corpus[1]!), "Dogs bark.");
  });

  it("accepts qrels without a header line and CRLF line ends", async () => {
    const data = await loadBeirDataset(await beir({ corpus, queries, qrels: "q1\td1\t1\r\nq2\td2\t1\r\n" }));
    assert.equal(data.qrels.get("q1")!.get("d1"), 1);
  });

  it("names every missing file", async () => {
    const dir = await beir({ corpus });
    await assert.rejects(loadBeirDataset(dir), /missing .*queries\.jsonl, .*qrels[/\\]test\.tsv/);
  });

  it("bad JSON line → file and line number", async () => {
    const bad = `${jsonl([{ _id: "d1", text: "ok" }])}{"_id": "d2", "text": \n`;
    await rejectsAt(await beir({ corpus: bad, queries, qrels }), "corpus.jsonl", 2, /invalid JSON/);
  });

  it("a JSON line that is not an object → line number", async () => {
    await rejectsAt(await beir({ corpus, queries: `${queries}[1,2]\n`, qrels }), "queries.jsonl", 4, /JSON object/);
  });

  it("missing or mistyped fields → line number and field name", async () => {
    await rejectsAt(
      await beir({ corpus: jsonl([{ _id: "d1", text: "x" }, { text: "no id" }]), queries, qrels }),
      "corpus.jsonl",
      2,
      /"_id" must be a string \(it is missing\)/,
    );
    await rejectsAt(
      await beir({ corpus, queries: jsonl([{ _id: "q1", text: 5 }]), qrels }),
      "queries.jsonl",
      1,
      /"text" must be a string \(it is a number\)/,
    );
  });

  it("duplicate ids → both line numbers", async () => {
    await rejectsAt(
      await beir({ corpus: `${corpus}${jsonl([{ _id: "d1", text: "again" }])}`, queries, qrels }),
      "corpus.jsonl",
      4,
      /duplicate document id "d1" \(first on line 1\)/,
    );
  });

  it("qrels naming an unknown document or query → line number", async () => {
    await rejectsAt(
      await beir({ corpus, queries, qrels: `${qrels}q2\tnope\t1\n` }),
      "test.tsv",
      5,
      /corpus-id "nope" is not in corpus\.jsonl/,
    );
    await rejectsAt(
      await beir({ corpus, queries, qrels: "query-id\tcorpus-id\tscore\nq9\td1\t1\n" }),
      "test.tsv",
      2,
      /query-id "q9" is not in queries\.jsonl/,
    );
  });

  it("malformed qrels lines → line number", async () => {
    await rejectsAt(await beir({ corpus, queries, qrels: "q1 d1 1\n" }), "test.tsv", 1, /3 tab-separated fields/);
    await rejectsAt(await beir({ corpus, queries, qrels: "q1\td1\thigh\n" }), "test.tsv", 1, /must be an integer/);
    await rejectsAt(
      await beir({ corpus, queries, qrels: "qid\tdocid\tscore\nq1\td1\t1\n" }),
      "test.tsv",
      1,
      /header must be/,
    );
    await rejectsAt(
      await beir({ corpus, queries, qrels: "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t2\n" }),
      "test.tsv",
      3,
      /duplicate judgment/,
    );
  });

  it("empty files are errors, not zero scores", async () => {
    await rejectsAt(await beir({ corpus: "\n", queries, qrels }), "corpus.jsonl", null, /no documents/);
    await rejectsAt(
      await beir({ corpus, queries, qrels: "query-id\tcorpus-id\tscore\n" }),
      "test.tsv",
      null,
      /no relevance/,
    );
  });
});
