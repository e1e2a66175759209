import { createReadStream, existsSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { type CorpusDocument, CorpusMissingError } from "./types.ts";

/**
 * WordNet 3.0 synsets read straight from the database files (wndb(5WN)). id = "<pos>/<offset>" with pos one of
 * n, v, a, r (adjective satellites live in data.adj and get "a"), e.g. "n/02084071" — the offset alone is only
 * unique within one data file.
 */
export interface Synset extends CorpusDocument {
  corpus: "wordnet";
  pos: WordnetPos;
  /** Lexicographer file, e.g. "noun.animal" (lexnames(5WN)). */
  lexFile: string;
  /** Lemmas with spaces for underscores and adjective markers such as "(a)" removed. */
  words: string[];
  /** The definition part of the gloss. */
  definition: string;
  /** Quoted example sentences from the gloss. */
  examples: string[];
  /** Pointers: symbol (e.g. "@" hypernym, "!" antonym, "&" similar to) → target synset ids. */
  pointers: Array<{ symbol: string; target: string }>;
}

export type WordnetPos = "n" | "v" | "a" | "r";

const DATA_FILES: ReadonlyArray<[WordnetPos, string]> = [
  ["n", "data.noun"],
  ["v", "data.verb"],
  ["a", "data.adj"],
  ["r", "data.adv"],
];

/** lexnames(5WN): file number → name, and a phrase for instructions ("Given a word for <phrase>, ..."). */
export const WORDNET_LEX_FILES: ReadonlyArray<readonly [string, string]> = [
  ["adj.all", "a general descriptive quality"],
  ["adj.pert", "something pertaining to a noun"],
  ["adv.all", "a manner or degree"],
  ["noun.Tops", "a very general concept"],
  ["noun.act", "an act or action"],
  ["noun.animal", "an animal"],
  ["noun.artifact", "a man-made object"],
  ["noun.attribute", "an attribute of people or objects"],
  ["noun.body", "a body part"],
  ["noun.cognition", "a cognitive process or content"],
  ["noun.communication", "communication or communicative content"],
  ["noun.event", "a natural event"],
  ["noun.feeling", "a feeling or emotion"],
  ["noun.food", "a food or drink"],
  ["noun.group", "a grouping of people or objects"],
  ["noun.location", "a spatial position or place"],
  ["noun.motive", "a goal or motive"],
  ["noun.object", "a natural object"],
  ["noun.person", "a kind of person"],
  ["noun.phenomenon", "a natural phenomenon"],
  ["noun.plant", "a plant"],
  ["noun.possession", "possession or transfer of possession"],
  ["noun.process", "a natural process"],
  ["noun.quantity", "a quantity or unit of measure"],
  ["noun.relation", "a relation between things"],
  ["noun.shape", "a two- or three-dimensional shape"],
  ["noun.state", "a stable state of affairs"],
  ["noun.substance", "a substance"],
  ["noun.time", "a time or temporal relation"],
  ["verb.body", "grooming, dressing or bodily care"],
  ["verb.change", "a change of size, temperature or intensity"],
  ["verb.cognition", "thinking, judging or reasoning"],
  ["verb.communication", "telling, asking or ordering"],
  ["verb.competition", "fighting or athletic activity"],
  ["verb.consumption", "eating and drinking"],
  ["verb.contact", "touching, hitting or attaching"],
  ["verb.creation", "sewing, baking or painting"],
  ["verb.emotion", "feeling"],
  ["verb.motion", "walking, flying or swimming"],
  ["verb.perception", "seeing, hearing or feeling"],
  ["verb.possession", "buying, selling or owning"],
  ["verb.social", "political or social activity"],
  ["verb.stative", "being, having or spatial relations"],
  ["verb.weather", "raining, snowing or thawing"],
  ["adj.ppl", "a participial quality"],
];

export const WORDNET_POS_NAMES: Readonly<Record<WordnetPos, string>> = {
  n: "noun",
  v: "verb",
  a: "adjective",
  r: "adverb",
};

export interface ReadWordnetOptions {
  wordnetDir: string;
  /** Parts of speech to read (default all four). */
  pos?: readonly WordnetPos[];
}

/** Synsets in file order (nouns, verbs, adjectives, adverbs), streamed line by line. */
export async function* readWordnet(options: ReadWordnetOptions): AsyncGenerator<Synset> {
  const wanted = new Set(options.pos ?? ["n", "v", "a", "r"]);
  for (const [pos, fileName] of DATA_FILES) {
    if (!wanted.has(pos)) continue;
    const file = path.join(options.wordnetDir, fileName);
    if (!existsSync(file)) throw new CorpusMissingError("wordnet", `${file} does not exist`);
    const lines = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line.startsWith("  ") || line === "") continue; // licence header
      const synset = parseDataLine(pos, line);
      if (synset !== null) yield synset;
    }
  }
}

/** One line of a data.* file (wndb(5WN) "Data File Format"). */
export function parseDataLine(pos: WordnetPos, line: string): Synset | null {
  const bar = line.indexOf(" | ");
  if (bar < 0) return null;
  const fields = line.slice(0, bar).trim().split(" ");
  const gloss = line.slice(bar + 3).trim();
  const field = (at: number): string => fields[at] ?? "";
  const offset = field(0);
  const lexFile = WORDNET_LEX_FILES[Number.parseInt(field(1), 10)]?.[0] ?? "unknown";
  const wordCount = Number.parseInt(field(3), 16);
  const words: string[] = [];
  let at = 4;
  for (let i = 0; i < wordCount; i++, at += 2) {
    words.push(
      field(at)
        .replace(/\([a-z]+\)$/, "")
        .replace(/_/g, " "),
    );
  }
  const pointerCount = Number.parseInt(field(at), 10);
  at += 1;
  const pointers: Array<{ symbol: string; target: string }> = [];
  for (let i = 0; i < pointerCount; i++, at += 4) {
    const targetPos = field(at + 2) === "s" ? "a" : field(at + 2);
    pointers.push({ symbol: field(at), target: `${targetPos}/${field(at + 1)}` });
  }
  const { definition, examples } = splitGloss(gloss);
  return { corpus: "wordnet", id: `${pos}/${offset}`, pos, lexFile, words, definition, examples, pointers };
}

/** `definition; "example one"; "example two"` → parts. Quotes inside definitions are rare and left as they are. */
function splitGloss(gloss: string): { definition: string; examples: string[] } {
  const examples: string[] = [];
  for (const match of gloss.matchAll(/"([^"]+)"/g)) examples.push((match[1] ?? "").trim());
  const firstQuote = gloss.indexOf('"');
  const definition = (firstQuote >= 0 ? gloss.slice(0, firstQuote) : gloss).replace(/[;\s]+$/, "").trim();
  return { definition, examples };
}
