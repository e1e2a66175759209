/**
 * The ingest pipeline: sources → documents → chunks → embeddings → Arrow batches → LanceDB (mergeInsert on id).
 * Used by `lance-e5 ingest`, the eval harness (BEIR corpora) and the passkey test.
 */
export { ingestDocuments, ingestSources } from "./pipeline.ts";
export type {
  IngestCommonOptions,
  IngestDocument,
  IngestDocumentsOptions,
  IngestFailure,
  IngestProgress,
  IngestReport,
  IngestSourcesOptions,
} from "./types.ts";
