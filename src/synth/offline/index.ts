/**
 * The offline synthetic-data generator: every task family from real text installable offline (src/corpora),
 * BM25-mined hard negatives, held-out documents never used. Entry points: `generateOffline` (async generator of
 * examples whose return value is the summary) and `writeOffline` (JSONL file). See src/corpora/README.md.
 */
export {
  FAMILY_WEIGHTS,
  generateOffline,
  OFFLINE_BUILDERS,
  OfflineOptionsError,
  planQuotas,
  writeOffline,
} from "./generate.ts";
export { LONG_CONTEXT_TOKENS } from "./long-context.ts";
export * from "./types.ts";
