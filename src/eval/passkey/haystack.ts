import { defaultCorpusRoots, readSotu } from "../../corpora/index.ts";
import { isHeldOut } from "../../data/split.ts";

/**
 * Sentences of held-out State of the Union addresses: the needle variant's haystack. Held-out documents are never
 * in the offline training data (src/data/split.ts), so the haystack is unseen text, as the test requires.
 */
export async function heldOutSotuSentences(limit = 20_000): Promise<string[]> {
  const sentences: string[] = [];
  for await (const address of readSotu({
    sotuDir: defaultCorpusRoots().sotuDir,
    include: (id) => isHeldOut("sotu", id),
  })) {
    for (const sentence of address.text.split(/(?<=[.!?])\s+/)) {
      const clean = sentence.trim();
      if (clean.length >= 20 && clean.length <= 400) sentences.push(clean);
      if (sentences.length >= limit) return sentences;
    }
  }
  return sentences;
}
