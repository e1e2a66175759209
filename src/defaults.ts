import path from "node:path";
import { fileURLToPath } from "node:url";

/** Defaults shared by the CLI, the server and the plugins (README "Common flags"). */
export const DEFAULT_DB = "./data/lancedb";
export const DEFAULT_TABLE = "docs";

/** The shipped default model directory, resolved relative to this package (not the working directory). */
export const SHIPPED_MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../models/default");

/** `--model DIR`, else `LANCE_E5_MODEL`, else the shipped default. */
export function resolveModelDir(flag?: string): string {
  return path.resolve(flag ?? process.env.LANCE_E5_MODEL ?? SHIPPED_MODEL_DIR);
}
