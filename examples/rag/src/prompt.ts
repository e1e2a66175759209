import type { Passage } from "./retrieve.ts";

export interface ChatMessage {
  role: "system" | "user";
  content: string;
}

const SYSTEM_PROMPT = [
  "You answer questions using only the numbered passages the user gives you.",
  "Cite the passage behind every statement with its number in square brackets, e.g. [1] or [2][3].",
  "If the passages do not contain the answer, say so plainly instead of guessing.",
  "Be concise.",
].join(" ");

/** The grounded prompt: the rules in the system message, the numbered passages and the question in the user's. */
export function buildGroundedMessages(question: string, passages: readonly Passage[]): ChatMessage[] {
  const context = passages
    .map((p) => {
      const where = [p.source, p.title].filter(Boolean).join(" — ");
      return `[${p.n}] (${where || "unknown source"})\n${p.text.trim()}`;
    })
    .join("\n\n");
  return [
    { role: "system", content: SYSTEM_PROMPT },
    { role: "user", content: `Passages:\n\n${context}\n\nQuestion: ${question.trim()}` },
  ];
}

/**
 * The citation numbers an answer uses, in order of first use, split into those that name a retrieved passage and
 * those that do not (a model citing [7] of 5 passages is worth showing, not hiding).
 */
export function citationsOf(answer: string, passageCount: number): { cited: number[]; unknown: number[] } {
  const cited: number[] = [];
  const unknown: number[] = [];
  // "[2]", "[2, 3]" and "[2][3]" all count.
  for (const group of answer.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    for (const part of group[1]!.split(",")) {
      const n = Number(part.trim());
      const list = n >= 1 && n <= passageCount ? cited : unknown;
      if (!list.includes(n)) list.push(n);
    }
  }
  return { cited, unknown };
}
