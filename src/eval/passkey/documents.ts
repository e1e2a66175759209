/**
 * Documents and queries of the personalised passkey retrieval test (shared REFERENCE.md §5) and its needle variant.
 *
 * Passkey: filler text with, at a random position, "<Name>'s pass key is <key>. Remember it. <key> is the pass
 * key for <Name>." — every document has its own name and key; the query is "what is the pass key for <Name>?".
 * Each document is exactly `length` model tokens including BOS/EOS, so the length axis means what it says.
 * Needle: the same construction over real long text (held-out State of the Union addresses) with another fact
 * wording, so a model that memorised the passkey template gains nothing there.
 */

export const PASSKEY_FILLER = [
  "The grass is green.",
  "The sky is blue.",
  "The sun is yellow.",
  "Here we go.",
  "There and back again.",
];

/** Counts a text's tokens exactly as the model sees it (special tokens included). */
export type TokenCounter = (text: string) => number;

export interface NeedleDocument {
  id: string;
  name: string;
  key: string;
  text: string;
  /** Token count including BOS/EOS (equals the requested length). */
  tokens: number;
  /** Where the needle sits, as a fraction of the filler (0 = start, 1 = end). */
  depth: number;
  /** The question this document answers. */
  query: string;
}

export interface PasskeyPool {
  variant: "passkey" | "needle";
  length: number;
  documents: NeedleDocument[];
  queries: Array<{ id: string; text: string; answerId: string }>;
}

/** mulberry32: a tiny seeded PRNG so pools are identical across runs and machines. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Uncommon given and family names: names are what tells documents apart, so each pair must be unique in a pool.
const GIVEN_NAMES =
  "Aurelia Bertrand Cosima Dorian Evander Fenella Gideon Honora Ignatius Jessamy Kasimir Leocadia Marcellus Niamh Octavian Perpetua Quillon Rosamund Sebastian Tamsin Ulrich Vesna Wilhelmina Xanthe Yevgeny Zenobia Anselm Briony Casimir Delphine Eulalia Florian Griselda Hyacinth Isolde Jaroslav Kerensa Lysander Mirabel Nikodem Ottoline Peregrine Radomir Saoirse Thaddeus Ursula Valentin Wenceslas Ysolde Zdenek".split(
    " ",
  );
const FAMILY_NAMES =
  "Abernethy Balfour Carrow Dunleavy Etheridge Fairweather Gallagher Haverford Inglethorpe Jablonski Kettering Lindqvist Montgomery Northcott Oyelaran Pemberton Quartermaine Radcliffe Szymanski Thistlewood Underhill Vasquez Whitlock Yardley Zabrowski Ashcombe Blackwood Cavendish Darrowby Eastwick Fitzwilliam Grimshaw Holloway Iverson Jorgensen Kowalczyk Lockhart Mallory Nakamura Okonkwo Penhaligon Quennell Rutherford Stroud Trevelyan Uematsu Villeneuve Wainwright Xiong Yoshida".split(
    " ",
  );

const NEEDLE_THINGS = [
  "lantern",
  "violin",
  "compass",
  "teapot",
  "bicycle",
  "kettle",
  "telescope",
  "umbrella",
  "typewriter",
  "hourglass",
];

interface Needle {
  name: string;
  key: string;
  sentence: string;
  query: string;
}

function passkeyNeedle(name: string, key: string): Needle {
  return {
    name,
    key,
    sentence: `${name}'s pass key is ${key}. Remember it. ${key} is the pass key for ${name}.`,
    query: `what is the pass key for ${name}?`,
  };
}

function realTextNeedle(name: string, key: string, thing: string): Needle {
  return {
    name,
    key,
    sentence: `In the spring, ${name} hid a brass ${thing} numbered ${key} beneath the old library steps.`,
    query: `Where did ${name} hide the numbered brass ${thing}?`,
  };
}

/** A word that is one token in the SentencePiece and byte-level BPE vocabularies used here ("▁a" / "Ġa"). */
const ONE_TOKEN_PAD = " a";

/**
 * Builds one document of exactly `length` tokens: filler units (sentences or words) before and after the needle.
 * Token counts of concatenated sentences are nearly additive, so an estimate gets close and a few re-counts of the
 * whole text, adding or removing filler words at the end, make it exact.
 */
export function buildExactLengthDocument(
  fillerSentences: string[],
  needleSentence: string,
  depth: number,
  length: number,
  count: TokenCounter,
): { text: string; tokens: number } {
  const base = count(needleSentence);
  if (base > length) {
    throw new Error(`length ${length} is too short for the needle sentence (${base} tokens with special tokens)`);
  }
  const words = fillerSentences.join(" ").split(/\s+/);
  // Tokens per filler word, estimated on a sample: a whole haystack would be slow to tokenise for nothing.
  const sample = words.slice(0, 512);
  const perWord = Math.max(0.5, (count(sample.join(" ")) - 2) / sample.length);
  // Filler as a list of words cycling through the sentences; the needle goes before word index `at`.
  let total = Math.max(0, Math.round((length - base) / perWord));
  const render = (n: number): string => {
    const filler: string[] = [];
    for (let i = 0; i < n; i++) filler.push(words[i % words.length]!);
    // Snap the needle to a sentence start so the filler around it stays grammatical.
    let at = Math.round(depth * n);
    while (at > 0 && at < n && !/[.!?]$/.test(filler[at - 1]!)) at--;
    return [...filler.slice(0, at), needleSentence, ...filler.slice(at)].join(" ");
  };
  const seen = new Map<number, number>();
  for (let attempt = 0; attempt < 64; attempt++) {
    const text = render(total);
    const tokens = count(text);
    if (tokens === length) return { text, tokens };
    seen.set(total, tokens);
    const step = Math.round((length - tokens) / perWord) || Math.sign(length - tokens);
    let next = Math.max(0, total + step);
    // A word that adds two tokens can make us oscillate around the target: walk one word at a time instead.
    if (seen.has(next)) next = Math.max(0, total + Math.sign(length - tokens));
    if (seen.has(next) && seen.get(next) !== length) break;
    total = next;
  }
  // Fallback for tokenizers where no whole-word count hits the target: trim characters of the last filler word,
  // then (a word that is two or more tokens can jump over the target) top up with one-token words.
  for (let n = total + 1; n >= Math.max(0, total - 4); n--) {
    const text = render(n);
    for (let cut = 0; cut < 12; cut++) {
      const candidate = cut === 0 ? text : text.slice(0, -cut);
      if (count(candidate) === length) return { text: candidate, tokens: length };
    }
  }
  for (let n = total; n >= Math.max(0, total - 8); n--) {
    let candidate = render(n);
    for (let pad = 0, tokens = count(candidate); tokens < length && pad < 16; pad++) {
      candidate += ONE_TOKEN_PAD;
      tokens = count(candidate);
      if (tokens === length) return { text: candidate, tokens };
    }
  }
  throw new Error(`could not build a document of exactly ${length} tokens`);
}

export interface PoolOptions {
  variant: "passkey" | "needle";
  length: number;
  candidates: number;
  queries: number;
  seed: number;
  count: TokenCounter;
  /** Real long text for the needle variant (sentences); required when variant is "needle". */
  haystack?: string[];
}

/** One shared pool of `candidates` documents per length; the first `queries` of a seeded shuffle are asked. */
export function buildPool(options: PoolOptions): PasskeyPool {
  const { variant, length, candidates, queries, seed, count } = options;
  if (candidates > GIVEN_NAMES.length * FAMILY_NAMES.length) throw new Error("too many candidates for the name list");
  if (queries > candidates) throw new Error(`--queries (${queries}) cannot exceed --candidates (${candidates})`);
  if (variant === "needle" && (!options.haystack || options.haystack.length === 0)) {
    throw new Error("the needle variant needs haystack text");
  }
  const random = seededRandom(seed * 1_000_003 + length);
  const usedNames = new Set<string>();
  const documents: NeedleDocument[] = [];
  for (let i = 0; i < candidates; i++) {
    let name: string;
    do {
      name = `${GIVEN_NAMES[Math.floor(random() * GIVEN_NAMES.length)]} ${FAMILY_NAMES[Math.floor(random() * FAMILY_NAMES.length)]}`;
    } while (usedNames.has(name));
    usedNames.add(name);
    const key = String(10000 + Math.floor(random() * 90000));
    const depth = random();
    const needle =
      variant === "passkey"
        ? passkeyNeedle(name, key)
        : realTextNeedle(name, key, NEEDLE_THINGS[Math.floor(random() * NEEDLE_THINGS.length)]!);
    const filler = variant === "passkey" ? PASSKEY_FILLER : rotate(options.haystack!, Math.floor(random() * 997));
    const { text, tokens } = buildExactLengthDocument(filler, needle.sentence, depth, length, count);
    documents.push({ id: `${variant}-${length}-${i}`, name, key, text, tokens, depth, query: needle.query });
  }
  const order = documents.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const asked = order.slice(0, queries).map((index) => {
    const doc = documents[index]!;
    return { id: `q-${doc.id}`, text: doc.query, answerId: doc.id };
  });
  return { variant, length, documents, queries: asked };
}

function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
