import { approxTokens, CHARS_PER_TOKEN } from "../../corpora/text.ts";
import type { Rng } from "./random.ts";
import type { OfflineSource, SynthExample } from "./types.ts";

/**
 * Needle-in-a-haystack training documents that deliberately share NOTHING with the evaluation's personalised
 * passkey test (REFERENCE.md §5): the filler is real prose from a corpus (not "The grass is green..."), the planted
 * facts are about invented places and objects (not a person's "pass key"), and the questions use other wording.
 * Lengths are measured in characters and converted at ~4 characters a token (no model or tokenizer is needed).
 */
export const LONG_CONTEXT_TOKENS = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768] as const;
/** Skewed to short documents: training runs at 512 tokens; long ones keep the family honest and files small. */
const LENGTH_WEIGHTS = [30, 25, 18, 12, 7, 4, 2.5, 1.5];

interface FactTemplate {
  id: string;
  topic: string;
  fact: (place: string, value: string) => string;
  question: (place: string) => string;
}

const FACTS: FactTemplate[] = [
  {
    id: "archive-code",
    topic: "the archive code of a town",
    fact: (p, v) => `The archive code of ${p} is ${v}.`,
    question: (p) => `Which archive code belongs to ${p}?`,
  },
  {
    id: "harbour-ships",
    topic: "shipping records of a harbour",
    fact: (p, v) => `Last season the harbour of ${p} registered ${v} incoming ships.`,
    question: (p) => `How many incoming ships did the harbour of ${p} register last season?`,
  },
  {
    id: "library-shelf",
    topic: "where a library stores its maps",
    fact: (p, v) => `The public library of ${p} keeps its oldest maps on shelf ${v}.`,
    question: (p) => `On which shelf does the library of ${p} keep its oldest maps?`,
  },
  {
    id: "station-reading",
    topic: "a reading taken at a weather station",
    fact: (p, v) => `The weather station near ${p} logged a pressure reading of ${v} pascals at dawn.`,
    question: (p) => `What pressure reading was logged at dawn by the station near ${p}?`,
  },
  {
    id: "charter-year",
    topic: "when a town's charter was signed",
    fact: (p, v) => `According to the county ledger, ${p} received its charter in the year ${v.slice(0, 4)}.`,
    question: (p) => `In what year did ${p} receive its charter?`,
  },
  {
    id: "bridge-length",
    topic: "the length of a bridge",
    fact: (p, v) => `Surveyors measured the old stone bridge at ${p} as ${v} centimetres long.`,
    question: (p) => `How long is the old stone bridge at ${p}, according to the surveyors?`,
  },
];

const SYLLABLES = [
  "ka",
  "lo",
  "ve",
  "mir",
  "dan",
  "sol",
  "tra",
  "bel",
  "nor",
  "quin",
  "ash",
  "wen",
  "dor",
  "fel",
  "gar",
  "hal",
  "is",
  "jun",
  "kor",
  "lum",
  "mar",
  "ost",
  "pel",
  "rav",
  "sen",
  "tor",
  "ulm",
  "var",
  "wyn",
  "zel",
];
const SUFFIXES = ["ford", "ton", "haven", "mere", "burg", "dale", "port", "wick", "stead", "field"];

function placeName(rng: Rng): string {
  const parts = 1 + rng.int(2);
  let name = "";
  for (let i = 0; i < parts; i++) name += rng.pick(SYLLABLES);
  name += rng.pick(SUFFIXES);
  return name.charAt(0).toUpperCase() + name.slice(1);
}

export interface FillerDocument {
  id: string;
  sentences: string[];
}

/** Endless stream of long-context examples (ends only when there is no filler). */
export async function* longContextExamples(
  fillers: FillerDocument[],
  rng: Rng,
  source: OfflineSource,
): AsyncGenerator<SynthExample> {
  const usable = fillers.filter((f) => f.sentences.length > 0);
  if (usable.length === 0) return;
  for (;;) {
    const template = rng.pick(FACTS);
    const targetTokens = LONG_CONTEXT_TOKENS[rng.weighted(LENGTH_WEIGHTS)] as number;
    const place = placeName(rng);
    let otherPlace = placeName(rng);
    while (otherPlace === place) otherPlace = placeName(rng);
    const value = String(1000 + rng.int(9000)) + (targetTokens > 256 ? String(rng.int(100)).padStart(2, "0") : "");
    const positive = haystack(usable, rng, targetTokens, template.fact(place, value));
    const negative = haystack(usable, rng, targetTokens, template.fact(otherPlace, String(1000 + rng.int(9000))));
    yield {
      task_family: "long-context",
      instruction: `Given a question about ${template.topic}, retrieve the long document that states the answer`,
      query: template.question(place),
      positive: positive.text,
      negative: negative.text,
      language: "en",
      source: `offline:${source}`,
      meta: {
        corpus: source,
        doc_ids: [...new Set([...positive.ids, ...negative.ids])],
        template: `long-context.${template.id}`,
        target_tokens: targetTokens,
        approx_tokens: approxTokens(positive.text),
        needle_position: positive.needleAt,
        place,
        negative_place: otherPlace,
        chars_per_token: CHARS_PER_TOKEN,
      },
    };
  }
}

/** Consecutive real sentences (spilling into following documents) up to the target length, fact planted inside. */
function haystack(fillers: FillerDocument[], rng: Rng, targetTokens: number, fact: string) {
  const targetChars = targetTokens * CHARS_PER_TOKEN - fact.length;
  let doc = rng.int(fillers.length);
  let at = rng.int((fillers[doc] as FillerDocument).sentences.length);
  const sentences: string[] = [];
  const ids = new Set<string>();
  let chars = 0;
  let guard = 0;
  while (chars < targetChars && guard++ < 100000) {
    const filler = fillers[doc] as FillerDocument;
    if (at >= filler.sentences.length) {
      doc = (doc + 1) % fillers.length;
      at = 0;
      continue;
    }
    const sentence = filler.sentences[at++] as string;
    if (chars + sentence.length > targetChars) {
      if (chars >= targetChars * 0.85) break;
      continue; // a sentence too long for the space left: skip it, keep filling with the next ones
    }
    sentences.push(sentence);
    ids.add(filler.id);
    chars += sentence.length + 1;
  }
  const insertAt = rng.int(sentences.length + 1);
  sentences.splice(insertAt, 0, fact);
  return { text: sentences.join(" "), ids: [...ids], needleAt: Number((insertAt / sentences.length).toFixed(3)) };
}
