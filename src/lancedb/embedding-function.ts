import { getRegistry, TextEmbeddingFunction } from "@lancedb/lancedb/embedding";
import { resolveModelDir } from "../defaults.ts";
import type { ModelIdentity } from "../model/config.ts";
import type { Embedder } from "../model/embedder.ts";
import { loadEmbedder } from "../model/index.ts";
import { ModelMismatchError } from "./errors.ts";
import { sameModel } from "./identity.ts";
import { EMBEDDING_FUNCTION_NAME } from "./schema.ts";

/**
 * Options LanceDB stores in a table's schema for this function: the model's identity and the query task —
 * never a path. The model itself is resolved like everywhere else (LANCE_E5_MODEL, else the shipped default),
 * or taken from an embedder this process already loaded with the same identity (useEmbedder).
 */
export interface LanceE5FunctionOptions {
  model_name?: string;
  model_hash?: string;
  dim?: number;
  /** Task name (src/instructions) for queries; documents never get an instruction. */
  task?: string;
  /** A free one-sentence task definition instead of a task name. */
  instruction?: string;
}

// LanceDB constructs a new function object and calls init() on every add, mergeInsert and text search
// (ENVIRONMENT.md), so loaded embedders live here, at module level: by identity hash, and by resolved path.
const embeddersByHash = new Map<string, Embedder>();
const loadsByDir = new Map<string, Promise<Embedder>>();

/** Lets in-process callers (ingest, search, tests) hand over an embedder they already loaded. */
export function useEmbedder(embedder: Embedder): void {
  embeddersByHash.set(embedder.identity.hash, embedder);
}

function loadResolved(): Promise<Embedder> {
  const dir = resolveModelDir();
  let load = loadsByDir.get(dir);
  if (!load) {
    load = loadEmbedder(dir);
    loadsByDir.set(dir, load);
    load.catch(() => loadsByDir.delete(dir));
  }
  return load;
}

/** The embedder for a stored identity: one handed over with useEmbedder, else the resolved model (checked). */
export async function embedderForIdentity(identity: Partial<ModelIdentity>, table = "(plugin)"): Promise<Embedder> {
  if (identity.hash) {
    const known = embeddersByHash.get(identity.hash);
    if (known) return known;
  }
  const embedder = await loadResolved();
  if (identity.hash && identity.dim !== undefined) {
    const wanted = { name: identity.name ?? "?", hash: identity.hash, dim: identity.dim };
    if (!sameModel(wanted, embedder.identity)) throw new ModelMismatchError(table, wanted, embedder.identity);
  }
  embeddersByHash.set(embedder.identity.hash, embedder);
  return embedder;
}

/** The `lance-e5` embedding function of LanceDB's registry. */
export class LanceE5EmbeddingFunction extends TextEmbeddingFunction<LanceE5FunctionOptions> {
  private readonly options: LanceE5FunctionOptions;

  constructor(options: LanceE5FunctionOptions = {}) {
    super();
    if ("model" in (options as object) || "model_dir" in (options as object)) {
      throw new Error("lance-e5 embedding function: pass the model via LANCE_E5_MODEL, not a path in the options");
    }
    this.options = this.resolveVariables(options);
  }

  override ndims(): number | undefined {
    return this.options.dim;
  }

  private embedder(): Promise<Embedder> {
    return embedderForIdentity({ name: this.options.model_name, hash: this.options.model_hash, dim: this.options.dim });
  }

  /** Documents: no instruction (e5 recipe). */
  override async generateEmbeddings(texts: string[]): Promise<Float32Array[]> {
    return (await this.embedder()).embedDocuments(texts);
  }

  /** Queries: the instruction of the stored task (or free instruction), else the model's default task. */
  override async computeQueryEmbeddings(text: string): Promise<Float32Array> {
    const { task, instruction } = this.options;
    const options = instruction !== undefined ? { instruction } : task !== undefined ? { task } : {};
    const [vector] = await (await this.embedder()).embedQueries([text], options);
    return vector!;
  }
}

/** Registers the function once per process (the registry throws on a second registration of a name). */
export function registerLanceE5Function(): void {
  const registry = getRegistry();
  if (!registry.get(EMBEDDING_FUNCTION_NAME)) registry.register(EMBEDDING_FUNCTION_NAME)(LanceE5EmbeddingFunction);
}

registerLanceE5Function();
