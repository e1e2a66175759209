import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ScoredHit } from "../../src/eval/metrics.ts";
import { topDocuments } from "../../src/eval/retrieval.ts";

/** An in-memory ranked chunk list standing in for one query's results (the algorithm under test is pure). */
function rankedChunks(hits: ScoredHit[]) {
  const sorted = [...hits].sort((a, b) => b.score - a.score);
  const limits: number[] = [];
  const search = async (_query: string, limit: number) => {
    limits.push(limit);
    return sorted.slice(0, limit);
  };
  return { search, limits };
}

describe("topDocuments (chunk depth for k documents)", () => {
  it("asks for more chunks until k distinct documents are covered", async () => {
    // Document "a" owns the 6 best chunks; "b" and "c" come after.
    const hits = [
      ...Array.from({ length: 6 }, (_, i) => ({ doc_id: "a", score: 0.9 - i * 0.01 })),
      { doc_id: "b", score: 0.5 },
      { doc_id: "c", score: 0.4 },
      { doc_id: "b", score: 0.3 },
    ];
    const { search, limits } = rankedChunks(hits);
    assert.deepEqual(await topDocuments(search, "q", 2), ["a", "b"]);
    assert.deepEqual(limits, [2, 8]);
  });

  it("stops when the table runs out, returning fewer than k", async () => {
    const { search, limits } = rankedChunks([
      { doc_id: "a", score: 1 },
      { doc_id: "a", score: 0.5 },
    ]);
    assert.deepEqual(await topDocuments(search, "q", 3), ["a"]);
    assert.deepEqual(limits, [3]);
  });

  it("never asks beyond the search's maximum k", async () => {
    const hits = Array.from({ length: 50 }, (_, i) => ({ doc_id: "same", score: 1 - i / 100 }));
    const { search, limits } = rankedChunks(hits);
    assert.deepEqual(await topDocuments(search, "q", 5, 20), ["same"]);
    assert.deepEqual(limits, [5, 20]);
  });
});
