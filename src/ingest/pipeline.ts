import type { IngestDocumentsOptions, IngestReport, IngestSourcesOptions } from "./types.ts";

// Contract first (other helpers code against it); the implementation lands in the next commits.
export async function ingestSources(_options: IngestSourcesOptions): Promise<IngestReport> {
  throw new Error("ingestSources: not implemented yet");
}

export async function ingestDocuments(_options: IngestDocumentsOptions): Promise<IngestReport> {
  throw new Error("ingestDocuments: not implemented yet");
}
