/**
 * lance-e5 for plain LanceDB programs. Importing this module registers the `lance-e5` embedding function in
 * LanceDB's registry; after that, tables made by `lance-e5 ingest` embed on their own:
 *
 *   import * as lancedb from "@lancedb/lancedb";
 *   import "lance-e5/plugins/lancedb";
 *   const table = await (await lancedb.connect("./data/lancedb")).openTable("docs");
 *   await table.add([{ text: "a new document" }]);            // embedded as a document (no instruction)
 *   await table.search("what is new?", "vector").limit(5).toArray(); // embedded as a query, with the task's instruction
 *
 * The model is resolved as everywhere else (LANCE_E5_MODEL, else the shipped default) and must be the model that
 * built the table (its identity is stored in the table; a different model is a ModelMismatchError).
 * All logic lives in src/lancedb/embedding-function.ts; this file is the adapter's public face.
 */
export {
  embedderForIdentity,
  LanceE5EmbeddingFunction,
  type LanceE5FunctionOptions,
  registerLanceE5Function,
  useEmbedder,
} from "../../src/lancedb/embedding-function.ts";
export { EMBEDDING_FUNCTION_NAME } from "../../src/lancedb/schema.ts";
/**
 * Object storage: tables in s3://, gs://, az:// work as anywhere else; pass the options to LanceDB yourself, e.g.
 * `lancedb.connect("s3://bucket/prefix", { storageOptions: resolveStorageOptions() })` to use the same
 * LANCE_E5_STORAGE_OPTIONS as the CLI and server (AWS_*, GOOGLE_*, AZURE_* variables are read by LanceDB itself).
 */
export { resolveStorageOptions, STORAGE_OPTIONS_ENV, type StorageOptions } from "../../src/lancedb/storage-options.ts";
