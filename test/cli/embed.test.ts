/**
 * `lance-e5 embed` end to end: the real CLI in a child process, real fixture model, JSONL in and out.
 * Vectors are checked against reference.json (random weights: only numerical agreement is meaningful).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { fixtureDir, maxAbsDiff, readReference } from "../model/fixtures.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MODEL = fixtureDir("tiny-mistral");
const reference = readReference("tiny-mistral");
const tmp = mkdtempSync(path.join(os.tmpdir(), "lance-e5-cli-embed-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], stdin = ""): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "embed", ...args], {
      cwd: ROOT,
      env: { ...process.env, LANCE_E5_THREADS: "1", LANCE_E5_MODEL: MODEL },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const jsonl = (texts: unknown[]) => `${texts.map((text) => JSON.stringify({ text })).join("\n")}\n`;
const embeddings = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { embedding: number[] }).embedding);

describe("lance-e5 embed", () => {
  test("--document from stdin: one line per input line, in order, matching the reference", async () => {
    const docs = reference.cases.filter((c) => c.kind === "document" && c.max_length === 512);
    const run = await runCli(["--model", MODEL, "--document", "--json"], jsonl(docs.map((c) => c.text)));
    assert.equal(run.code, 0, run.stderr);
    const vectors = embeddings(run.stdout);
    assert.equal(vectors.length, docs.length);
    for (const [i, c] of docs.entries()) assert.ok(maxAbsDiff(vectors[i] as number[], c.embedding) <= 1e-4, c.id);
  });

  test("--query --instruction from --input FILE matches the instructed reference queries", async () => {
    const queries = reference.cases.filter((c) => c.kind === "query" && c.task === reference.cases[0]?.task);
    const file = path.join(tmp, "queries.jsonl");
    writeFileSync(file, jsonl(queries.map((c) => c.query)));
    const run = await runCli(["--query", "--instruction", queries[0]?.task as string, "--input", file]);
    assert.equal(run.code, 0, run.stderr);
    const vectors = embeddings(run.stdout);
    assert.equal(vectors.length, queries.length);
    for (const [i, c] of queries.entries()) assert.ok(maxAbsDiff(vectors[i] as number[], c.embedding) <= 1e-4, c.id);
  });

  test("--query --task web_search equals the web_search instruction, and differs from --document", async () => {
    const q = reference.cases.find((c) => c.id === "query-web");
    assert.ok(q);
    const byTask = await runCli(["--query", "--task", "web_search"], jsonl([q.query]));
    assert.equal(byTask.code, 0, byTask.stderr);
    assert.ok(maxAbsDiff(embeddings(byTask.stdout)[0] as number[], q.embedding) <= 1e-4);
    const asDoc = await runCli(["--document"], jsonl([q.query]));
    assert.ok(maxAbsDiff(embeddings(asDoc.stdout)[0] as number[], q.embedding) > 1e-3);
  });

  test("a bad line aborts with its line number, non-zero exit and no output", async () => {
    const cases: Array<[string, RegExp]> = [
      [`${jsonl(["ok"])}{"text": "unterminated\n`, /line 2: not valid JSON/],
      [`${jsonl(["ok", "fine"])}{"txt": "x"}\n`, /line 3: expected an object with a "text" field/],
      [jsonl(["ok", "   "]), /line 2: "text" text is empty or whitespace only/],
      [jsonl(["bad \ud800"]), /line 1: "text" text contains a lone UTF-16 surrogate/],
      [jsonl(["nul \u0000"]), /line 1: "text" text contains a NUL character/],
      [jsonl([7]), /line 1: "text" expected a string, got number/],
      [`${jsonl(["ok"])}\n${jsonl(["ok"])}`, /line 2: not valid JSON/],
    ];
    for (const [input, pattern] of cases) {
      const run = await runCli(["--document"], input);
      assert.notEqual(run.code, 0, input);
      assert.match(run.stderr, pattern);
      assert.equal(run.stdout, "");
    }
  });

  test("usage errors: both or neither of --query/--document, unknown task, bad dims, bad model", async () => {
    const both = await runCli(["--query", "--document"], jsonl(["x"]));
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one of --query or --document/);
    const neither = await runCli([], jsonl(["x"]));
    assert.equal(neither.code, 2);
    const unknown = await runCli(["--query", "--task", "astrology"], jsonl(["x"]));
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown task "astrology"; known tasks: web_search, question,.*sts, bitext/);
    const dims = await runCli(["--document", "--dimensions", "32"], jsonl(["x"]));
    assert.equal(dims.code, 1);
    assert.match(dims.stderr, /no Matryoshka dims/);
    const notNumber = await runCli(["--document", "--dimensions", "abc"], jsonl(["x"]));
    assert.notEqual(notNumber.code, 0);
    assert.match(notNumber.stderr, /must be a positive integer/);
    const noModel = await runCli(["--document", "--model", path.join(tmp, "missing")], jsonl(["x"]));
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, /lance-e5\.json is missing/);
    const noInput = await runCli(["--document", "--input", path.join(tmp, "nope.jsonl")]);
    assert.equal(noInput.code, 1);
    assert.match(noInput.stderr, /cannot read --input/);
  });

  test("empty input prints nothing and succeeds", async () => {
    const run = await runCli(["--document"], "");
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "");
  });
});
