import { mkdirSync } from "node:fs";
import path from "node:path";
import { DedupIndex, type SynthExample, schemaErrors } from "../validate.ts";
import { CorruptJsonlError, JsonlAppender, readJsonl, truncatePartialLastLine } from "./jsonl-file.ts";

/**
 * The output file as checkpoint (shared by the LLM generators): cut a torn last line, read every example
 * back — each must validate, else CorruptJsonlError and nothing is appended — rebuild the dedup index, and
 * find the next attempt number from `meta.attempt`.
 */
export interface ResumedOutput {
  dedup: DedupIndex;
  /** Examples found, in file order. Kept small: only the fields counting needs. */
  existing: Array<Pick<SynthExample, "task_family" | "language" | "source" | "meta">>;
  nextAttempt: number;
  truncatedBytes: number;
  appender: JsonlAppender;
}

export async function resumeOutput(out: string): Promise<ResumedOutput> {
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const truncatedBytes = truncatePartialLastLine(out);
  const dedup = new DedupIndex();
  const existing: ResumedOutput["existing"] = [];
  let nextAttempt = 0;
  for await (const { line, value } of readJsonl(out)) {
    const errors = schemaErrors(value);
    if (errors) throw new CorruptJsonlError(out, line, `not a synthetic example (${errors})`);
    const example = value as SynthExample;
    dedup.check(example);
    const attempt = example.meta?.attempt;
    if (typeof attempt === "number" && attempt >= nextAttempt) nextAttempt = attempt + 1;
    existing.push({
      task_family: example.task_family,
      language: example.language,
      source: example.source,
      meta: example.meta,
    });
  }
  return { dedup, existing, nextAttempt, truncatedBytes, appender: new JsonlAppender(out) };
}
