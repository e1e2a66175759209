/**
 * Types of the offline synthetic-data generator (issue 4, offline half).
 *
 * `SynthExample` is one line of `lance-e5 synth` output; it mirrors schemas/synth-example.schema.json, the
 * contract read by training/. Kept here until a shared synth module owns it (then re-export from there).
 */
export type TaskFamily = "short-long" | "long-short" | "short-short" | "long-long" | "sts" | "bitext" | "long-context";

export const TASK_FAMILIES: readonly TaskFamily[] = [
  "short-long",
  "long-short",
  "short-short",
  "long-long",
  "sts",
  "bitext",
  "long-context",
];

export interface SynthExample {
  task_family: TaskFamily;
  /** One-sentence task definition; goes on the query side only. */
  instruction: string;
  query: string;
  positive: string;
  /** BM25-mined hard negative (or misleading label / S3); absent for short-short and long-long, as in the paper. */
  negative?: string;
  /** BCP-47; bitext uses "src-tgt" (e.g. "en-de", "en-zh-CN"). */
  language: string;
  /** "offline:<corpus>". */
  source: string;
  /** Document ids used (`doc_ids`, every one checked against the held-out rule), template id, lengths. */
  meta: OfflineMeta;
}

export interface OfflineMeta {
  /** Corpus name as used by src/data/split.ts `isHeldOut(corpus, id)`. */
  corpus: OfflineSource;
  /** Every corpus document the example's texts were derived from (query, positive and negative). */
  doc_ids: string[];
  /** Stable id of the instruction template (e.g. "man.summary-to-description"). */
  template: string;
  [key: string]: unknown;
}

/** Offline corpora (src/corpora/README.md documents each one's documents and ids). */
export type OfflineSource = "man" | "wordnet" | "gettext" | "bible" | "sotu" | "docs";

export const OFFLINE_SOURCES: readonly OfflineSource[] = ["man", "wordnet", "gettext", "bible", "sotu", "docs"];

export interface OfflineProgress {
  /** "index" while reading a corpus and building its BM25 index, "generate" while emitting examples. */
  phase: "index" | "generate";
  source: OfflineSource;
  /** Examples emitted so far (all sources). */
  written: number;
  /** Examples requested in total. */
  total: number;
}

export interface OfflineOptions {
  /** Corpora to draw from; default all six. */
  sources?: readonly OfflineSource[];
  /** Examples to produce in total (split over sources and families by fixed weights; see README). */
  count: number;
  /** Same seed + same installed corpora → byte-identical output. Default 0. */
  seed?: number | string;
  /** Called at most every few hundred examples and at every phase change. */
  onProgress?: (progress: OfflineProgress) => void;
  /** Scratch directory for the temporary BM25 (LanceDB FTS) tables; default a fresh dir under os.tmpdir(). */
  workDir?: string;
  /** Where the corpora live (tests and unusual installs); defaults are the Debian/npm install paths. */
  roots?: Partial<import("../../corpora/types.ts").CorpusRoots>;
}

export interface OfflineSummary {
  requested: number;
  written: number;
  perFamily: Record<TaskFamily, number>;
  perSource: Record<string, number>;
  /** Distinct instruction strings emitted. */
  distinctInstructions: number;
  /** Examples requested but not produced because a corpus ran out of (non-held-out) documents. */
  shortfall: Record<string, number>;
  /** "<source>/<family>" streams whose documents ran out; their remaining quota went to the other streams. */
  exhausted: string[];
  seconds: number;
}
