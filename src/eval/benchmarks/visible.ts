import { createHash } from "node:crypto";
import type { GettextMessage } from "../../corpora/gettext.ts";
import type { ManPage } from "../../corpora/man.ts";
import type { SotuAddress } from "../../corpora/sotu.ts";
import { splitSentences } from "../../corpora/text.ts";
import type { Synset } from "../../corpora/wordnet.ts";
import { isHeldOut } from "../../data/split.ts";
import type { BitextPair } from "../bitext.ts";
import type { BeirBenchmark } from "./beir-writer.ts";

/**
 * The visible benchmarks, built from the offline corpora (src/corpora). Each keeps ONLY documents held out by the
 * split rule shared with the offline synthetic-data generator (src/data/split.ts), under the same corpus names and
 * document ids the readers yield, so nothing evaluated here was ever trained on. The readers are called with
 * `include: isHeldOut` for speed; the builders filter again so that a reader called without it cannot leak.
 * Sampling is deterministic (ordered by a hash of the id), so every machine builds the same benchmark.
 */

/** Orders ids pseudo-randomly but reproducibly (a sample's first N are spread over the whole corpus). */
export function sampleKey(id: string): string {
  return createHash("sha256").update(`benchmark-sample:${id}`, "utf8").digest("hex");
}

function bySampleKey<T extends { id: string }>(items: T[]): T[] {
  return items
    .map((item) => ({ item, key: sampleKey(item.id) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ item }) => item);
}

export interface SizeOptions {
  /** At most this many queries (a deterministic sample). */
  maxQueries?: number;
  /** At most this many documents; documents judged relevant for a kept query are always kept. */
  maxDocuments?: number;
}

/** Keeps at most maxQueries queries, the documents they judge, then other documents up to maxDocuments. */
function limitBenchmark(benchmark: BeirBenchmark, options: SizeOptions): BeirBenchmark {
  const queries = bySampleKey(benchmark.queries).slice(0, options.maxQueries ?? Number.POSITIVE_INFINITY);
  const keptQueries = new Set(queries.map((q) => q.id));
  const qrels = benchmark.qrels.filter(([query]) => keptQueries.has(query));
  const judged = new Set(qrels.map(([, doc]) => doc));
  const others = bySampleKey(benchmark.corpus.filter((doc) => !judged.has(doc.id)));
  const room = Math.max(0, (options.maxDocuments ?? Number.POSITIVE_INFINITY) - judged.size);
  const keptDocs = new Set([...judged, ...others.slice(0, room).map((doc) => doc.id)]);
  return {
    corpus: benchmark.corpus.filter((doc) => keptDocs.has(doc.id)),
    queries: benchmark.queries.filter((q) => keptQueries.has(q.id)),
    qrels,
  };
}

/**
 * At most this many pages per command family ("gcloud_*", "git-*", "pg_*", ...) in the man benchmark. The Google
 * Cloud CLI installs ~16,600 of the ~22,000 pages here; uncapped it was 3,075 of the 3,972 benchmark documents and
 * 387 of the 500 queries, so the benchmark measured mostly how to tell near-identical gcloud stubs apart. The
 * offline generator caps each family at 600 of all pages (src/synth/offline/man.ts, MAN_FAMILY_CAP); the benchmark
 * sees only the 20% held out (src/data/split.ts), so the same share is 600 × 20% = 120.
 */
export const MAN_BENCHMARK_FAMILY_CAP = 120;

/** A page's command family: its name up to the first `_ . : -` (the generator's rule, `manFamily`). */
export function manPageFamily(name: string): string {
  return name.split(/[_.:-]/)[0] ?? name;
}

/** Letters and digits only, lower-cased: the generator's `foldText`, so both apply the same stub rule. */
function foldText(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/**
 * A stub page: its DESCRIPTION is short or only restates the NAME summary ("Updates a domain mapping."). The query
 * of such a page is (nearly) its document, which tests string copying, not retrieval, and the generator never
 * trains on them (`restatesSummary` in src/synth/offline/man.ts, same rule).
 */
export function isStubManPage(summary: string, description: string): boolean {
  const folded = foldText(description);
  const foldedSummary = foldText(summary);
  return folded.length < 80 || (folded.length < foldedSummary.length + 80 && folded.includes(foldedSummary));
}

export interface ManBenchmarkOptions extends SizeOptions {
  /** Pages kept per command family (default MAN_BENCHMARK_FAMILY_CAP; Infinity = no cap). */
  familyCap?: number;
  /** Keep stub pages (default false: dropped, as the generator drops them). */
  keepStubs?: boolean;
}

/**
 * Man pages: query = the NAME line's summary ("list directory contents"), document = the DESCRIPTION section.
 * Pages whose description repeats an earlier page's (aliases rendered twice) are dropped: two identical documents
 * would make the judged one a coin toss. Stub pages are dropped and each command family is capped (see
 * MAN_BENCHMARK_FAMILY_CAP); which pages of a large family survive is decided by the same id hash as sampling.
 */
export async function buildManBenchmark(
  pages: AsyncIterable<ManPage> | Iterable<ManPage>,
  options: ManBenchmarkOptions = {},
): Promise<BeirBenchmark> {
  const candidates: Array<{ id: string; family: string; summary: string; description: string }> = [];
  const seenDescriptions = new Set<string>();
  for await (const page of pages) {
    if (!isHeldOut("man", page.id)) continue;
    const description = page.description.join("\n\n").trim();
    const summary = page.summary.trim();
    if (description === "" || summary === "" || seenDescriptions.has(description)) continue;
    seenDescriptions.add(description);
    if (!options.keepStubs && isStubManPage(summary, description)) continue;
    candidates.push({ id: page.id, family: manPageFamily(page.name), summary, description });
  }
  const cap = options.familyCap ?? MAN_BENCHMARK_FAMILY_CAP;
  const perFamily = new Map<string, number>();
  const kept = new Set<string>();
  for (const page of bySampleKey(candidates)) {
    const n = perFamily.get(page.family) ?? 0;
    if (n >= cap) continue;
    perFamily.set(page.family, n + 1);
    kept.add(page.id);
  }
  const benchmark: BeirBenchmark = { corpus: [], queries: [], qrels: [] };
  for (const page of candidates) {
    if (!kept.has(page.id)) continue;
    benchmark.corpus.push({ id: page.id, title: "", text: page.description });
    benchmark.queries.push({ id: page.id, text: page.summary });
    benchmark.qrels.push([page.id, page.id, 1]);
  }
  return limitBenchmark(benchmark, options);
}

/**
 * WordNet: query = a synset's definition, document = its words ("dog, domestic dog, Canis familiaris").
 * Synsets with the same word list share one document (id of the first), judged relevant for each of their
 * definitions, since identical documents cannot be told apart.
 */
export async function buildWordnetBenchmark(
  synsets: AsyncIterable<Synset> | Iterable<Synset>,
  options: SizeOptions = {},
): Promise<BeirBenchmark> {
  const benchmark: BeirBenchmark = { corpus: [], queries: [], qrels: [] };
  const docByWords = new Map<string, string>();
  for await (const synset of synsets) {
    if (!isHeldOut("wordnet", synset.id)) continue;
    const words = synset.words.join(", ").trim();
    const definition = synset.definition.trim();
    if (words === "" || definition === "") continue;
    let docId = docByWords.get(words);
    if (docId === undefined) {
      docId = synset.id;
      docByWords.set(words, docId);
      benchmark.corpus.push({ id: docId, title: "", text: words });
    }
    benchmark.queries.push({ id: synset.id, text: definition });
    benchmark.qrels.push([synset.id, docId, 1]);
  }
  return limitBenchmark(benchmark, options);
}

export interface SotuOptions extends SizeOptions {
  /** Passages taken from each address (default 3). */
  passagesPerAddress?: number;
  /** Sentences per passage (default 3). */
  sentencesPerPassage?: number;
}

/**
 * State of the Union, long documents: query = a passage of a few consecutive sentences, document = the address it
 * came from *with that passage cut out*, so the passage cannot be found by exact copy and the address must be
 * recognised by topic and style. Addresses run to 5k–30k tokens, so this exercises chunking and MaxP (and
 * `--long-context`). Passages come from evenly spread positions.
 */
export async function buildSotuBenchmark(
  addresses: AsyncIterable<SotuAddress> | Iterable<SotuAddress>,
  options: SotuOptions = {},
): Promise<BeirBenchmark> {
  const perAddress = options.passagesPerAddress ?? 3;
  const passageLength = options.sentencesPerPassage ?? 3;
  const benchmark: BeirBenchmark = { corpus: [], queries: [], qrels: [] };
  for await (const address of addresses) {
    if (!isHeldOut("sotu", address.id)) continue;
    const sentences = splitSentences(address.text);
    if (sentences.length < perAddress * passageLength * 4) continue; // too short to cut passages from
    const cut = new Set<number>();
    for (let p = 0; p < perAddress; p++) {
      // Evenly spread starts, away from the opening and closing formulas.
      const start = Math.floor(((p + 1) * sentences.length) / (perAddress + 1)) - Math.floor(passageLength / 2);
      const passage = sentences.slice(start, start + passageLength);
      for (let i = start; i < start + passageLength; i++) cut.add(i);
      const queryId = `${address.id}#${p}`;
      benchmark.queries.push({ id: queryId, text: passage.join(" ") });
      benchmark.qrels.push([queryId, address.id, 1]);
    }
    benchmark.corpus.push({
      id: address.id,
      title: `State of the Union address, ${address.year}`,
      text: sentences.filter((_, i) => !cut.has(i)).join(" "),
    });
  }
  return limitBenchmark(benchmark, options);
}

/** The languages of the visible bitext benchmark: several scripts, as issue 3 asks. */
export const BITEXT_LANGUAGES: Readonly<Record<string, string>> = {
  de: "Latin",
  fr: "Latin",
  es: "Latin",
  pl: "Latin",
  ru: "Cyrillic",
  uk: "Cyrillic",
  "zh-CN": "CJK",
  ja: "CJK",
  ko: "Hangul",
};

export interface BitextOptions {
  languages?: readonly string[];
  /** Pairs per language (default 1000, a deterministic sample). */
  maxPairs?: number;
}

/**
 * Strips what makes a UI string a poor sentence pair: keyboard accelerators (`_File`, `&Open`, `(_O)`) and
 * trailing ellipses/colons. Returns null for strings that are mostly markup or format directives.
 */
export function cleanUiString(text: string): string | null {
  const cleaned = text
    .replace(/\s*\((?:_|&)[A-Za-z]\)/g, "")
    // An accelerator marker starts a word ("_File", "Save _As"); underscores inside identifiers stay.
    .replace(/(?<![\p{L}\p{N}_])[_&](?=\p{L})/gu, "")
    .replace(/(?:\.\.\.|…|:)\s*$/u, "")
    .replace(/\s+/g, " ")
    .trim();
  if (/%[-+ #0-9.]*[sdifuxlc]|<[a-z/]|\{\w*\}|\\n|\n/.test(cleaned)) return null;
  return cleaned;
}

/**
 * gettext bitext: {"en": msgid, "xx": translation} per language, held-out messages only. Messages shorter than
 * three words (menu labels like "Open") are dropped: they are ambiguous without context. Texts that occur twice on
 * either side are dropped, as a duplicate cannot be told apart from its twin.
 */
export async function buildGettextBitext(
  messages: AsyncIterable<GettextMessage> | Iterable<GettextMessage>,
  options: BitextOptions = {},
): Promise<Map<string, BitextPair[]>> {
  const languages = options.languages ?? Object.keys(BITEXT_LANGUAGES);
  const candidates = new Map<string, Array<BitextPair & { id: string }>>(languages.map((lang) => [lang, []]));
  const seenIds = new Set<string>();
  for await (const message of messages) {
    if (!isHeldOut("gettext", message.id) || seenIds.has(message.id)) continue;
    seenIds.add(message.id); // the same English string shipped by several programs: keep its first domain
    const en = cleanUiString(message.msgid);
    if (en === null || en.split(" ").length < 3 || en.length > 300) continue;
    for (const language of languages) {
      const translation = message.translations[language];
      const xx = translation === undefined ? null : cleanUiString(translation);
      if (xx === null || xx === "" || xx === en) continue;
      candidates.get(language)!.push({ id: message.id, en, xx });
    }
  }
  const result = new Map<string, BitextPair[]>();
  for (const [language, pairs] of candidates) {
    const enCount = countBy(pairs.map((p) => p.en));
    const xxCount = countBy(pairs.map((p) => p.xx));
    const unique = pairs.filter((p) => enCount.get(p.en) === 1 && xxCount.get(p.xx) === 1);
    result.set(
      language,
      bySampleKey(unique)
        .slice(0, options.maxPairs ?? 1000)
        .map(({ en, xx }) => ({ en, xx })),
    );
  }
  return result;
}

/**
 * One language's bitext pairs as a retrieval benchmark (English message → its translation among all of that
 * language's translations), so `lance-e5 eval` can rank them by BM25, by vector and by hybrid alike: the issue's
 * "model against BM25, hybrid against both" on the bitext benchmark. Pair i is query `en-i` and document `xx-i`.
 */
export function bitextRetrievalBenchmark(pairs: readonly BitextPair[]): BeirBenchmark {
  return {
    queries: pairs.map((pair, i) => ({ id: `en-${i}`, text: pair.en })),
    corpus: pairs.map((pair, i) => ({ id: `xx-${i}`, title: "", text: pair.xx })),
    qrels: pairs.map((_, i) => [`en-${i}`, `xx-${i}`, 1]),
  };
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}
