import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Embedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/index.ts";
import type { FromTableSummary } from "../../src/synth/llm/from-table.ts";
import type { OfflineSummary } from "../../src/synth/offline/index.ts";
import { type SynthExample, schemaErrors } from "../../src/synth/validate.ts";
import { type FakeOpenAI, startFakeOpenAI, userMessage } from "../helpers/fake-openai.ts";
import { buildTable, runCli, TINY_MISTRAL, tempDir } from "../search/helpers.ts";

/**
 * `lance-e5 synth --from-table` and `--offline` as a user runs them (child processes), and the flag checks that
 * keep the three modes apart. The table is built by the real ingest pipeline with the tiny random Mistral
 * fixture; --offline reads the man pages that scripts/setup.d/corpora.sh installs.
 */

const readLines = (file: string): SynthExample[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as SynthExample);

describe("lance-e5 synth: --from-table and --offline", () => {
  let fake: FakeOpenAI;
  let embedder: Embedder;
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir("lance-e5-synth-modes-"));
    embedder = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
    await buildTable(dir, embedder);
    fake = await startFakeOpenAI({
      respond: (request) => {
        const word = /<passage>\n\W*(\w+)/.exec(userMessage(request))?.[1] ?? "it";
        return {
          content: JSON.stringify({
            task_definition: "Given a question, retrieve the historical passage that answers it.",
            query: `who created ${word.toLowerCase()} ${request.index}`,
          }),
        };
      },
    });
  });
  after(async () => {
    await fake.close();
    await embedder.dispose();
    await cleanup();
  });

  test("--from-table writes grounded examples with mined negatives and a --json summary", async () => {
    const out = path.join(dir, "grounded.jsonl");
    const result = await runCli(
      [
        "synth",
        "--from-table",
        "docs",
        "--db",
        dir,
        "--model",
        TINY_MISTRAL,
        "--llm-base-url",
        fake.baseUrl,
        "--llm-model",
        "fake-teacher",
        "--count",
        "4",
        "--out",
        out,
        "--json",
      ],
      { OPENAI_API_KEY: "" },
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as FromTableSummary;
    assert.equal(summary.written, 4);
    assert.equal(summary.withoutNegative, 0);
    assert.match(result.stderr, /without a hard negative: 0/);
    const lines = readLines(out);
    assert.equal(lines.length, 4);
    for (const line of lines) {
      assert.equal(schemaErrors(line), undefined);
      assert.equal(line.source, "corpus:docs");
      assert.notEqual(line.meta?.negative_doc_id, line.meta?.doc_id);
    }
  });

  test("--offline writes every line valid from installed corpora; refuses to overwrite without --force", async () => {
    const out = path.join(dir, "offline.jsonl");
    const args = ["synth", "--offline", "--sources", "man", "--count", "12", "--seed", "3", "--out", out, "--json"];
    const result = await runCli(args);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as OfflineSummary;
    assert.equal(summary.written, 12);
    assert.match(result.stderr, /synth --offline: 12\/12 examples/);
    const lines = readLines(out);
    assert.equal(lines.length, 12);
    for (const line of lines) {
      assert.equal(schemaErrors(line), undefined);
      assert.equal(line.source, "offline:man");
    }
    const again = await runCli(args);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists; --offline regenerates the whole file: pass --force/);
    assert.equal(readLines(out).length, 12);
    const forced = await runCli([...args, "--force", "--count", "5"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(readLines(out).length, 5);
  });

  test("flags of another mode are refused with exit 2", async () => {
    const out = path.join(dir, "refused.jsonl");
    writeFileSync(out, "");
    const cases: Array<[string[], RegExp]> = [
      [["--offline", "--llm-model", "m"], /--llm-model does not apply to --offline/],
      [["--offline", "--sources", "man,klingon"], /--sources takes .*got "man,klingon"/],
      [["--offline", "--from-table", "docs"], /give --offline or --from-table, not both/],
      [
        ["--from-table", "docs", "--families", "sts", "--llm-base-url", fake.baseUrl, "--llm-model", "m"],
        /--families does not apply to --from-table/,
      ],
      [
        ["--from-table", "docs", "--negatives", "magic", "--llm-base-url", fake.baseUrl, "--llm-model", "m"],
        /--negatives must be one of fulltext, vector, none/,
      ],
      [["--llm-base-url", fake.baseUrl, "--llm-model", "m", "--sources", "man"], /--sources does not apply to the LLM/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(["synth", "--out", out, ...args])));
    results.forEach((result, index) => {
      const [args, expected] = cases[index] as [string[], RegExp];
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, expected);
    });
    assert.equal(readFileSync(out, "utf8"), "");
  });
});
