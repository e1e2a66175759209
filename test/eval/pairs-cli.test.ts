import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { dot, spearman } from "../../src/eval/stats.ts";
import { loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { FIXTURE_MODELS, jsonl, runCli, tempDir } from "./helpers.ts";

// The fixture models have random weights, so similarities mean nothing. The expectations below hold anyway:
// identical strings get identical vectors (cosine 1, the maximum), distinct strings almost surely do not.

const SENTENCES = [
  "Open the file",
  "Сохранить как",
  "打开文件",
  "Quit the program",
  "Datei speichern unter",
  "ファイルを閉じる",
  "Print preview",
  "Поиск и замена",
];

let dir: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

describe("lance-e5 bitext", () => {
  for (const model of ["tiny-mistral", "tiny-qwen3"]) {
    it(`self-translation pairs are all found (${model})`, async () => {
      const file = await write(`self-${model}.jsonl`, jsonl(SENTENCES.map((s) => ({ en: s, xx: s }))));
      const run = await runCli(["bitext", file, "--model", path.join(FIXTURE_MODELS, model), "--json"]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), {
        accuracy: 1,
        accuracy_en2xx: 1,
        accuracy_xx2en: 1,
        pairs: SENTENCES.length,
      });
    });
  }

  it("a mismatched pair costs exactly its own hit; duplicate texts count as found", async () => {
    // Line 0 pairs SENTENCES[0] with SENTENCES[1], which is also line 1's text on both sides.
    const pairs = SENTENCES.map((s) => ({ en: s, xx: s }));
    pairs[0] = { en: SENTENCES[0]!, xx: SENTENCES[1]! };
    const file = await write("swapped.jsonl", jsonl(pairs));
    const run = await runCli(["bitext", file, "--model", path.join(FIXTURE_MODELS, "tiny-mistral"), "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    // xx→en: xx[0] is identical to en[1], so it is mined as line 1, whose text is not the gold en[0]: one miss.
    assert.equal(result.accuracy_xx2en, (SENTENCES.length - 1) / SENTENCES.length);
    // en→xx: en[1] ties between xx[0] and xx[1] (same text), which counts as found; only en[0] (whose gold text
    // occurs nowhere identically) may miss, depending on the random weights.
    assert.ok(result.accuracy_en2xx >= (SENTENCES.length - 1) / SENTENCES.length);
    assert.equal(result.accuracy, (result.accuracy_en2xx + result.accuracy_xx2en) / 2);
  });

  it("human output, and bad input → non-zero exit naming file and line", async () => {
    const good = await write("human.jsonl", jsonl(SENTENCES.slice(0, 3).map((s) => ({ en: s, xx: s }))));
    const human = await runCli(["bitext", good, "--model", path.join(FIXTURE_MODELS, "tiny-mistral")]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /accuracy 1\.0000 .* over 3 pairs/);
    const bad = await write("bad.jsonl", `${jsonl([{ en: "a", xx: "b" }])}{"en": "c", "xx": 3}\n`);
    const run = await runCli(["bitext", bad, "--model", path.join(FIXTURE_MODELS, "tiny-mistral")]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /bad\.jsonl:2: field "xx" must be a string/);
    assert.equal(run.stdout, "");
  });
});

describe("lance-e5 sts", () => {
  it("matches Spearman over cosines of STS-instructed embeddings on both sides", async () => {
    const pairs = [
      ...SENTENCES.slice(0, 4).map((s) => ({ s1: s, s2: s, score: 5 })),
      ...SENTENCES.slice(4).map((s, i) => ({ s1: s, s2: SENTENCES[i]!, score: i })),
    ];
    const file = await write("sts.jsonl", jsonl(pairs));
    const modelDir = path.join(FIXTURE_MODELS, "tiny-mistral");
    const run = await runCli(["sts", file, "--model", modelDir, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.deepEqual(Object.keys(result), ["spearman", "pairs"]);
    assert.equal(result.pairs, pairs.length);

    // The same computation by hand through the Embedder: the instruction goes on both sides (symmetric task).
    const embedder = await loadEmbedder(modelDir, { threads: 1 });
    try {
      const a = await embedder.embedQueries(
        pairs.map((p) => p.s1),
        { task: "sts" },
      );
      const b = await embedder.embedQueries(
        pairs.map((p) => p.s2),
        { task: "sts" },
      );
      const expected = spearman(
        pairs.map((_, i) => dot(a[i]!, b[i]!)),
        pairs.map((p) => p.score),
      );
      assert.ok(Math.abs(result.spearman - expected) < 1e-9, `${result.spearman} vs ${expected}`);
    } finally {
      await embedder.dispose();
    }
    // Identical pairs (cosine 1, the top similarities) carry the top gold score, so the correlation is positive.
    assert.ok(result.spearman > 0 && result.spearman <= 1);
  });

  it("bad input → non-zero exit naming file and line", async () => {
    const bad = await write("sts-bad.jsonl", `${jsonl([{ s1: "a", s2: "b", score: 1 }])}not json\n`);
    const run = await runCli(["sts", bad, "--model", path.join(FIXTURE_MODELS, "tiny-mistral")]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /sts-bad\.jsonl:2: invalid JSON/);
  });
});
