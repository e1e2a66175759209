import type { Embedder } from "../model/embedder.ts";
import { EvalInputError } from "./errors.ts";
import { readJsonl, requireString } from "./jsonl.ts";
import { dot, spearman } from "./stats.ts";

/** One STS pair: two texts and a human similarity score (any scale; only its order matters to Spearman). */
export interface StsPair {
  s1: string;
  s2: string;
  score: number;
}

export interface StsResult {
  spearman: number;
  pairs: number;
}

/** Reads `{"s1", "s2", "score"}` lines. */
export async function loadStsPairs(file: string): Promise<StsPair[]> {
  const pairs: StsPair[] = [];
  for await (const record of readJsonl(file)) {
    const s1 = requireString(record, file, "s1");
    const s2 = requireString(record, file, "s2");
    const score = record.value.score;
    if (typeof score !== "number" || !Number.isFinite(score)) {
      throw new EvalInputError(file, record.line, `field "score" must be a finite number`);
    }
    pairs.push({ s1, s2, score });
  }
  if (pairs.length < 2) throw new EvalInputError(file, null, `need at least 2 pairs, found ${pairs.length}`);
  if (pairs.every((pair) => pair.score === pairs[0]!.score)) {
    throw new EvalInputError(file, null, "every pair has the same score; Spearman correlation is undefined");
  }
  return pairs;
}

/**
 * Spearman correlation between cosine similarities and gold scores. STS is symmetric, so both sentences get the
 * STS instruction (the official e5 evaluation code does this for symmetric tasks; REFERENCE.md §1).
 */
export async function evaluateSts(embedder: Embedder, pairs: readonly StsPair[]): Promise<StsResult> {
  const vectors1 = await embedder.embedQueries(
    pairs.map((pair) => pair.s1),
    { task: "sts" },
  );
  const vectors2 = await embedder.embedQueries(
    pairs.map((pair) => pair.s2),
    { task: "sts" },
  );
  const similarities = pairs.map((_, i) => dot(vectors1[i]!, vectors2[i]!));
  const correlation = spearman(
    similarities,
    pairs.map((pair) => pair.score),
  );
  // With every similarity equal (e.g. a degenerate model) the correlation is undefined; report 0, not NaN,
  // so that JSON stays valid and the run ranks last.
  return { spearman: Number.isNaN(correlation) ? 0 : correlation, pairs: pairs.length };
}
