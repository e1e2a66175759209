/** The model runtime's public surface: load a model directory, embed, and the contract types. */

export { approximateTokenCount } from "./approximate-tokens.ts";
export type {
  LongContextConfig,
  ModelCard,
  ModelConfig,
  ModelDescription,
  ModelFamily,
  ModelIdentity,
  RemoteModelConfig,
  RopeConfig,
} from "./config.ts";
export type { Embedder, EmbedOptions, EncodedText, LocalEmbedder, QueryOptions } from "./embedder.ts";
export { EmbedOptionsError, InvalidInputError, ModelDirectoryError } from "./errors.ts";
export { readModelConfig } from "./model-dir.ts";
export {
  DEFAULT_BATCH_TOKEN_BUDGET,
  type LoadEmbedderOptions,
  loadEmbedder,
  resolveThreads,
} from "./onnx-embedder.ts";
export {
  DEFAULT_REMOTE_BATCH_SIZE,
  DEFAULT_REMOTE_CONCURRENCY,
  type LoadRemoteEmbedderOptions,
  loadRemoteEmbedder,
} from "./remote-embedder.ts";
export {
  RemoteAuthError,
  RemoteDimensionError,
  RemoteEmbedderError,
  RemoteHttpError,
  RemoteModelMismatchError,
  RemoteModelNotFoundError,
  RemoteResponseError,
  RemoteUnreachableError,
} from "./remote-errors.ts";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./remote-http.ts";
export { type RemoteModelSource, remoteModelIdentity } from "./remote-model.ts";
export { ropeInverseFrequencies } from "./rope.ts";
