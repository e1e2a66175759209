import type { Passage } from "./retrieve.ts";

/**
 * The offline answer: the passages' sentences that share the most words with the question, each cited, with the
 * question's words marked. No model writes anything, so nothing can be made up; it is only as good as retrieval.
 */

/** A run of text; `hit` marks a word of the question (rendered as <mark> by the page). */
export interface Segment {
  text: string;
  hit: boolean;
}

export interface AnswerSentence {
  /** The passage it was taken from ([n]). */
  n: number;
  segments: Segment[];
}

export interface ExtractiveAnswer {
  kind: "extractive";
  sentences: AnswerSentence[];
}

/** Sentences in an extractive answer. */
export const EXTRACTIVE_SENTENCES = 3;
/** Shorter "sentences" are headings and fragments, not answers. */
const MIN_SENTENCE_WORDS = 5;

// Function words that match everywhere and say nothing about relevance.
const STOPWORDS = new Set(
  (
    "a an and are as at be been but by can could did do does for from had has have how i if in into is it its " +
    "me my no not of on or our so than that the their them then there these they this those to was we were " +
    "what when where which who whom why will with would you your about after all also any because before did " +
    "each he her him his more most other over same she should some such only own very just"
  ).split(" "),
);

const wordSegmenter = new Intl.Segmenter("en", { granularity: "word" });
const sentenceSegmenter = new Intl.Segmenter("en", { granularity: "sentence" });

/** Lower case, possessive and plural endings dropped, so "Freedoms" matches "freedom" and "nation's" "nation". */
function normalise(word: string): string {
  let w = word.toLowerCase().replace(/['’]s$/, "");
  if (w.length > 3 && w.endsWith("s") && !w.endsWith("ss")) w = w.slice(0, -1);
  return w;
}

/** The question's content words, normalised. */
export function queryTerms(question: string): Set<string> {
  const terms = new Set<string>();
  for (const s of wordSegmenter.segment(question)) {
    if (!s.isWordLike) continue;
    const lower = s.segment.toLowerCase();
    if (lower.length < 3 || STOPWORDS.has(lower)) continue;
    terms.add(normalise(lower));
  }
  return terms;
}

/** Splits text into runs, marking the words that are query terms. */
export function highlight(text: string, terms: ReadonlySet<string>): Segment[] {
  const segments: Segment[] = [];
  const push = (piece: string, hit: boolean) => {
    const last = segments[segments.length - 1];
    if (last && last.hit === hit && !hit) last.text += piece;
    else segments.push({ text: piece, hit });
  };
  for (const s of wordSegmenter.segment(text)) {
    push(s.segment, s.isWordLike === true && terms.has(normalise(s.segment)));
  }
  return segments;
}

function matchedTerms(sentence: string, terms: ReadonlySet<string>): number {
  const found = new Set<string>();
  for (const s of wordSegmenter.segment(sentence)) {
    if (!s.isWordLike) continue;
    const w = normalise(s.segment);
    if (terms.has(w)) found.add(w);
  }
  return found.size;
}

function wordCount(sentence: string): number {
  let n = 0;
  for (const s of wordSegmenter.segment(sentence)) if (s.isWordLike) n++;
  return n;
}

export function extractiveAnswer(question: string, passages: readonly Passage[]): ExtractiveAnswer {
  const terms = queryTerms(question);
  const candidates: Array<{ n: number; rank: number; position: number; text: string; score: number }> = [];
  passages.forEach((passage, rank) => {
    let position = 0;
    for (const s of sentenceSegmenter.segment(passage.text)) {
      const text = s.segment.replace(/\s+/g, " ").trim();
      if (wordCount(text) < MIN_SENTENCE_WORDS || text.startsWith("#")) continue;
      candidates.push({ n: passage.n, rank, position: position++, text, score: matchedTerms(text, terms) });
    }
  });
  // Most question words first; among equals, the better-ranked passage, then the earlier sentence.
  const matching = candidates
    .filter((c) => c.score > 0)
    .sort((a, b) => b.score - a.score || a.rank - b.rank || a.position - b.position);
  // Nothing shares a word with the question (a purely semantic hit): lead with the top passages' openings.
  const chosen =
    matching.length > 0 ? matching.slice(0, EXTRACTIVE_SENTENCES) : candidates.filter((c) => c.position === 0);
  return {
    kind: "extractive",
    sentences: chosen.slice(0, EXTRACTIVE_SENTENCES).map((c) => ({ n: c.n, segments: highlight(c.text, terms) })),
  };
}
