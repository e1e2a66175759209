/** The model runtime's public surface: load a model directory, embed, and the contract types. */
export type { LongContextConfig, ModelCard, ModelConfig, ModelFamily, ModelIdentity, RopeConfig } from "./config.ts";
export type { Embedder, EmbedOptions, EncodedText, QueryOptions } from "./embedder.ts";
export { EmbedOptionsError, InvalidInputError, ModelDirectoryError } from "./errors.ts";
export { readModelConfig } from "./model-dir.ts";
export {
  DEFAULT_BATCH_TOKEN_BUDGET,
  type LoadEmbedderOptions,
  loadEmbedder,
  resolveThreads,
} from "./onnx-embedder.ts";
export { ropeInverseFrequencies } from "./rope.ts";
