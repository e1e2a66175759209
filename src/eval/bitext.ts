import type { Embedder } from "../model/embedder.ts";
import { EvalInputError } from "./errors.ts";
import { readJsonl, requireString } from "./jsonl.ts";
import { dot } from "./stats.ts";

/** One parallel pair: English and the other language (the key `xx` is literal). */
export interface BitextPair {
  en: string;
  xx: string;
}

export interface BitextResult {
  /** Mean of the two directions. */
  accuracy: number;
  accuracy_en2xx: number;
  accuracy_xx2en: number;
  pairs: number;
}

export async function loadBitextPairs(file: string): Promise<BitextPair[]> {
  const pairs: BitextPair[] = [];
  for await (const record of readJsonl(file)) {
    pairs.push({ en: requireString(record, file, "en"), xx: requireString(record, file, "xx") });
  }
  if (pairs.length < 2) {
    throw new EvalInputError(file, null, `need at least 2 pairs to mine among, found ${pairs.length}`);
  }
  return pairs;
}

/**
 * Fraction of sources whose nearest target (cosine) is their own translation. A found target whose text equals
 * the gold target's text counts as correct: duplicate sentences are indistinguishable, and the dataset, not the
 * model, made them ambiguous. Otherwise ties go to the earlier line.
 */
export function miningAccuracy(
  sources: readonly Float32Array[],
  targets: readonly Float32Array[],
  targetTexts: readonly string[],
): number {
  let correct = 0;
  for (let i = 0; i < sources.length; i++) {
    let bestIndex = 0;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < targets.length; j++) {
      const score = dot(sources[i]!, targets[j]!);
      if (score > bestScore) {
        bestScore = score;
        bestIndex = j;
      }
    }
    if (bestIndex === i || targetTexts[bestIndex] === targetTexts[i]) correct++;
  }
  return sources.length === 0 ? 0 : correct / sources.length;
}

/**
 * Bitext mining in both directions, in memory. Bitext is symmetric, so both sides get the bitext instruction
 * ("Retrieve parallel sentences.", REFERENCE.md §1 and §4).
 */
export async function evaluateBitext(embedder: Embedder, pairs: readonly BitextPair[]): Promise<BitextResult> {
  const en = pairs.map((pair) => pair.en);
  const xx = pairs.map((pair) => pair.xx);
  const enVectors = await embedder.embedQueries(en, { task: "bitext" });
  const xxVectors = await embedder.embedQueries(xx, { task: "bitext" });
  const accuracyEn2xx = miningAccuracy(enVectors, xxVectors, xx);
  const accuracyXx2en = miningAccuracy(xxVectors, enVectors, en);
  return {
    accuracy: (accuracyEn2xx + accuracyXx2en) / 2,
    accuracy_en2xx: accuracyEn2xx,
    accuracy_xx2en: accuracyXx2en,
    pairs: pairs.length,
  };
}
