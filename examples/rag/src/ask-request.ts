import { isTaskName, SEARCH_MODES, type SearchMode, type TaskName, UnknownTaskError } from "lance-e5";
import { MAX_PASSAGES } from "./options.ts";

/** The body of `POST /api/ask`, checked. */
export interface AskRequest {
  question: string;
  task: TaskName;
  mode: SearchMode;
  k: number;
}

/** A request the app cannot answer as given; becomes a 400 naming the field. */
export class AskRequestError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = "AskRequestError";
  }
}

/** Longer than any question; keeps one request from filling the prompt and the query embedder. */
export const MAX_QUESTION_CHARS = 2000;
const FIELDS = new Set(["question", "task", "mode", "k"]);

export function parseAskRequest(body: unknown, defaults: { task: string; mode: string; k: number }): AskRequest {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new AskRequestError("body", 'must be a JSON object like {"question": "…"}');
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!FIELDS.has(key)) throw new AskRequestError(key, `unknown field; fields: ${[...FIELDS].join(", ")}`);
  }
  const { question, task = defaults.task, mode = defaults.mode, k = defaults.k } = fields;
  if (typeof question !== "string" || question.trim() === "") {
    throw new AskRequestError("question", "must be a non-empty string");
  }
  if (question.length > MAX_QUESTION_CHARS) {
    throw new AskRequestError("question", `must be at most ${MAX_QUESTION_CHARS} characters`);
  }
  if (typeof task !== "string") throw new AskRequestError("task", "must be a task name");
  // lance-e5's own message lists every known task.
  if (!isTaskName(task)) throw new AskRequestError("task", new UnknownTaskError(task).message);
  if (typeof mode !== "string" || !(SEARCH_MODES as readonly string[]).includes(mode)) {
    throw new AskRequestError("mode", `unknown mode ${JSON.stringify(mode)}; modes: ${SEARCH_MODES.join(", ")}`);
  }
  if (typeof k !== "number" || !Number.isInteger(k) || k < 1 || k > MAX_PASSAGES) {
    throw new AskRequestError("k", `must be an integer from 1 to ${MAX_PASSAGES}`);
  }
  return { question: question.trim(), task, mode: mode as SearchMode, k };
}
