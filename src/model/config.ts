/**
 * The model-directory contract (`lance-e5.json`), as TypeScript types.
 * The JSON Schema in schemas/lance-e5.schema.json is the source of truth; keep both in step.
 */

export type ModelFamily = "mistral" | "qwen2" | "qwen3" | "llama";

/** How the RoPE base can be changed at load time without re-exporting. */
export interface RopeConfig {
  /** The base the model was trained with (Mistral: 10000). */
  base: number;
  /** Rotary dimension (usually head_dim); inverse frequencies are base^(-2i/dim) for i < dim/2. */
  dim: number;
  /**
   * Name of the ONNX initializer holding the inverse frequencies (float32, `dim/2` values, any shape
   * with that many elements). The runtime rewrites it to apply another base.
   */
  inv_freq_initializer?: string;
  /** For fused-attention graphs: names of the cos/sin cache initializers ([max_positions, dim/2]). */
  cos_cache_initializer?: string;
  sin_cache_initializer?: string;
}

export interface LongContextConfig {
  rope_base: number;
  max_length: number;
}

export interface SpecialTokens {
  bos_id: number | null;
  eos_id: number;
  /** Pad id; null means "fall back to EOS" (Mistral has no pad token). */
  pad_id: number | null;
}

export interface OnnxConfig {
  file: string;
  inputs: { input_ids: string; attention_mask: string; position_ids?: string };
  /** `last_hidden_state` [batch, seq, hidden] or, when pooling is in the graph, [batch, hidden]. */
  output: string;
  pooling_in_graph: boolean;
  /** Past/present key-value tensors (GroupQueryAttention exports): long texts run in chunks (kv-cache.ts). */
  kv_cache?: KvCacheConfig | null;
}

/** `onnx.kv_cache` of lance-e5.json: names with `{layer}` and `{kind}` (key|value), and the tensors' sizes. */
export interface KvCacheConfig {
  past: string;
  present: string;
  layers: number;
  kv_heads: number;
  head_dim: number;
  /** Query heads: the attention score buffer, which bounds the chunk size, is per query head. */
  query_heads: number;
}

export interface ModelCard {
  description?: string;
  base?: string;
  trained_on?: Array<{ source: string; examples?: number }>;
  steps?: number;
  hardware?: string;
  scores?: Record<string, number | string>;
  [key: string]: unknown;
}

/**
 * What every model description has, whichever backend runs it: enough to format queries, size chunks and stamp
 * tables. `Embedder.config` has this type; the local ONNX runtime's is the full `ModelConfig`.
 */
export interface ModelDescription {
  format_version: 1;
  name: string;
  output_dim: number;
  max_length: number;
  long_context?: LongContextConfig | null;
  /** `{task}` and `{query}` placeholders. e5: "Instruct: {task}\nQuery: {query}"; Qwen3: no space after "Query:". */
  instruction_template: string;
  default_task: string;
  matryoshka_dims?: number[] | null;
  /** How hybrid search fuses this model's vector list with BM25 (src/search/fusion.ts); absent = plain RRF. */
  hybrid?: HybridConfig | null;
  card?: ModelCard;
}

/** Hybrid-search settings measured for a model (chosen on held-out training-side data, never a benchmark). */
export interface HybridConfig {
  /** Share of the vector list in the fusion, 0..1 (0 = BM25 order, 1 = vector order). */
  vector_weight: number;
  /** "rrf" (default): weighted reciprocal-rank fusion; "linear": weighted sum of min-max-scaled scores. */
  fusion?: "rrf" | "linear";
}

/**
 * `"backend": {"type": "remote"}` marks a lance-e5.json that describes a model served elsewhere (an
 * OpenAI-compatible /v1/embeddings endpoint): no ONNX files, and most runtime fields optional.
 */
export interface RemoteBackendConfig {
  type: "remote";
  /** Model name sent in requests (default: the descriptor's `name`; --embedder-model wins). */
  model?: string;
  /**
   * Pins the identity hash tables record, e.g. the local ONNX identity of the very model the remote serves, so
   * tables built locally and remotely are interchangeable. The user vouches for it: the client cannot verify it.
   */
  identity_hash?: string;
}

/** A lance-e5.json with `backend.type` remote (schemas/lance-e5.schema.json, the remote branch). */
export interface RemoteModelConfig extends ModelDescription {
  backend: RemoteBackendConfig;
  family?: ModelFamily;
  hidden_size?: number;
  /** Needed with a tokenizer.json beside it (token counts as the model sees them). */
  tokens?: SpecialTokens;
}

export interface ModelConfig extends ModelDescription {
  family: ModelFamily;
  hidden_size: number;
  pooling: "last_token";
  normalize: boolean;
  tokens: SpecialTokens;
  padding_side: "left" | "right";
  rope: RopeConfig;
  onnx: OnnxConfig;
  card: ModelCard;
  /** Absent or `{"type": "onnx"}`: the local ONNX runtime. */
  backend?: { type: "onnx" };
}

/** What a table records about the model that built it: never a filesystem path. */
export interface ModelIdentity {
  name: string;
  /** Hex SHA-256 over model.onnx (+ external data), tokenizer.json and lance-e5.json's embedding-relevant fields. */
  hash: string;
  dim: number;
}
