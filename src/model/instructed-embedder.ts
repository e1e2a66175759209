import { formatQuery, resolveInstruction } from "../instructions/index.ts";
import type { ModelDescription } from "./config.ts";
import type { EmbedOptions, QueryOptions } from "./embedder.ts";
import { InvalidInputError } from "./errors.ts";
import { validateText } from "./tokenize.ts";

/** Throws the runtime's typed error when a caller passes something other than an array (JS callers, JSON). */
export function checkArray(texts: unknown): asserts texts is unknown[] {
  if (!Array.isArray(texts)) throw new InvalidInputError(0, "expected an array of strings");
}

/**
 * What every backend does the same way, so local and remote vectors can never differ in formatting: queries get
 * the instruction template, documents and raw texts go as they are, every input is validated first. A backend
 * only says how already-formatted texts become vectors.
 */
export abstract class InstructedEmbedder {
  abstract readonly config: ModelDescription;

  protected abstract embedFormatted(texts: string[], options: EmbedOptions): Promise<Float32Array[]>;

  async embedQueries(texts: string[], options: QueryOptions = {}): Promise<Float32Array[]> {
    checkArray(texts);
    const instruction = resolveInstruction(options, this.config.default_task);
    texts.forEach(validateText);
    return this.embedFormatted(
      texts.map((q) => formatQuery(this.config.instruction_template, instruction, q)),
      options,
    );
  }

  async embedDocuments(texts: string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    return this.embedRaw(texts, options);
  }

  async embedRaw(texts: string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    checkArray(texts);
    texts.forEach(validateText);
    return this.embedFormatted(texts, options);
  }

  formatQuery(query: string, options: { task?: string; instruction?: string } = {}): string {
    return formatQuery(this.config.instruction_template, resolveInstruction(options, this.config.default_task), query);
  }
}
