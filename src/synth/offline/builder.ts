import type { CorpusRoots } from "../../corpora/types.ts";
import type { Rng } from "./random.ts";
import type { OfflineSource, SynthExample, TaskFamily } from "./types.ts";

/** What a source builder gets: its quotas, its own seeded randomness, where the corpora and scratch space are. */
export interface BuilderContext {
  seed: string;
  rng: Rng;
  roots: CorpusRoots;
  /** Scratch directory for this builder's BM25 tables (removed after the run). */
  workDir: string;
  /** Examples the orchestrator will try to take from this builder, per family (sizes the document pool). */
  quota: Partial<Record<TaskFamily, number>>;
}

/** Per family, a stream of examples that ends when the builder's document pool is used up. */
export type FamilyStreams = Partial<Record<TaskFamily, AsyncGenerator<SynthExample>>>;

export interface SourceBuilder {
  source: OfflineSource;
  /** The families this corpus can build, with this corpus's relative share of each. */
  families: Partial<Record<TaskFamily, number>>;
  /** Reads a seeded sample of non-held-out documents, builds BM25 indexes, returns the streams. */
  prepare(context: BuilderContext): Promise<{ streams: FamilyStreams; close(): Promise<void> }>;
}

/** The largest per-family quota: a document can serve one example in each family, so this sizes the pool. */
export function largestQuota(context: BuilderContext): number {
  return Math.max(0, ...Object.values(context.quota).map((q) => q ?? 0));
}

/** Texts equal after case, whitespace and punctuation folding (a negative must never equal its positive). */
export function sameText(a: string, b: string): boolean {
  return foldText(a) === foldText(b);
}

export function foldText(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}
