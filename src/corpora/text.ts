/** Small text helpers shared by the corpus readers and the offline generator. */

export function collapseWhitespace(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

const segmenters = new Map<string, Intl.Segmenter>();

/** Sentences via the platform's Unicode sentence segmenter (no dependency, any language). */
export function splitSentences(text: string, language = "en"): string[] {
  let segmenter = segmenters.get(language);
  if (segmenter === undefined) {
    segmenter = new Intl.Segmenter(language, { granularity: "sentence" });
    segmenters.set(language, segmenter);
  }
  const out: string[] = [];
  for (const { segment } of segmenter.segment(text)) {
    const sentence = segment.trim();
    if (sentence !== "") out.push(sentence);
  }
  return out;
}

/**
 * Approximate token count without a tokenizer: ~4 characters per token for English prose (Llama/Mistral
 * SentencePiece averages 3.6–4.2 on these corpora). Used only to size long-context documents.
 */
export const CHARS_PER_TOKEN = 4;
export function approxTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** Cut at a word boundary to at most `maxChars` characters. */
export function truncateWords(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const cut = text.slice(0, maxChars);
  const space = cut.lastIndexOf(" ");
  return (space > maxChars * 0.6 ? cut.slice(0, space) : cut).trim();
}

/** Word count by whitespace (Latin-script corpora). */
export function wordCount(text: string): number {
  return text.split(/\s+/).filter((w) => w !== "").length;
}
