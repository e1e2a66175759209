import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import { createInterface } from "node:readline";
import { EvalInputError } from "./errors.ts";

/** One parsed JSONL record with the 1-based line it came from (for error messages). */
export interface JsonlRecord {
  line: number;
  value: Record<string, unknown>;
}

export async function assertReadable(file: string): Promise<void> {
  try {
    await access(file);
  } catch {
    throw new EvalInputError(file, null, "file not found");
  }
}

/** Lines of a text file with their 1-based numbers; a trailing "\r" (CRLF files) is removed. */
export async function* readLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  await assertReadable(file);
  const lines = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let line = 0;
  for await (const raw of lines) {
    line += 1;
    yield { line, text: raw.endsWith("\r") ? raw.slice(0, -1) : raw };
  }
}

/** Parses every non-blank line as a JSON object; anything else is an error naming the line. */
export async function* readJsonl(file: string): AsyncGenerator<JsonlRecord> {
  for await (const { line, text } of readLines(file)) {
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new EvalInputError(file, line, `invalid JSON (${reason})`);
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new EvalInputError(file, line, "expected a JSON object");
    }
    yield { line, value: value as Record<string, unknown> };
  }
}

/** A required string field (numbers are accepted for ids, as some BEIR exports write them unquoted). */
export function requireString(
  record: JsonlRecord,
  file: string,
  key: string,
  options: { allowNumber?: boolean; allowEmpty?: boolean } = {},
): string {
  const value = record.value[key];
  if (typeof value === "number" && options.allowNumber && Number.isFinite(value)) return String(value);
  if (typeof value !== "string") {
    const found = value === undefined ? "missing" : `a ${value === null ? "null" : typeof value}`;
    throw new EvalInputError(file, record.line, `field "${key}" must be a string (it is ${found})`);
  }
  if (!options.allowEmpty && value.trim() === "") {
    throw new EvalInputError(file, record.line, `field "${key}" is empty`);
  }
  return value;
}
