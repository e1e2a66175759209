/**
 * Last-token pooling and normalisation (REFERENCE.md §1): the embedding is the last layer's hidden state at each
 * row's appended EOS, located from the attention mask (never from token ids), then L2-normalised.
 */

/** Copies the hidden state of `row` at `position` out of a [batch, seq, hidden] tensor, first `dims` values. */
export function lastTokenPool(
  hidden: ArrayLike<number>,
  seqLength: number,
  hiddenSize: number,
  row: number,
  position: number,
  dims: number,
): Float32Array {
  const start = (row * seqLength + position) * hiddenSize;
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = hidden[start + i] as number;
  return out;
}

/** L2-normalises in place (accumulating in double precision) and returns the same array. */
export function l2Normalize(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += (vector[i] as number) * (vector[i] as number);
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] as number) / norm;
  return vector;
}
