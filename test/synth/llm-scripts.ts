import type { LlmFamily } from "../../src/synth/placeholders.ts";
import { type FakeReply, type RecordedChatRequest, userMessage } from "../helpers/fake-openai.ts";

/**
 * Scripted LLM behaviour shared by the synth tests: recognises which prompt the generator sent (by the JSON
 * keys it asks for) and answers with a valid, unique example for it. Uniqueness comes from the request index,
 * so a run never meets an accidental duplicate unless a test scripts one.
 */

export function isBrainstorm(prompt: string): boolean {
  return prompt.includes("JSON array of about 20 strings");
}

export function familyOfPrompt(prompt: string): LlmFamily {
  if (prompt.includes('"user_query"')) return "short-long";
  if (prompt.includes('"input_text"')) return "long-short";
  if (prompt.includes("{src_language}") || prompt.includes("translating S1")) return "bitext";
  if (prompt.includes('"S1"')) return "sts";
  if (prompt.includes("long query document")) return "long-long";
  if (prompt.includes('"input"')) return "short-short";
  throw new Error(`unrecognised prompt: ${prompt.slice(0, 120)}`);
}

export function brainstormFamily(prompt: string): string {
  if (prompt.includes("text retrieval tasks")) return "retrieval";
  if (prompt.includes("classification tasks")) return "classification";
  if (prompt.includes("very short")) return "short matching";
  return "long matching";
}

export function taskList(kind: string, count = 20): string[] {
  return Array.from({ length: count }, (_, i) => `Given a ${kind} query number ${i}, retrieve the matching text.`);
}

/** A valid example object for a family, made unique by `tag`. */
export function validExample(family: LlmFamily, tag: string | number): Record<string, string> {
  switch (family) {
    case "short-long":
      return {
        user_query: `how do tides work ${tag}`,
        positive_document: `Tides are caused by the Moon's gravity acting on the oceans (doc ${tag}).`,
        hard_negative_document: `Waves are driven by wind blowing across the sea surface (doc ${tag}).`,
      };
    case "long-short":
      return {
        input_text: `The service was slow but the food was excellent ${tag}.`,
        label: "mixed",
        misleading_label: "positive",
      };
    case "short-short":
      return { input: `capital of France ${tag}`, positive_document: `Paris is the answer number ${tag}.` };
    case "long-long":
      return {
        input: `A long essay about bridges, part ${tag}.`,
        positive_document: `Another long essay on suspension spans ${tag}.`,
      };
    case "sts":
      return {
        S1: `The cat sat on the mat ${tag}.`,
        S2: `A cat was sitting on the rug ${tag}.`,
        S3: `Dogs bark at night ${tag}.`,
      };
    case "bitext":
      return { S1: `Good morning ${tag}.`, S2: `Guten Morgen ${tag}.`, S3: `Gute Nacht ${tag}.` };
  }
}

/** Answers every request with a valid brainstorm list or a unique valid example. */
export function validResponder(request: RecordedChatRequest): FakeReply {
  const prompt = userMessage(request);
  if (isBrainstorm(prompt)) return { content: JSON.stringify(taskList(brainstormFamily(prompt))) };
  return { content: JSON.stringify(validExample(familyOfPrompt(prompt), `r${request.index}`)) };
}
