import type { Embedder } from "../../model/embedder.ts";
import { type EmbedderCliOptions, loadEmbedderFromOptions } from "../embedder-options.ts";
import { CliError } from "../errors.ts";

/** Exit code for bad command-line usage (missing or conflicting flags), distinct from runtime failures. */
export const USAGE_EXIT_CODE = 2;

export function usageError(message: string): CliError {
  return new CliError(message, USAGE_EXIT_CODE);
}

/**
 * Loads the model named by --model / LANCE_E5_MODEL / the shipped default, or the remote one of --embedder-url,
 * for the eval-family commands.
 */
export async function loadEvalEmbedder(options: EmbedderCliOptions): Promise<Embedder> {
  return loadEmbedderFromOptions(options);
}

/** Writes the `--json` object as one line, or a short human summary. */
export function printResult(json: boolean, result: object, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${human}\n`);
}

export const fixed = (value: number) => value.toFixed(4);
