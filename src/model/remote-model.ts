import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { isTaskName, UnknownTaskError } from "../instructions/index.ts";
import type { ModelDescription, ModelIdentity, RemoteModelConfig } from "./config.ts";
import { EmbedOptionsError, ModelDirectoryError } from "./errors.ts";
import { identityAtRopeBase } from "./identity.ts";
import { CONFIG_FILE, isRemoteConfig, readModelDescriptor, TOKENIZER_FILE } from "./model-dir.ts";
import { loadModelFiles } from "./model-files.ts";
import { ModelTokenizer } from "./tokenize.ts";

/** e5-mistral's query format (REFERENCE.md §1), the default when flags describe the remote model. */
export const E5_INSTRUCTION_TEMPLATE = "Instruct: {task}\nQuery: {query}";
/** The length e5-mistral was trained and evaluated at (REFERENCE.md §1). */
export const DEFAULT_REMOTE_MAX_LENGTH = 512;
export const DEFAULT_REMOTE_TASK = "web_search";

/** Where the description of a remotely served model comes from. */
export type RemoteModelSource =
  /** A model directory: a full local ONNX model (the remote serves exactly it) or a remote descriptor. */
  | { kind: "directory"; dir: string }
  /** Flags alone (--embedder-dim, --embedder-template, …): no files at all. */
  | { kind: "flags"; outputDim: number; instructionTemplate?: string; defaultTask?: string; maxLength?: number };

/** Everything the remote embedder needs to know about the model, resolved once at load. */
export interface ResolvedRemoteModel {
  config: ModelDescription;
  identity: ModelIdentity;
  /**
   * True when the identity is vouched for (a full model directory's content hash, or a pinned identity_hash);
   * false when it is only derived from names, so a server that states its own identity may replace it.
   */
  identityVouched: boolean;
  /** The name sent as `model` in requests. */
  requestModel: string;
  maxLength: number;
  /** The model's own tokenizer when the directory has one; otherwise counts are approximate. */
  tokenizer?: ModelTokenizer;
}

/**
 * Identity of a model known only by its remote name: a hash of what determines its vectors as far as the client
 * can tell — the served model's name, the instruction template and the dimension. Independent of the URL (moving
 * the GPU cluster does not orphan tables) and of the descriptor's display name (as for local models).
 */
export function remoteModelIdentity(
  name: string,
  requestModel: string,
  instructionTemplate: string,
  outputDim: number,
): ModelIdentity {
  const hash = createHash("sha256")
    .update("lance-e5 remote model\0")
    .update(JSON.stringify({ instruction_template: instructionTemplate, model: requestModel, output_dim: outputDim }))
    .digest("hex");
  return { name, hash, dim: outputDim };
}

function checkTemplate(template: string, where: string): void {
  if (!/\{task\}[\s\S]*\{query\}/.test(template)) {
    throw new EmbedOptionsError(`${where} must contain {task} then {query}, got ${JSON.stringify(template)}`);
  }
}

function checkTask(task: string): void {
  if (!isTaskName(task)) throw new EmbedOptionsError(new UnknownTaskError(task).message);
}

/**
 * Resolves the model description of a remote embedder:
 * - a full ONNX model directory: its own identity (tables built locally and remotely are interchangeable, the
 *   remote is trusted to serve exactly that model), tokenizer and limits; `--long-context` as locally;
 * - a remote descriptor (lance-e5.json with backend.type remote): its fields, tokenizer.json if present, and the
 *   pinned `identity_hash` or the remote identity;
 * - flags: the remote identity, approximate token counts.
 */
export async function resolveRemoteModel(
  source: RemoteModelSource,
  options: { model?: string; longContext?: boolean },
): Promise<ResolvedRemoteModel> {
  if (source.kind === "flags") {
    if (options.longContext) throw new EmbedOptionsError("--long-context needs a model directory with long_context");
    if (options.model === undefined) {
      throw new EmbedOptionsError("--embedder-model is required when flags (--embedder-dim) describe the model");
    }
    const template = source.instructionTemplate ?? E5_INSTRUCTION_TEMPLATE;
    checkTemplate(template, "--embedder-template");
    const defaultTask = source.defaultTask ?? DEFAULT_REMOTE_TASK;
    checkTask(defaultTask);
    const maxLength = source.maxLength ?? DEFAULT_REMOTE_MAX_LENGTH;
    const config: RemoteModelConfig = {
      format_version: 1,
      name: options.model,
      output_dim: source.outputDim,
      max_length: maxLength,
      instruction_template: template,
      default_task: defaultTask,
      backend: { type: "remote", model: options.model },
    };
    return {
      config,
      identity: remoteModelIdentity(options.model, options.model, template, source.outputDim),
      identityVouched: false,
      requestModel: options.model,
      maxLength,
    };
  }

  const dir = path.resolve(source.dir);
  const descriptor = readModelDescriptor(dir);
  if (!isRemoteConfig(descriptor)) {
    const files = await loadModelFiles(dir);
    const longContext = options.longContext ? descriptor.long_context : undefined;
    if (options.longContext && !longContext) {
      throw new EmbedOptionsError(`model "${descriptor.name}" has no long_context block in ${CONFIG_FILE}`);
    }
    return {
      config: descriptor,
      identity: longContext
        ? identityAtRopeBase(files.identity, descriptor.rope.base, longContext.rope_base)
        : files.identity,
      identityVouched: true,
      requestModel: options.model ?? descriptor.name,
      maxLength: longContext?.max_length ?? descriptor.max_length,
      tokenizer: files.tokenizer,
    };
  }

  if (options.longContext) {
    throw new EmbedOptionsError(
      `--long-context applies to ONNX model directories; in a remote descriptor set max_length to what the server accepts`,
    );
  }
  checkTask(descriptor.default_task);
  let tokenizer: ModelTokenizer | undefined;
  if (existsSync(path.join(dir, TOKENIZER_FILE))) {
    if (descriptor.tokens === undefined) {
      throw new ModelDirectoryError(dir, `${CONFIG_FILE} needs a tokens block (eos_id) to use ${TOKENIZER_FILE}`);
    }
    tokenizer = ModelTokenizer.load(dir, descriptor.tokens);
  }
  const requestModel = options.model ?? descriptor.backend.model ?? descriptor.name;
  const computed = remoteModelIdentity(
    descriptor.name,
    requestModel,
    descriptor.instruction_template,
    descriptor.output_dim,
  );
  const pinned = descriptor.backend.identity_hash;
  return {
    config: descriptor,
    identity: pinned === undefined ? computed : { ...computed, hash: pinned },
    identityVouched: pinned !== undefined,
    requestModel,
    maxLength: descriptor.max_length,
    tokenizer,
  };
}
