import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURE_MODELS, jsonl, runCli, tempDir, writeBeirDir } from "./helpers.ts";

const MODEL = path.join(FIXTURE_MODELS, "tiny-mistral");

let root: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir: root, cleanup } = await tempDir()));
after(() => cleanup());

const tinyBeir = (name: string) =>
  writeBeirDir(path.join(root, name), {
    corpus: jsonl([
      { _id: "a", title: "", text: "first" },
      { _id: "b", title: "", text: "second" },
    ]),
    queries: jsonl([{ _id: "q", text: "first" }]),
    qrels: "query-id\tcorpus-id\tscore\nq\ta\t1\n",
  });

describe("lance-e5 eval: arguments", () => {
  it("refuses to guess the query instruction in modes that embed queries", async () => {
    const dir = await tinyBeir("no-instruction");
    for (const mode of ["vector", "hybrid"]) {
      const run = await runCli(["eval", dir, "--model", MODEL, "--mode", mode]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /choose the query instruction: --task NAME, --instruction TEXT or --no-instruction/);
      assert.equal(run.stdout, "");
    }
  });

  it("rejects conflicting or invalid flags with exit code 2", async () => {
    const dir = await tinyBeir("flags");
    const cases: Array<[string[], RegExp]> = [
      [["--task", "web_search", "--instruction", "Find it"], /only one of --task, --instruction, --no-instruction/],
      [["--task", "web_search", "--no-instruction"], /only one of/],
      [["--task", "nope"], /unknown task "nope"; known tasks: web_search/],
      [["--instruction", "  "], /--instruction must not be empty/],
      [["--task", "web_search", "--mode", "bm25"], /--mode must be one of vector, fulltext, hybrid/],
      [["--task", "web_search", "--k", "0"], /--k must be an integer from 1/],
      [["--task", "web_search", "--k", "ten"], /--k must be an integer/],
      [["--task", "web_search", "--chunk-tokens", "-3"], /--chunk-tokens must be a positive integer/],
    ];
    for (const [flags, message] of cases) {
      const run = await runCli(["eval", dir, "--model", MODEL, ...flags]);
      assert.equal(run.code, 2, `${flags.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, message, flags.join(" "));
    }
  });

  it("a malformed BEIR directory fails before any model is loaded, naming file and line", async () => {
    const dir = await writeBeirDir(path.join(root, "malformed"), {
      corpus: jsonl([{ _id: "a", text: "x" }]),
      queries: jsonl([{ _id: "q", text: "x" }]),
      qrels: "query-id\tcorpus-id\tscore\nq\tzzz\t1\n",
    });
    const run = await runCli(["eval", dir, "--model", path.join(root, "no-such-model"), "--task", "web_search"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /test\.tsv:2: corpus-id "zzz" is not in corpus\.jsonl/);
    const missing = await runCli(["eval", path.join(root, "nothing-here"), "--task", "web_search"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not a BEIR directory: missing .*corpus\.jsonl/);
  });
});

describe("lance-e5 eval: model options", () => {
  it("--long-context on a model without a long_context block is a clear error", async () => {
    const dir = await tinyBeir("long-context");
    const run = await runCli(["eval", dir, "--model", MODEL, "--task", "web_search", "--long-context", "--json"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /model "tiny-mistral" has no long_context block/);
    assert.equal(run.stdout, "");
  });
});

describe("lance-e5 eval-report", () => {
  it("turns saved --json runs into a Markdown table, to stdout or --out", async () => {
    const bm25 = path.join(root, "man.bm25.json");
    const model = path.join(root, "man.model.json");
    const run = (ndcg: number) => ({
      "ndcg@10": ndcg,
      "mrr@10": 0.5,
      "recall@1": 0.25,
      "recall@10": 0.75,
      "recall@100": 1,
      queries: 10,
      seconds: 2,
    });
    await writeFile(bm25, JSON.stringify(run(0.64)));
    await writeFile(model, JSON.stringify(run(0.36)));
    const printed = await runCli(["eval-report", bm25, `tiny=${model}`]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /\| man\.bm25 \| \*\*0\.6400\*\* \| \*\*0\.5000\*\* \|/);
    assert.match(printed.stdout, /\| tiny \| 0\.3600 \|/);
    const out = path.join(root, "report.md");
    const written = await runCli(["eval-report", bm25, model, "--out", out, "--title", "Man pages"]);
    assert.equal(written.code, 0, written.stderr);
    assert.match(await readFile(out, "utf8"), /^# Man pages\n/);
    const bad = await runCli(["eval-report", path.join(root, "absent.json")]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /absent\.json: file not found/);
  });
});
