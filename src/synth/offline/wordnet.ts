import { readWordnet, type Synset, WORDNET_LEX_FILES, WORDNET_POS_NAMES } from "../../corpora/wordnet.ts";
import { Bm25Index } from "../bm25.ts";
import { largestQuota, type SourceBuilder, sameText } from "./builder.ts";
import { sampleTrainingPool } from "./pool.ts";
import type { SynthExample } from "./types.ts";

const LEX_PHRASES = new Map(WORDNET_LEX_FILES.map(([name, phrase]) => [name, phrase]));

/** "an animal" → "animal": the category as a classification label. */
function categoryLabel(lexFile: string): string {
  return (LEX_PHRASES.get(lexFile) ?? lexFile).replace(/^(a|an) /, "");
}

/** WordNet: synonyms and definitions (short-short), semantic-category labels (long-short), lexical paraphrase (STS). */
export const wordnetBuilder: SourceBuilder = {
  source: "wordnet",
  families: { "short-short": 3, "long-short": 2, sts: 1 },
  async prepare(context) {
    // STS needs synsets with an example sentence that uses one of their words (~10% of synsets): a generous pool.
    const size = Math.max(2000, largestQuota(context) * 8);
    const pool = await sampleTrainingPool(readWordnet({ wordnetDir: context.roots.wordnetDir }), size, context.seed, {
      accept: (s) => s.definition.length > 3 && s.words.length > 0,
    });
    const byId = new Map(pool.map((s) => [s.id, s]));
    const definitions = await Bm25Index.build(
      pool.map((s) => ({ key: s.id, text: s.definition })),
      { dir: context.workDir, name: "definitions" },
    );
    const substitutable = pool.flatMap((s) => {
      const pair = substitution(s);
      return pair === null ? [] : [{ synset: s, ...pair }];
    });
    const sentences = await Bm25Index.build(
      pool.filter((s) => s.examples.length > 0).map((s) => ({ key: s.id, text: s.examples[0] as string })),
      { dir: context.workDir, name: "examples" },
    );
    const rng = context.rng;
    const meta = (template: string, ids: string[]) => ({ corpus: "wordnet" as const, doc_ids: ids, template });

    async function* shortShort(): AsyncGenerator<SynthExample> {
      for (const synset of pool) {
        const pos = WORDNET_POS_NAMES[synset.pos];
        if (synset.words.length >= 2 && rng.next() < 0.5) {
          const [a, b] = rng.shuffle([...synset.words]);
          if (a === undefined || b === undefined || sameText(a, b)) continue;
          yield {
            task_family: "short-short",
            instruction: `Given a word for ${LEX_PHRASES.get(synset.lexFile) ?? "a concept"}, retrieve a word with the same meaning`,
            query: a,
            positive: b,
            language: "en",
            source: "offline:wordnet",
            meta: meta(`wordnet.synonym.${synset.lexFile}`, [synset.id]),
          };
        } else {
          yield {
            task_family: "short-short",
            instruction: `Given an English ${pos}, retrieve its dictionary definition`,
            query: rng.pick(synset.words),
            positive: synset.definition,
            language: "en",
            source: "offline:wordnet",
            meta: meta(`wordnet.definition.${synset.pos}`, [synset.id]),
          };
        }
      }
    }

    async function* longShort(): AsyncGenerator<SynthExample> {
      for (const synset of pool) {
        const byPos = rng.next() < 0.3;
        const label = (s: Synset) => (byPos ? WORDNET_POS_NAMES[s.pos] : categoryLabel(s.lexFile));
        const query = synset.examples.length > 0 ? `${synset.definition}; "${synset.examples[0]}"` : synset.definition;
        const [other] = await definitions.nearest(
          synset.definition,
          (key) => label(byId.get(key) as Synset) === label(synset),
        );
        if (other === undefined) continue;
        yield {
          task_family: "long-short",
          instruction: byPos
            ? "Given a dictionary definition, identify the part of speech of the word it defines"
            : "Classify a dictionary definition into the semantic category of the word it defines",
          query,
          positive: label(synset),
          negative: label(byId.get(other) as Synset),
          language: "en",
          source: "offline:wordnet",
          meta: meta(byPos ? "wordnet.pos-label" : "wordnet.category-label", [synset.id, other]),
        };
      }
    }

    async function* sts(): AsyncGenerator<SynthExample> {
      for (const { synset, sentence, paraphrase } of substitutable) {
        const [other] = await sentences.nearest(sentence, (key) => {
          const text = byId.get(key)?.examples[0] ?? "";
          return key === synset.id || sameText(text, sentence) || sameText(text, paraphrase);
        });
        if (other === undefined) continue;
        yield {
          task_family: "sts",
          instruction: "Retrieve semantically similar text.",
          query: sentence,
          positive: paraphrase,
          negative: byId.get(other)?.examples[0] as string,
          language: "en",
          source: "offline:wordnet",
          meta: meta("wordnet.synonym-substitution", [synset.id, other]),
        };
      }
    }

    return {
      streams: { "short-short": shortShort(), "long-short": longShort(), sts: sts() },
      close: async () => {
        await definitions.close();
        await sentences.close();
      },
    };
  },
};

/** An example sentence using one of the synset's words, and the same sentence with a synonym in its place. */
function substitution(synset: Synset): { sentence: string; paraphrase: string } | null {
  if (synset.words.length < 2) return null;
  for (const sentence of synset.examples) {
    for (const word of synset.words) {
      const pattern = new RegExp(`\\b${word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "i");
      if (!pattern.test(sentence)) continue;
      const synonym = synset.words.find((w) => w !== word && !sameText(w, word));
      if (synonym === undefined) return null;
      const paraphrase = sentence.replace(pattern, () => synonym);
      if (!sameText(paraphrase, sentence)) return { sentence, paraphrase };
    }
  }
  return null;
}
