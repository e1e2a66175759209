import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  meanRetrievalMetrics,
  mrrAtK,
  ndcgAtK,
  queryMetrics,
  rankDocuments,
  recallAtK,
} from "../../src/eval/metrics.ts";

// Expected values below are computed by hand from the definitions (linear gain, log2(rank + 1) discount),
// the same ones pytrec_eval uses for BEIR/MTEB.
const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `expected ${expected}, got ${actual}`);
const judged = (entries: Record<string, number>) => new Map(Object.entries(entries));
const LOG2_3 = Math.log2(3);

describe("retrieval metrics", () => {
  it("one relevant document at rank 2", () => {
    const judgments = judged({ d1: 1 });
    const ranking = ["d2", "d1", "d3"];
    close(ndcgAtK(ranking, judgments, 10), 1 / LOG2_3); // 0.6309
    close(mrrAtK(ranking, judgments, 10), 0.5);
    close(recallAtK(ranking, judgments, 1), 0);
    close(recallAtK(ranking, judgments, 10), 1);
  });

  it("graded relevance: swapping grades 2 and 1 costs nDCG", () => {
    const judgments = judged({ a: 2, b: 1 });
    // DCG = 1/1 + 2/log2(3); IDCG = 2/1 + 1/log2(3)
    close(ndcgAtK(["b", "a"], judgments, 10), (1 + 2 / LOG2_3) / (2 + 1 / LOG2_3)); // 0.8597
    close(ndcgAtK(["a", "b"], judgments, 10), 1);
    // MRR and recall are binary: both orders are equally good for them.
    close(mrrAtK(["b", "a"], judgments, 10), 1);
    close(recallAtK(["b", "a"], judgments, 1), 0.5);
  });

  it("a relevant document missing from the corpus still counts in the ideal DCG and recall denominator", () => {
    const judgments = judged({ a: 1, ghost: 1 });
    const ranking = ["a", "x"];
    close(ndcgAtK(ranking, judgments, 10), 1 / (1 + 1 / LOG2_3)); // 0.6131
    close(recallAtK(ranking, judgments, 10), 0.5);
    close(mrrAtK(ranking, judgments, 10), 1);
  });

  it("several relevant documents", () => {
    const judgments = judged({ a: 1, b: 1, c: 1 });
    const ranking = ["x", "a", "y", "b"];
    // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4)
    close(ndcgAtK(ranking, judgments, 10), (1 / LOG2_3 + 1 / Math.log2(5)) / (1 + 1 / LOG2_3 + 0.5)); // 0.4982
    close(mrrAtK(ranking, judgments, 10), 0.5);
    close(recallAtK(ranking, judgments, 1), 0);
    close(recallAtK(ranking, judgments, 10), 2 / 3);
  });

  it("grade 0 is judged non-relevant", () => {
    const judgments = judged({ a: 0, b: 1 });
    close(ndcgAtK(["a", "b"], judgments, 10), 1 / LOG2_3);
    close(mrrAtK(["a", "b"], judgments, 10), 0.5);
    close(recallAtK(["a", "b"], judgments, 1), 0);
  });

  it("cut-offs: a relevant document at rank 11 counts only for recall@100", () => {
    const ranking = [...Array.from({ length: 10 }, (_, i) => `n${i}`), "hit"];
    const metrics = queryMetrics(ranking, judged({ hit: 3 }));
    assert.deepEqual(metrics, { "ndcg@10": 0, "mrr@10": 0, "recall@1": 0, "recall@10": 0, "recall@100": 1 });
  });

  it("means over scorable queries: nothing retrieved scores 0, no relevant judgment is skipped", () => {
    const qrels = new Map([
      ["q1", judged({ a: 1 })],
      ["q2", judged({ b: 1 })],
      ["q3", judged({ c: 0 })],
    ]);
    const rankings = new Map([
      ["q1", ["a"]],
      ["q3", ["c"]],
    ]);
    const mean = meanRetrievalMetrics(rankings, qrels);
    assert.equal(mean.queries, 2);
    assert.equal(mean.skipped, 1);
    close(mean["ndcg@10"], 0.5);
    close(mean["mrr@10"], 0.5);
    close(mean["recall@100"], 0.5);
  });
});

describe("rankDocuments (chunk hits → document ranking)", () => {
  it("scores each document by its best chunk, lists it once, and breaks ties by document id", () => {
    const ranking = rankDocuments([
      { doc_id: "b", score: 0.5 },
      { doc_id: "a", score: 0.5 },
      { doc_id: "c", score: 0.9 },
      { doc_id: "b", score: 0.1 },
      { doc_id: "d", score: 0.95 },
      { doc_id: "d", score: 0.2 },
    ]);
    assert.deepEqual(ranking, ["d", "c", "a", "b"]);
  });

  it("tie order does not depend on hit order", () => {
    const hits = [
      { doc_id: "z", score: 1 },
      { doc_id: "m", score: 1 },
      { doc_id: "a", score: 1 },
    ];
    assert.deepEqual(rankDocuments(hits), ["a", "m", "z"]);
    assert.deepEqual(rankDocuments([...hits].reverse()), ["a", "m", "z"]);
  });
});
