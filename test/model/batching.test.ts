/** Length-sorted token-budget batching and padding (position ids, last-token index) for both padding sides. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { padBatch, planBatches } from "../../src/model/batching.ts";

describe("planBatches", () => {
  test("sorts longest first, keeps rows × longest within the budget, and covers every input once", () => {
    const lengths = [5, 300, 12, 12, 40, 7, 300, 1, 64];
    const plans = planBatches(lengths, 640, Number.POSITIVE_INFINITY);
    assert.deepEqual(
      plans.flatMap((p) => p.rows).sort((a, b) => a - b),
      lengths.map((_, i) => i),
    );
    for (const plan of plans) {
      assert.ok(plan.rows.length * plan.seqLength <= 640 || plan.rows.length === 1);
      assert.equal(plan.seqLength, Math.max(...plan.rows.map((i) => lengths[i] as number)));
    }
    const order = plans.flatMap((p) => p.rows.map((i) => lengths[i] as number));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => b - a),
    );
    assert.deepEqual(plans[0]?.rows, [1, 6], "the two 300-token texts share a batch");
  });

  test("a text longer than the budget still gets a batch of its own; maxRows caps rows", () => {
    assert.deepEqual(
      planBatches([10, 900], 100, Number.POSITIVE_INFINITY).map((p) => p.rows),
      [[1], [0]],
    );
    assert.deepEqual(
      planBatches([1, 1, 1, 1, 1], 100, 2).map((p) => p.rows.length),
      [2, 2, 1],
    );
  });
});

describe("padBatch", () => {
  const sequences = [
    [1, 10, 11, 2],
    [1, 12, 2],
  ];

  test("right padding: pads after, positions 0..n-1, last index n-1", () => {
    const b = padBatch(sequences, 0, "right");
    assert.deepEqual([...b.inputIds].map(Number), [1, 10, 11, 2, 1, 12, 2, 0]);
    assert.deepEqual([...b.attentionMask].map(Number), [1, 1, 1, 1, 1, 1, 1, 0]);
    assert.deepEqual([...b.positionIds].map(Number), [0, 1, 2, 3, 0, 1, 2, 0]);
    assert.deepEqual(b.lastTokenIndex, [3, 2]);
  });

  test("left padding: pads before, positions = max(cumsum(mask) - 1, 0), last index at the end", () => {
    const b = padBatch(sequences, 0, "left");
    assert.deepEqual([...b.inputIds].map(Number), [1, 10, 11, 2, 0, 1, 12, 2]);
    assert.deepEqual([...b.attentionMask].map(Number), [1, 1, 1, 1, 0, 1, 1, 1]);
    assert.deepEqual([...b.positionIds].map(Number), [0, 1, 2, 3, 0, 0, 1, 2]);
    assert.deepEqual(b.lastTokenIndex, [3, 3]);
  });
});
