import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { ModelConfig, ModelIdentity } from "./config.ts";
import { ModelDirectoryError } from "./errors.ts";
import { modelIdentity } from "./identity.ts";
import {
  CONFIG_FILE,
  HF_CONFIG_FILE,
  readModelConfig,
  readModelFile,
  readOptionalModelJson,
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
} from "./model-dir.ts";
import { type InitializerInfo, listInitializers, OnnxProtoError } from "./onnx-proto.ts";
import { ModelTokenizer } from "./tokenize.ts";

/** Everything read and checked from a model directory, except the ORT session. */
export interface ModelFiles {
  dir: string;
  config: ModelConfig;
  tokenizer: ModelTokenizer;
  initializers: InitializerInfo[];
  /** External data files of model.onnx (relative paths), empty for self-contained graphs. */
  externalFiles: string[];
  identity: ModelIdentity;
}

/** Stamped too, so a re-exported graph is noticed (the exporter always writes this name). */
const DEFAULT_ONNX_FILE = "model.onnx";

const cache = new Map<string, Promise<ModelFiles>>();

/**
 * Reads a model directory once per process (per content change): LanceDB re-creates embedding functions on every
 * call, and parsing a 151k-token tokenizer.json or hashing a model takes far longer than a small embedding call.
 * The key includes size and mtime of the files read, so a directory rewritten in place is read again.
 */
export function loadModelFiles(modelDir: string): Promise<ModelFiles> {
  const dir = path.resolve(modelDir);
  const key = [
    dir,
    ...[CONFIG_FILE, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, HF_CONFIG_FILE, DEFAULT_ONNX_FILE].map((f) =>
      stamp(dir, f),
    ),
  ].join("\0");
  let entry = cache.get(key);
  if (entry === undefined) {
    entry = readModelFiles(dir);
    entry.catch(() => cache.delete(key));
    cache.set(key, entry);
  }
  return entry;
}

function stamp(dir: string, file: string): string {
  try {
    const stat = statSync(path.join(dir, file));
    return `${stat.size}:${stat.mtimeMs}`;
  } catch {
    return "absent";
  }
}

async function readModelFiles(dir: string): Promise<ModelFiles> {
  const config = readModelConfig(dir);
  const tokenizer = ModelTokenizer.load(dir, config.tokens);
  checkVocabSize(dir, tokenizer);
  const initializers = readInitializers(dir, config.onnx.file);
  const externalFiles = [...new Set(initializers.flatMap((t) => t.externalLocation ?? []))];
  const identity = await modelIdentity(dir, config, externalFiles, TOKENIZER_FILE);
  return { dir, config, tokenizer, initializers, externalFiles, identity };
}

export function readInitializers(dir: string, file: string): InitializerInfo[] {
  const bytes = readModelFile(dir, file);
  try {
    return listInitializers(bytes);
  } catch (error) {
    if (!(error instanceof OnnxProtoError)) throw error;
    throw new ModelDirectoryError(dir, `${file} is not a valid ONNX model (${error.message})`, { cause: error });
  }
}

/** A tokenizer id at or beyond the checkpoint's vocab size would index past the embedding table. */
function checkVocabSize(dir: string, tokenizer: ModelTokenizer): void {
  const hfConfig = readOptionalModelJson(dir, HF_CONFIG_FILE) as { vocab_size?: unknown } | undefined;
  const vocabSize = hfConfig?.vocab_size;
  if (typeof vocabSize === "number" && tokenizer.maxTokenId >= vocabSize) {
    throw new ModelDirectoryError(
      dir,
      `${TOKENIZER_FILE} produces ids up to ${tokenizer.maxTokenId} but ${HF_CONFIG_FILE} vocab_size is ${vocabSize} (tokenizer/vocab mismatch)`,
    );
  }
}

/** The model bytes, freshly read (only needed to build an edited graph). */
export function readModelBytes(files: ModelFiles): Uint8Array {
  return readFileSync(path.join(files.dir, files.config.onnx.file));
}
