/**
 * Builds the visible benchmarks from the offline corpora (installed by scripts/setup.d/corpora.sh) into
 * data/benchmarks/ (git-ignored): BEIR directories man/, wordnet/, sotu/ and bitext/<lang>.jsonl (also as BEIR
 * directories bitext-retrieval/<lang>/: English → translation, for BM25 / vector / hybrid), plus manifest.json naming
 * each benchmark's query instruction. Only held-out documents are used (src/data/split.ts).
 *
 *   node --import tsx scripts/build-benchmarks.ts [--out DIR] [--only man,wordnet,sotu,bitext] [--max-queries N]
 *     [--max-documents N] [--max-pairs N] [--man-family-cap N] [--man-keep-stubs] [--force]
 *
 * The man benchmark drops stub pages and keeps at most --man-family-cap pages per command family (default
 * MAN_BENCHMARK_FAMILY_CAP = 120, 0 = no cap): see src/eval/benchmarks/visible.ts for why.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { defaultCorpusRoots, readGettext, readManPages, readSotu, readWordnet } from "../src/corpora/index.ts";
import { isHeldOut } from "../src/data/split.ts";
import { type BeirBenchmark, writeBeirBenchmark, writePairs } from "../src/eval/benchmarks/beir-writer.ts";
import { VISIBLE_BENCHMARKS, type VisibleBenchmarkName } from "../src/eval/benchmarks/manifest.ts";
import {
  BITEXT_LANGUAGES,
  bitextRetrievalBenchmark,
  buildGettextBitext,
  buildManBenchmark,
  buildSotuBenchmark,
  buildWordnetBenchmark,
  MAN_BENCHMARK_FAMILY_CAP,
} from "../src/eval/benchmarks/visible.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "data/benchmarks" },
    only: { type: "string", default: Object.keys(VISIBLE_BENCHMARKS).join(",") },
    "max-queries": { type: "string", default: "500" },
    "max-documents": { type: "string", default: "5000" },
    "max-pairs": { type: "string", default: "500" },
    "man-family-cap": { type: "string", default: String(MAN_BENCHMARK_FAMILY_CAP) },
    "man-keep-stubs": { type: "boolean", default: false },
    force: { type: "boolean", default: false },
  },
});

const positive = (name: string, text: string) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got "${text}"`);
  return value;
};
const size = {
  maxQueries: positive("max-queries", values["max-queries"]),
  maxDocuments: positive("max-documents", values["max-documents"]),
};
const maxPairs = positive("max-pairs", values["max-pairs"]);
const manFamilyCapText = values["man-family-cap"];
if (!/^\d+$/.test(manFamilyCapText)) {
  throw new Error(`--man-family-cap must be a non-negative integer (0 = no cap), got "${manFamilyCapText}"`);
}
const manOptions = {
  ...size,
  familyCap: Number(manFamilyCapText) === 0 ? Number.POSITIVE_INFINITY : Number(manFamilyCapText),
  keepStubs: values["man-keep-stubs"],
};
const only = values.only.split(",").map((name) => name.trim()) as VisibleBenchmarkName[];
for (const name of only) {
  if (!(name in VISIBLE_BENCHMARKS)) {
    throw new Error(`unknown benchmark "${name}"; known: ${Object.keys(VISIBLE_BENCHMARKS).join(", ")}`);
  }
}
const roots = defaultCorpusRoots();
const outDir = path.resolve(values.out);
const summary: Record<string, unknown> = {};

async function beir(name: VisibleBenchmarkName, build: () => Promise<BeirBenchmark>): Promise<void> {
  const dir = path.join(outDir, name);
  if (!values.force && existsSync(path.join(dir, "qrels", "test.tsv"))) {
    console.error(`${name}: already built (${dir}; --force rebuilds)`);
    return;
  }
  const started = performance.now();
  const benchmark = await build();
  await writeBeirBenchmark(dir, benchmark);
  summary[name] = {
    documents: benchmark.corpus.length,
    queries: benchmark.queries.length,
    ...(name === "man"
      ? { family_cap: Number.isFinite(manOptions.familyCap) ? manOptions.familyCap : null, stubs: manOptions.keepStubs }
      : {}),
  };
  console.error(
    `${name}: ${benchmark.queries.length} queries, ${benchmark.corpus.length} documents → ${dir} ` +
      `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
}

for (const name of only) {
  if (name === "man") {
    await beir("man", () =>
      buildManBenchmark(readManPages({ manDir: roots.manDir, include: (id) => isHeldOut("man", id) }), manOptions),
    );
  } else if (name === "wordnet") {
    await beir("wordnet", () => buildWordnetBenchmark(readWordnet({ wordnetDir: roots.wordnetDir }), size));
  } else if (name === "sotu") {
    await beir("sotu", () =>
      buildSotuBenchmark(readSotu({ sotuDir: roots.sotuDir, include: (id) => isHeldOut("sotu", id) }), size),
    );
  } else if (name === "bitext") {
    const dir = path.join(outDir, "bitext");
    const languages = Object.keys(BITEXT_LANGUAGES);
    const retrievalDir = path.join(outDir, "bitext-retrieval");
    const built = (lang: string) =>
      existsSync(path.join(dir, `${lang}.jsonl`)) && existsSync(path.join(retrievalDir, lang, "qrels", "test.tsv"));
    if (!values.force && languages.every(built)) {
      console.error(`bitext: already built (${dir}; --force rebuilds)`);
      continue;
    }
    const byLanguage = await buildGettextBitext(
      readGettext({ localeDir: roots.localeDir, include: (id) => isHeldOut("gettext", id) }),
      { languages, maxPairs },
    );
    const counts: Record<string, number> = {};
    for (const [language, pairs] of byLanguage) {
      if (pairs.length < 2) {
        console.error(`bitext ${language}: only ${pairs.length} held-out pairs installed; skipped`);
        continue;
      }
      await writePairs(path.join(dir, `${language}.jsonl`), pairs);
      await writeBeirBenchmark(path.join(retrievalDir, language), bitextRetrievalBenchmark(pairs));
      counts[language] = pairs.length;
    }
    summary.bitext = counts;
    console.error(`bitext: ${JSON.stringify(counts)} → ${dir} (and as retrieval benchmarks in ${retrievalDir})`);
  }
}

await mkdir(outDir, { recursive: true });
// Keep the counts of benchmarks built by earlier runs (a `--only man` rebuild must not forget bitext's).
const manifestFile = path.join(outDir, "manifest.json");
const previous = existsSync(manifestFile) ? JSON.parse(await readFile(manifestFile, "utf8")) : {};
await writeFile(
  manifestFile,
  `${JSON.stringify({ benchmarks: VISIBLE_BENCHMARKS, built: { ...previous.built, ...summary } }, null, 2)}\n`,
);
