import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { EvalInputError } from "../../src/eval/errors.ts";
import { loadSavedRun, parseRunArgument, renderReport } from "../../src/eval/report.ts";
import { tempDir } from "./helpers.ts";

describe("eval-report", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());
  const save = async (name: string, value: unknown) => {
    const file = path.join(dir, name);
    await writeFile(file, typeof value === "string" ? value : JSON.stringify(value));
    return file;
  };
  const retrieval = (ndcg: number, mrr: number) => ({
    "ndcg@10": ndcg,
    "mrr@10": mrr,
    "recall@1": 0.25,
    "recall@10": 0.5,
    "recall@100": 0.75,
    queries: 40,
    seconds: 12.345,
  });

  it("labels runs by file name or LABEL=FILE", () => {
    assert.deepEqual(parseRunArgument("runs/man.bm25.json"), { label: "man.bm25", file: "runs/man.bm25.json" });
    assert.deepEqual(parseRunArgument("BM25=a=b.json"), { label: "BM25", file: "a=b.json" });
  });

  it("renders one table per kind with the best quality value in bold", async () => {
    const runs = [
      await loadSavedRun(await save("bm25.json", retrieval(0.64, 0.5))),
      await loadSavedRun(`model|v1=${await save("model.json", retrieval(0.36, 0.7))}`),
      await loadSavedRun(
        await save("de.json", { accuracy: 0.9, accuracy_en2xx: 0.85, accuracy_xx2en: 0.95, pairs: 100 }),
      ),
    ];
    const markdown = renderReport(runs, "Visible benchmarks");
    assert.equal(
      markdown,
      [
        "# Visible benchmarks",
        "",
        "## Retrieval",
        "",
        "| run | ndcg@10 | mrr@10 | recall@1 | recall@10 | recall@100 | queries | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        "| bm25 | **0.6400** | 0.5000 | **0.2500** | **0.5000** | **0.7500** | 40 | 12.3 |",
        "| model\\|v1 | 0.3600 | **0.7000** | **0.2500** | **0.5000** | **0.7500** | 40 | 12.3 |",
        "",
        "## Bitext mining",
        "",
        "| run | accuracy | accuracy_en2xx | accuracy_xx2en | pairs |",
        "|---|---:|---:|---:|---:|",
        "| de | 0.9000 | 0.8500 | 0.9500 | 100 |",
        "",
      ].join("\n"),
    );
  });

  it('compares runs only within their benchmark (labels "benchmark · run")', async () => {
    const runs = [
      await loadSavedRun(`man · BM25=${await save("a.json", retrieval(0.6, 0.2))}`),
      await loadSavedRun(`man · model=${await save("b.json", retrieval(0.4, 0.3))}`),
      await loadSavedRun(`wordnet · BM25=${await save("c.json", retrieval(0.9, 0.9))}`),
    ];
    const lines = renderReport(runs).split("\n");
    assert.ok(
      lines.includes("| man · BM25 | **0.6000** | 0.2000 | **0.2500** | **0.5000** | **0.7500** | 40 | 12.3 |"),
    );
    assert.ok(
      lines.includes("| man · model | 0.4000 | **0.3000** | **0.2500** | **0.5000** | **0.7500** | 40 | 12.3 |"),
    );
    // Alone in its benchmark: nothing to beat, nothing bold (0.9 is not "better" than man's numbers).
    assert.ok(lines.includes("| wordnet · BM25 | 0.9000 | 0.9000 | 0.2500 | 0.5000 | 0.7500 | 40 | 12.3 |"));
  });

  it("rejects files that are not a saved run, naming the file", async () => {
    const extra = await save("extra.json", { ...retrieval(0.1, 0.1), skipped: 2 });
    await assert.rejects(loadSavedRun(extra), (error: unknown) => {
      assert.ok(error instanceof EvalInputError);
      assert.equal(error.file, extra);
      assert.match(error.message, /match no run kind/);
      return true;
    });
    await assert.rejects(loadSavedRun(await save("broken.json", "{")), /broken\.json: invalid JSON/);
    await assert.rejects(
      loadSavedRun(await save("str.json", { spearman: "0.5", pairs: 3 })),
      /"spearman" must be a finite number/,
    );
    await assert.rejects(loadSavedRun(path.join(dir, "absent.json")), /absent\.json: file not found/);
  });
});
