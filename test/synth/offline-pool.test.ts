import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CorpusDocument } from "../../src/corpora/types.ts";
import { isHeldOut } from "../../src/data/split.ts";
import { sampleTrainingPool, selectTrainingIds } from "../../src/synth/offline/pool.ts";

async function* stream(docs: CorpusDocument[]) {
  yield* docs;
}

describe("training pool sampling (held-out rule applied before any text is used)", () => {
  const docs: CorpusDocument[] = Array.from({ length: 3000 }, (_, i) => ({ corpus: "man", id: `1/page${i}` }));

  it("never keeps a held-out document, and keeps the requested number", async () => {
    const heldOut = docs.filter((d) => isHeldOut(d.corpus, d.id)).length;
    assert.ok(heldOut > 400 && heldOut < 800, `split rule holds out ~20%: ${heldOut}`);
    const pool = await sampleTrainingPool(stream(docs), 1000, "s");
    assert.equal(pool.length, 1000);
    assert.ok(pool.every((d) => !isHeldOut(d.corpus, d.id)));
    const all = await sampleTrainingPool(stream(docs), 10_000, "s");
    assert.equal(all.length, docs.length - heldOut);
  });

  it("depends on the seed, not on the order documents arrive in", async () => {
    const a = await sampleTrainingPool(stream(docs), 200, "seed-a");
    const b = await sampleTrainingPool(stream([...docs].reverse()), 200, "seed-a");
    const c = await sampleTrainingPool(stream(docs), 200, "seed-b");
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it("id pre-selection (used before rendering man pages) follows the same rule", () => {
    const ids = selectTrainingIds(
      "man",
      docs.map((d) => d.id),
      500,
      "s",
    );
    assert.equal(ids.size, 500);
    for (const id of ids) assert.equal(isHeldOut("man", id), false);
  });
});
