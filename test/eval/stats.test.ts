import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { loadBitextPairs, miningAccuracy } from "../../src/eval/bitext.ts";
import { EvalInputError } from "../../src/eval/errors.ts";
import { averageRanks, cosine, pearson, spearman } from "../../src/eval/stats.ts";
import { loadStsPairs } from "../../src/eval/sts.ts";
import { jsonl, tempDir } from "./helpers.ts";

const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `expected ${expected}, got ${actual}`);

describe("Spearman with ties", () => {
  it("average ranks for tied values", () => {
    assert.deepEqual(averageRanks([10, 20, 20, 5, 20]), [2, 4, 4, 1, 4]);
  });

  it("matches the hand-computed (and scipy.stats.spearmanr) value with a tie", () => {
    // ranks y = [1, 2, 3.5, 5, 3.5]; r = 8 / sqrt(10 * 9.5) = 0.8207826816681233
    close(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 8 / Math.sqrt(95));
  });

  it("is rank-based: any monotone transform gives 1, reversal gives -1", () => {
    close(spearman([1, 2, 3, 4], [1, 10, 100, 1000]), 1);
    close(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  });

  it("is undefined (NaN) without variance", () => {
    assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  });

  it("cosine of unnormalised vectors", () => {
    close(cosine(new Float32Array([3, 4]), new Float32Array([6, 8])), 1);
    close(cosine(new Float32Array([1, 0]), new Float32Array([0, 2])), 0);
  });
});

describe("miningAccuracy", () => {
  const v = (...xs: number[]) => new Float32Array(xs);
  it("counts sources whose nearest target is their own translation", () => {
    const sources = [v(1, 0), v(0, 1), v(0.6, 0.8)];
    const targets = [v(1, 0), v(0.8, 0.6), v(0, 1)]; // source 1 lands on target 2, source 2 on target 1
    close(miningAccuracy(sources, targets, ["a", "b", "c"]), 1 / 3);
  });

  it("a nearest target with the gold text counts as found (duplicates are indistinguishable)", () => {
    const sources = [v(1, 0), v(1, 0)];
    const targets = [v(1, 0), v(1, 0)];
    close(miningAccuracy(sources, targets, ["same", "same"]), 1);
    // Different texts with identical vectors: the tie goes to the earlier line, so only the first is right.
    close(miningAccuracy(sources, targets, ["one", "two"]), 0.5);
  });
});

describe("pair files", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  const write = async (name: string, text: string) => {
    const file = path.join(dir, name);
    await writeFile(file, text);
    return file;
  };

  it("reads STS and bitext pairs", async () => {
    const sts = await loadStsPairs(
      await write(
        "sts.jsonl",
        jsonl([
          { s1: "a", s2: "b", score: 1 },
          { s1: "c", s2: "d", score: 4.5 },
        ]),
      ),
    );
    assert.deepEqual(sts[1], { s1: "c", s2: "d", score: 4.5 });
    const bitext = await loadBitextPairs(
      await write(
        "bitext.jsonl",
        jsonl([
          { en: "File", xx: "Datei" },
          { en: "Open", xx: "Öffnen" },
        ]),
      ),
    );
    assert.deepEqual(bitext[1], { en: "Open", xx: "Öffnen" });
  });

  it("bad lines → typed errors with line numbers", async () => {
    const sts = await write(
      "bad-sts.jsonl",
      `${jsonl([{ s1: "a", s2: "b", score: 1 }])}{"s1":"a","s2":"b","score":"3"}\n`,
    );
    await assert.rejects(loadStsPairs(sts), (error: unknown) => {
      assert.ok(error instanceof EvalInputError);
      assert.equal(error.line, 2);
      assert.match(error.message, /"score" must be a finite number/);
      return true;
    });
    const bitext = await write(
      "bad-bitext.jsonl",
      jsonl([
        { en: "File", xx: "Datei" },
        { en: "Open", de: "Öffnen" },
      ]),
    );
    await assert.rejects(loadBitextPairs(bitext), /bad-bitext\.jsonl:2: field "xx" must be a string \(it is missing\)/);
  });

  it("too few pairs, or constant STS scores, are errors", async () => {
    await assert.rejects(loadBitextPairs(await write("one.jsonl", jsonl([{ en: "a", xx: "b" }]))), /at least 2 pairs/);
    const flat = jsonl([
      { s1: "a", s2: "b", score: 3 },
      { s1: "c", s2: "d", score: 3 },
    ]);
    await assert.rejects(loadStsPairs(await write("flat.jsonl", flat)), /Spearman correlation is undefined/);
  });
});
