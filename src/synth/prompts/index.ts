import { readFileSync } from "node:fs";
import type { LlmFamily } from "../placeholders.ts";

/** Prompt texts live beside this module as data files (see README.md here); read once per process. */
const cache = new Map<string, string>();

function readPrompt(file: string): string {
  let text = cache.get(file);
  if (text === undefined) {
    text = readFileSync(new URL(file, import.meta.url), "utf8").trimEnd();
    cache.set(file, text);
  }
  return text;
}

/** Step 1 of an asymmetric family: ask for ~20 task definitions as a JSON array of strings. */
export function brainstormPrompt(family: LlmFamily): string {
  return readPrompt(`brainstorm-${family}.txt`);
}

/** Step 2 (or the only step for sts/bitext): one example as a JSON object; contains `{slot}`s to fill. */
export function examplePromptTemplate(family: LlmFamily): string {
  return readPrompt(`example-${family}.txt`);
}

/** Corpus-grounded mode: a task definition and a query that one stored passage answers; slot {document}. */
export function corpusQueryPromptTemplate(): string {
  return readPrompt("corpus-query.txt");
}
