/**
 * Length-sorted batching under a token budget: texts are sorted by token count (longest first) and cut into
 * batches whose padded size (rows × longest row) stays within the budget, so rows in a batch have nearly equal
 * lengths and little compute goes to padding.
 */

export interface BatchPlan {
  /** Indices into the encoded inputs, longest first. */
  rows: number[];
  /** Padded sequence length of the batch (its longest row). */
  seqLength: number;
}

export function planBatches(lengths: readonly number[], tokenBudget: number, maxRows: number): BatchPlan[] {
  const order = lengths.map((_, i) => i).sort((a, b) => (lengths[b] as number) - (lengths[a] as number) || a - b);
  const batches: BatchPlan[] = [];
  let current: BatchPlan | undefined;
  for (const index of order) {
    const length = lengths[index] as number;
    if (
      current === undefined ||
      (current.rows.length + 1) * current.seqLength > tokenBudget ||
      current.rows.length >= maxRows
    ) {
      current = { rows: [], seqLength: length };
      batches.push(current);
    }
    current.rows.push(index);
  }
  return batches;
}

export interface PaddedBatch {
  batch: number;
  seqLength: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  /** cumsum(mask) − 1 clamped at 0: real tokens get 0..n−1 whichever side the padding is on. */
  positionIds: BigInt64Array;
  /** Index of each row's last real token (its appended EOS) in the padded row. */
  lastTokenIndex: number[];
}

/** Pads a batch of id sequences to the longest, on the given side, and derives mask and positions. */
export function padBatch(
  sequences: readonly (readonly number[])[],
  padId: number,
  side: "left" | "right",
): PaddedBatch {
  const batch = sequences.length;
  const seqLength = Math.max(...sequences.map((s) => s.length));
  const inputIds = new BigInt64Array(batch * seqLength).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(batch * seqLength);
  const positionIds = new BigInt64Array(batch * seqLength);
  const lastTokenIndex: number[] = [];
  for (let row = 0; row < batch; row++) {
    const ids = sequences[row] as readonly number[];
    const offset = side === "left" ? seqLength - ids.length : 0;
    const base = row * seqLength;
    for (let i = 0; i < ids.length; i++) {
      inputIds[base + offset + i] = BigInt(ids[i] as number);
      attentionMask[base + offset + i] = 1n;
      positionIds[base + offset + i] = BigInt(i);
    }
    lastTokenIndex.push(offset + ids.length - 1);
  }
  return { batch, seqLength, inputIds, attentionMask, positionIds, lastTokenIndex };
}
