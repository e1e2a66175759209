import { Document, type DocumentInterface } from "@langchain/core/documents";
import type { EmbeddingsInterface } from "@langchain/core/embeddings";
import { maximalMarginalRelevance } from "@langchain/core/utils/math";
import { type MaxMarginalRelevanceSearchOptions, VectorStore } from "@langchain/core/vectorstores";
import { DEFAULT_DB, DEFAULT_TABLE } from "../../src/defaults.ts";
import { ingestDocuments } from "../../src/ingest/index.ts";
import { sqlList } from "../../src/ingest/sql.ts";
import { type Connection, connectDb } from "../../src/lancedb/connection.ts";
import { resolveStorageOptions, type StorageOptions } from "../../src/lancedb/storage-options.ts";
import {
  compileFilter,
  formatSearchQuery,
  openSearchTarget,
  SEARCH_MODES,
  type SearchMode,
  SearchRequestError,
  type SearchTarget,
  search,
} from "../../src/search/index.ts";
import { toDocument, toIngestDocuments } from "./documents.ts";
import { LanceE5Embeddings } from "./embeddings.ts";

/** lance-e5's JSON filter language (src/search/filter.ts), e.g. `{"metadata.lang": {"$in": ["en", "de"]}}`. */
export type LanceE5Filter = Record<string, unknown>;

export interface LanceE5VectorStoreConfig {
  /**
   * LanceDB directory/URI (default ./data/lancedb), connected with strong read consistency; or an open connection,
   * which should be too (`readConsistencyInterval: 0`) when other processes write the same table.
   */
  db?: string | Connection;
  /**
   * Object-store options for s3://, gs://, az:// databases (keys as in LanceDB's storage docs), over those in
   * LANCE_E5_STORAGE_OPTIONS; AWS_*, GOOGLE_*, AZURE_* variables are read by LanceDB itself.
   */
  storageOptions?: StorageOptions;
  /** Table name (default "docs"). */
  table?: string;
  /**
   * How similaritySearch / similaritySearchWithScore / retrievers search (default "vector", as `lance-e5 search`).
   * Scores: vector = cosine, fulltext = BM25, hybrid = reciprocal-rank fusion (src/search/index.ts).
   */
  mode?: SearchMode;
  /** addDocuments: chunk size in model tokens (default: the model's max length minus BOS/EOS). */
  chunkTokens?: number;
  /** addDocuments: overlap between consecutive chunks, in model tokens (default 0). */
  overlapTokens?: number;
  /** addDocuments: one vector per document, truncated at the model's max length, no chunking. */
  whole?: boolean;
}

export interface AddDocumentsOptions {
  /** Document ids (else each Document's `id`, else a hash of its content and metadata). */
  ids?: string[];
}

/**
 * A LangChain vector store over a lance-e5 table. Writes go through lance-e5's ingest (chunking, chunk ids,
 * model identity, full-text index) and reads through its query path (instructed query embedding, vector /
 * full-text / hybrid, JSON filters), so a table made here and one made by `lance-e5 ingest` are the same thing
 * and answer the same way from the CLI, the server and this store.
 */
export class LanceE5VectorStore extends VectorStore {
  declare FilterType: LanceE5Filter;
  declare embeddings: LanceE5Embeddings;
  readonly tableName: string;
  readonly mode: SearchMode;
  private readonly config: LanceE5VectorStoreConfig;
  private connecting: Promise<Connection> | undefined;
  private opening: Promise<SearchTarget> | undefined;

  constructor(embeddings: EmbeddingsInterface, config: LanceE5VectorStoreConfig = {}) {
    if (!(embeddings instanceof LanceE5Embeddings)) {
      // Any other Embeddings would write vectors that lance-e5's model identity check cannot vouch for.
      throw new TypeError("LanceE5VectorStore needs a LanceE5Embeddings (the table records which model embedded it)");
    }
    const mode = config.mode ?? "vector";
    if (!SEARCH_MODES.includes(mode)) {
      throw new SearchRequestError("mode", `unknown mode "${mode}"; modes: ${SEARCH_MODES.join(", ")}`);
    }
    // LangChain keeps these kwargs for serialisation and tracing: never the connection or storage credentials.
    super(embeddings, { table: config.table, mode });
    this.config = config;
    this.tableName = config.table ?? DEFAULT_TABLE;
    this.mode = mode;
  }

  _vectorstoreType(): string {
    return "lance-e5";
  }

  /** Opens an existing lance-e5 table; TableNotFoundError / ModelMismatchError / NotALanceE5TableError at once. */
  static async fromExistingTable(
    embeddings: LanceE5Embeddings,
    config: LanceE5VectorStoreConfig = {},
  ): Promise<LanceE5VectorStore> {
    const store = new LanceE5VectorStore(embeddings, config);
    await store.target();
    return store;
  }

  /** Adds texts (one metadata object per text, or one for all) to the table, creating it when missing. */
  static override async fromTexts(
    texts: string[],
    metadatas: object[] | object,
    embeddings: EmbeddingsInterface,
    config: LanceE5VectorStoreConfig = {},
  ): Promise<LanceE5VectorStore> {
    const documents = texts.map(
      (pageContent, i) =>
        new Document({
          pageContent,
          metadata: { ...((Array.isArray(metadatas) ? metadatas[i] : metadatas) as Record<string, unknown>) },
        }),
    );
    return LanceE5VectorStore.fromDocuments(documents, embeddings, config);
  }

  /** Adds documents to the table, creating it when missing. */
  static override async fromDocuments(
    documents: DocumentInterface[],
    embeddings: EmbeddingsInterface,
    config: LanceE5VectorStoreConfig = {},
  ): Promise<LanceE5VectorStore> {
    const store = new LanceE5VectorStore(embeddings, config);
    await store.addDocuments(documents);
    return store;
  }

  /**
   * Ingests documents (embedded without instruction, chunked when longer than the chunk size) and returns their
   * doc ids. Idempotent: documents already stored unchanged are not re-embedded. A bad document (empty text,
   * non-string source/title, duplicate id) fails the whole call with a DocumentError before anything is written.
   */
  override async addDocuments(documents: DocumentInterface[], options: AddDocumentsOptions = {}): Promise<string[]> {
    const batch = toIngestDocuments(documents, options.ids);
    if (batch.documents.length === 0) return [];
    const embedder = await this.embeddings.embedder();
    const report = await ingestDocuments({
      db: await this.connection(),
      table: this.tableName,
      embedder,
      documents: batch.documents,
      chunkTokens: this.config.chunkTokens,
      overlapTokens: this.config.overlapTokens,
      whole: this.config.whole,
      defaultTask: this.embeddings.task,
    });
    this.opening = undefined; // the table may be new, or have new rows: look again on the next search
    if (report.failures.length > 0) {
      const list = report.failures.map((f) => `${f.source}: ${f.reason}`).join("; ");
      throw new Error(`lance-e5 ingest refused ${report.failures.length} document(s): ${list}`);
    }
    return batch.ids;
  }

  /**
   * Not supported: lance-e5 embeds what it stores itself, so that chunking and the table's recorded model stay
   * true. Use addDocuments (the vectors come out the same: documents are embedded without instruction).
   */
  override async addVectors(): Promise<never> {
    throw new Error("LanceE5VectorStore.addVectors: lance-e5 embeds what it stores; call addDocuments instead");
  }

  /** Deletes whole documents by doc id, or every chunk a filter matches. An empty filter deletes nothing. */
  override async delete(params: { ids?: string[]; filter?: LanceE5Filter } = {}): Promise<void> {
    const target = await this.target();
    const conditions: string[] = [];
    if (params.ids !== undefined) {
      if (params.ids.length === 0) return;
      conditions.push(compileFilter({ doc_id: { $in: params.ids } }, target.fields)!);
    }
    const where = compileFilter(params.filter, target.fields);
    if (where) conditions.push(where);
    if (conditions.length === 0) throw new SearchRequestError("delete", "give ids or a non-empty filter");
    await target.table.delete(conditions.map((c) => `(${c})`).join(" AND "));
    this.opening = undefined;
  }

  /** Searches with the store's mode and the query task (the Embeddings' task, else the table's, else the model's). */
  override async similaritySearchWithScore(
    query: string,
    k = 4,
    filter?: LanceE5Filter,
  ): Promise<[DocumentInterface, number][]> {
    return this.run({ query, k, filter, mode: this.mode });
  }

  override async similaritySearch(query: string, k = 4, filter?: LanceE5Filter): Promise<DocumentInterface[]> {
    return (await this.similaritySearchWithScore(query, k, filter)).map(([document]) => document);
  }

  /** Vector search with a vector the caller already has (e.g. from embedQuery); the score is the cosine. */
  override async similaritySearchVectorWithScore(
    query: number[],
    k: number,
    filter?: LanceE5Filter,
  ): Promise<[DocumentInterface, number][]> {
    const embedder = await this.embeddings.embedder();
    if (!Array.isArray(query) || query.length !== embedder.dim) {
      throw new SearchRequestError("vector", `must be an array of ${embedder.dim} numbers (the model's dimension)`);
    }
    const vector = Float32Array.from(query);
    // The shared query path embeds its query text through `embedQuery`; here that step hands back the vector.
    return this.run({ query: "(vector)", k, filter, mode: "vector", embedQuery: async () => vector });
  }

  /**
   * Max-marginal-relevance (retrievers with `searchType: "mmr"`): `fetchK` candidates found with the store's mode,
   * then LangChain's MMR over the instructed query vector and the candidates' stored vectors. `lambda` 1 ranks by
   * relevance alone, 0 by diversity alone (after the most relevant first pick).
   */
  override async maxMarginalRelevanceSearch(
    query: string,
    options: MaxMarginalRelevanceSearchOptions<LanceE5Filter>,
  ): Promise<DocumentInterface[]> {
    const { k, fetchK = 20, lambda = 0.5, filter } = options;
    const embedder = await this.embeddings.embedder();
    const target = await this.target();
    const { task, instruction } = this.embeddings;
    const [queryVector] = await embedder.embedRaw([formatSearchQuery(embedder, target, { query, task, instruction })]);
    const candidates = await this.run({
      query,
      k: Math.max(fetchK, k),
      filter,
      mode: this.mode,
      embedQuery: async () => queryVector!,
    });
    if (candidates.length === 0) return [];
    const chunkIds = candidates.map(([doc]) => doc.metadata.chunk_id as string | null);
    const known = chunkIds.filter((id): id is string => typeof id === "string");
    const rows =
      known.length === 0
        ? []
        : await target.table
            .query()
            .where(`id IN ${sqlList(known)}`)
            .select(["id", "vector"])
            .toArray();
    const stored = new Map(rows.map((row) => [String(row.id), Array.from(row.vector.toArray() as Float32Array)]));
    // Rows written by plain LanceDB (the other plugin) have no id: their document-side vector is the same anyway.
    const missing = candidates.filter((_, i) => !stored.has(chunkIds[i] ?? ""));
    const recomputed = await this.embeddings.embedDocuments(missing.map(([doc]) => doc.pageContent));
    const vectors = candidates.map((_, i) => stored.get(chunkIds[i] ?? "") ?? recomputed.shift()!);
    const picked = maximalMarginalRelevance(Array.from(queryVector!), vectors, lambda, k);
    return picked.map((i) => candidates[i]![0]);
  }

  private async run(params: {
    query: string;
    k: number;
    filter: LanceE5Filter | undefined;
    mode: SearchMode;
    embedQuery?: () => Promise<Float32Array>;
  }): Promise<[DocumentInterface, number][]> {
    const embedder = await this.embeddings.embedder();
    const response = await search({
      embedder,
      target: await this.target(),
      query: params.query,
      k: params.k,
      mode: params.mode,
      filter: params.filter,
      task: this.embeddings.task,
      instruction: this.embeddings.instruction,
      embedQuery: params.embedQuery,
    });
    return response.results.map((result) => [toDocument(result), result.score]);
  }

  /** One strongly consistent connection per store: reads see what addDocuments (or another process) committed. */
  private connection(): Promise<Connection> {
    if (!this.connecting) {
      const connecting = (async () =>
        connectDb(this.config.db ?? DEFAULT_DB, {
          storageOptions: { ...resolveStorageOptions(), ...this.config.storageOptions },
        }))();
      connecting.catch(() => {
        if (this.connecting === connecting) this.connecting = undefined; // a bad option or endpoint: try again
      });
      this.connecting = connecting;
    }
    return this.connecting;
  }

  /** The table, checked once against the model (re-opened after writes). */
  private async target(): Promise<SearchTarget> {
    if (!this.opening) {
      const opening = (async () =>
        openSearchTarget(
          { db: await this.connection(), tableName: this.tableName },
          (await this.embeddings.embedder()).identity,
        ))();
      opening.catch(() => {
        if (this.opening === opening) this.opening = undefined;
      });
      this.opening = opening;
    }
    return this.opening;
  }
}
