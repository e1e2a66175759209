import { Embeddings } from "@langchain/core/embeddings";
import { resolveModelDir } from "../../src/defaults.ts";
import { isTaskName, UnknownTaskError } from "../../src/instructions/index.ts";
import type { Embedder, QueryOptions } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/index.ts";

export interface LanceE5EmbeddingsOptions {
  /** Model directory; else LANCE_E5_MODEL, else the shipped default (as `--model` everywhere else). */
  model?: string;
  /** An embedder this program already has (any backend); it wins over `model` and is not disposed by us. */
  embedder?: Embedder;
  /** Query task name (src/instructions, e.g. `web_search`); default: the model's default task. */
  task?: string;
  /** A free one-sentence task definition instead of a task name. */
  instruction?: string;
  /** ONNX Runtime threads (default: LANCE_E5_THREADS, else all CPUs). */
  threads?: number;
}

/**
 * LangChain's `Embeddings` over lance-e5's Embedder: `embedQuery` puts the task instruction in front of the query
 * (the e5 recipe), `embedDocuments` embeds documents as they are, so one document index serves every task.
 * The model loads on first use; vectors are L2-normalised.
 */
export class LanceE5Embeddings extends Embeddings {
  readonly task: string | undefined;
  readonly instruction: string | undefined;
  private readonly options: LanceE5EmbeddingsOptions;
  private loading: Promise<Embedder> | undefined;

  constructor(options: LanceE5EmbeddingsOptions = {}) {
    super({});
    if (options.task !== undefined && options.instruction !== undefined) {
      throw new TypeError("LanceE5Embeddings: give a task or an instruction, not both");
    }
    if (options.task !== undefined && !isTaskName(options.task)) throw new UnknownTaskError(options.task);
    if (options.instruction !== undefined && options.instruction.trim() === "") {
      throw new TypeError("LanceE5Embeddings: instruction must not be empty");
    }
    this.options = options;
    this.task = options.task;
    this.instruction = options.instruction;
    if (options.embedder) this.loading = Promise.resolve(options.embedder);
  }

  /** The underlying lance-e5 embedder (loaded on first call; a failed load is retried on the next). */
  embedder(): Promise<Embedder> {
    if (!this.loading) {
      const load = loadEmbedder(resolveModelDir(this.options.model), { threads: this.options.threads });
      load.catch(() => {
        if (this.loading === load) this.loading = undefined;
      });
      this.loading = load;
    }
    return this.loading;
  }

  /** The instruction options queries are embedded with: the free instruction, else the task (or the model's). */
  async queryOptions(): Promise<QueryOptions> {
    if (this.instruction !== undefined) return { instruction: this.instruction };
    return { task: this.task ?? (await this.embedder()).config.default_task };
  }

  override async embedQuery(query: string): Promise<number[]> {
    const embedder = await this.embedder();
    const [vector] = await embedder.embedQueries([query], await this.queryOptions());
    return Array.from(vector!);
  }

  override async embedDocuments(documents: string[]): Promise<number[][]> {
    if (documents.length === 0) return [];
    const vectors = await (await this.embedder()).embedDocuments(documents);
    return vectors.map((v) => Array.from(v));
  }

  /** Frees the ONNX session of a model this object loaded (an embedder handed in stays the caller's). */
  async dispose(): Promise<void> {
    if (this.options.embedder || !this.loading) return;
    const loading = this.loading;
    this.loading = undefined;
    await (await loading.catch(() => undefined))?.dispose();
  }
}
