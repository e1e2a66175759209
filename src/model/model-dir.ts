import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ModelConfig, RemoteModelConfig } from "./config.ts";
import { ModelDirectoryError } from "./errors.ts";

/** File names inside a model directory (ARCHITECTURE.md "The model directory"). */
export const CONFIG_FILE = "lance-e5.json";
export const TOKENIZER_FILE = "tokenizer.json";
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
/** The Hugging Face checkpoint config, when the exporter copied it (used only for the vocab-size cross-check). */
export const HF_CONFIG_FILE = "config.json";

const SCHEMA_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../schemas/lance-e5.schema.json");

let validateConfig: ReturnType<Ajv2020["compile"]> | undefined;

function configValidator(): ReturnType<Ajv2020["compile"]> {
  if (validateConfig === undefined) {
    const schema = JSON.parse(readFileSync(SCHEMA_PATH, "utf8")) as object;
    validateConfig = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  }
  return validateConfig;
}

/** Reads a file of the model directory, turning "missing"/"unreadable" into a ModelDirectoryError naming it. */
export function readModelFile(modelDir: string, file: string): Buffer {
  try {
    return readFileSync(path.join(modelDir, file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === "ENOENT" ? `${file} is missing` : `${file} cannot be read (${code ?? String(error)})`;
    throw new ModelDirectoryError(modelDir, problem, { cause: error });
  }
}

/** Parses a JSON file of the model directory; corrupt JSON is a ModelDirectoryError naming the file. */
export function readModelJson(modelDir: string, file: string): unknown {
  const bytes = readModelFile(modelDir, file);
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new ModelDirectoryError(modelDir, `${file} is not valid JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
}

/** Optional JSON file: undefined when absent, an error when present but corrupt. */
export function readOptionalModelJson(modelDir: string, file: string): unknown {
  return existsSync(path.join(modelDir, file)) ? readModelJson(modelDir, file) : undefined;
}

/** True for a lance-e5.json with `"backend": {"type": "remote"}` (a model served elsewhere, no ONNX files). */
export function isRemoteConfig(config: ModelConfig | RemoteModelConfig): config is RemoteModelConfig {
  return config.backend?.type === "remote";
}

/**
 * Reads and validates lance-e5.json of either kind: a local ONNX model directory or a remote descriptor
 * (`backend.type` remote). Backends that accept both (the remote embedder) call this; the ONNX runtime calls
 * readModelConfig.
 */
export function readModelDescriptor(modelDir: string): ModelConfig | RemoteModelConfig {
  const raw = readModelJson(modelDir, CONFIG_FILE);
  const validate = configValidator();
  if (!validate(raw)) {
    const details = (validate.errors ?? [])
      .filter((e) => e.keyword !== "if") // "must match else schema" only repeats the missing-property errors
      .map((e) => `${e.instancePath || "/"} ${e.message ?? "is invalid"}`)
      .join("; ");
    throw new ModelDirectoryError(modelDir, `${CONFIG_FILE} does not match the schema: ${details}`);
  }
  const config = raw as ModelConfig | RemoteModelConfig;
  if (isRemoteConfig(config)) {
    const problems: string[] = [];
    if ("onnx" in config) problems.push("a remote descriptor (backend.type remote) must not have an onnx block");
    checkSharedFields(config, problems);
    if (problems.length > 0) throw new ModelDirectoryError(modelDir, `${CONFIG_FILE}: ${problems.join("; ")}`);
  }
  return config;
}

function checkSharedFields(config: ModelConfig | RemoteModelConfig, problems: string[]): void {
  for (const dims of config.matryoshka_dims ?? []) {
    if (dims > config.output_dim)
      problems.push(`matryoshka_dims entry ${dims} exceeds output_dim ${config.output_dim}`);
  }
  if (config.long_context && config.long_context.max_length < config.max_length) {
    problems.push("long_context.max_length is shorter than max_length");
  }
}

/**
 * Reads and validates lance-e5.json against schemas/lance-e5.schema.json, then checks the cross-field rules a
 * JSON Schema cannot express. A remote descriptor is refused here: it has no ONNX files to run.
 */
export function readModelConfig(modelDir: string): ModelConfig {
  const config = readModelDescriptor(modelDir);
  if (isRemoteConfig(config)) {
    throw new ModelDirectoryError(
      modelDir,
      `${CONFIG_FILE} describes a remote model (backend.type remote) with no ONNX files; embed through it with --embedder-url URL`,
    );
  }
  const problems: string[] = [];
  if (config.output_dim > config.hidden_size) problems.push("output_dim is larger than hidden_size");
  if (config.rope.dim % 2 !== 0) problems.push("rope.dim must be even");
  checkSharedFields(config, problems);
  if (problems.length > 0) throw new ModelDirectoryError(modelDir, `${CONFIG_FILE}: ${problems.join("; ")}`);
  return config;
}
