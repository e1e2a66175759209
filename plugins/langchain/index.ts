/**
 * lance-e5 for LangChain.js: an `Embeddings` (queries with the task instruction, documents without) and a
 * `VectorStore` over a lance-e5 table (the same table `lance-e5 ingest` makes and `lance-e5 search` reads).
 *
 *   import { LanceE5Embeddings, LanceE5VectorStore } from "lance-e5/plugins/langchain";
 *   const embeddings = new LanceE5Embeddings({ task: "web_search" });   // model: LANCE_E5_MODEL, else the default
 *   const store = await LanceE5VectorStore.fromExistingTable(embeddings, { db: "./data/lancedb", mode: "hybrid" });
 *   const docs = await store.asRetriever({ k: 4, filter: { "metadata.lang": "en" } }).invoke("what is new?");
 *
 * @langchain/community's LanceDB store cannot be installed beside lance-e5: its optional peer range for
 * @lancedb/lancedb is ^0.19.1 (lance-e5 pins 0.31.0), and npm refuses the tree. This store is written on
 * @langchain/core's VectorStore over lance-e5's own ingest and search instead.
 */

export { UnknownTaskError } from "../../src/instructions/index.ts";
export { ModelMismatchError, NotALanceE5TableError, TableNotFoundError } from "../../src/lancedb/errors.ts";
export { ObjectStoreError, StorageOptionError, type StorageOptions } from "../../src/lancedb/storage-options.ts";
export { FilterError, FullTextIndexMissingError, type SearchMode, SearchRequestError } from "../../src/search/index.ts";
export { DocumentError } from "./documents.ts";
export { LanceE5Embeddings, type LanceE5EmbeddingsOptions } from "./embeddings.ts";
export {
  type AddDocumentsOptions,
  type LanceE5Filter,
  LanceE5VectorStore,
  type LanceE5VectorStoreConfig,
} from "./vector-store.ts";
