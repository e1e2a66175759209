import type { ModelConfig, ModelDescription, ModelIdentity } from "./config.ts";
import type { ContentPieces } from "./tokenize.ts";

/** Options shared by query and document embedding. */
export interface EmbedOptions {
  /** Matryoshka output dims: truncate then renormalise. Error on models without `matryoshka_dims`. */
  dimensions?: number;
  /** Cut over-length inputs to max_length (default true); false makes an over-length input an error. */
  truncate?: boolean;
  /** Progress callback, called after each batch with the number of texts done so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface QueryOptions extends EmbedOptions {
  /** A task name from src/instructions (e.g. `web_search`), or ... */
  task?: string;
  /** ... a free one-sentence task definition. Neither: the model's default task. */
  instruction?: string;
}

/** Token ids of one text, ready for the model: special tokens added, truncated, EOS appended once. */
export interface EncodedText {
  ids: number[];
  /** True when the text was longer than max_length - 1 tokens and was cut. */
  truncated: boolean;
}

/**
 * The one interface everything embeds through (ingest, search, server, eval, plugins).
 * Vectors are L2-normalised Float32Arrays, returned in input order.
 */
export interface Embedder {
  /** The fields every backend has (the local ONNX runtime's full ModelConfig, or a remote descriptor). */
  readonly config: ModelDescription;
  readonly identity: ModelIdentity;
  /** Effective max length in tokens (the long-context one when loaded in long-context mode). */
  readonly maxLength: number;
  readonly dim: number;
  /**
   * Optional: embedding calls that can run at once (the local runtime's worker sessions). A caller batching
   * small requests (the server) keeps this many calls in flight to use every session; absent means 1.
   */
  readonly parallelism?: number;
  embedQueries(texts: string[], options?: QueryOptions): Promise<Float32Array[]>;
  embedDocuments(texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** Embed texts exactly as given: no instruction formatting (OpenAI `input_type: "raw"`). */
  embedRaw(texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** Tokenise as the model will see it (BOS, truncation, EOS). */
  encode(text: string, maxLength?: number): EncodedText;
  /** Token count of a text without special tokens (for chunking budgets). */
  countTokens(text: string): number;
  /**
   * Optional (backends with a local tokenizer): all ids of a text without special tokens — what countTokens
   * counts. A chunker that keeps them lets ingest tokenise each text once (see embedContentIds).
   */
  encodeContent?(text: string): number[];
  /** Optional: encodeContent with the pieces it tokenised (see ModelTokenizer.contentPieces), for the chunker. */
  encodeContentPieces?(text: string): ContentPieces;
  /**
   * Optional, with encodeContent: embeds documents given as content ids (encodeContent of each text). The
   * vectors equal embedDocuments of the texts: special tokens, truncation and EOS are applied exactly as
   * encode does. Callers without it (a remote backend) embed the texts.
   */
  embedContentIds?(contents: readonly (readonly number[])[], options?: EmbedOptions): Promise<Float32Array[]>;
  /**
   * Optional (backends with a local tokenizer): embeds texts already tokenised by `encode` (special tokens
   * included, at most maxLength ids each). The vectors equal embedRaw of the texts; a caller that had to encode
   * them anyway (the server checks lengths) saves the second tokenisation. Callers without it embed the texts.
   */
  embedEncoded?(encoded: readonly (readonly number[])[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** Formats a query with the instruction template (exposed so callers can show what is embedded). */
  formatQuery(query: string, options?: { task?: string; instruction?: string }): string;
  dispose(): Promise<void>;
}

/** An Embedder run by the local ONNX runtime: its config is the full model-directory contract. */
export interface LocalEmbedder extends Embedder {
  readonly config: ModelConfig;
  /**
   * True when the sessions run the graph rewritten to compute its position-wise tail for the pooled row only
   * (src/model/last-token-graph.ts); false when they run it as exported (option off, pooling in the graph, or a
   * graph the rewrite does not recognise).
   */
  readonly lastTokenGraph: boolean;
  /** The load-time rewrites of the graph it runs ("last-token", "rotary-in-attention", "last-layer-decode"). */
  readonly graphEdits: readonly string[];
}
