/**
 * lance-e5's public API. Each area adds its exports here: the model runtime, and for programs that build on
 * lance-e5 (examples/rag) the ingest pipeline, the query path, the task instructions and the shared defaults.
 */
export * from "./defaults.ts";
export * from "./ingest/index.ts";
export { IngestOptionsError } from "./ingest/source-items.ts";
export * from "./instructions/index.ts";
export * from "./model/index.ts";
export * from "./search/index.ts";
