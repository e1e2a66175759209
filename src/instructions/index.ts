/**
 * Task name → one-sentence task definition, from the instructions the released e5-mistral-7b-instruct was
 * evaluated with (microsoft/unilm e5, restated in shared REFERENCE.md §4). Queries get
 * `Instruct: {task}\nQuery: {query}`; documents get no instruction.
 */
export const TASK_INSTRUCTIONS = {
  web_search: "Given a web search query, retrieve relevant passages that answer the query",
  question: "Given a question, retrieve Wikipedia passages that answer the question",
  multi_hop: "Given a multi-hop question, retrieve documents that can help answer the question",
  claim: "Given a claim, retrieve documents that support or refute the claim",
  scientific_claim: "Given a scientific claim, retrieve documents that support or refute the claim",
  financial_question: "Given a financial question, retrieve user replies that best answer the question",
  counter_argument: "Given a claim, find documents that refute the claim",
  duplicate_question: "Given a question, retrieve questions that are semantically equivalent to the given question",
  relevant_documents: "Given a question, retrieve relevant documents that best answer the question",
  cited_abstracts: "Given a scientific paper title, retrieve paper abstracts that are cited by the given paper",
  covid: "Given a query on COVID-19, retrieve documents that answer the query",
  argument: "Given a question, retrieve detailed and persuasive arguments that answer the question",
  entity: "Given a query, retrieve relevant entity descriptions from DBPedia",
  climate_claim: "Given a claim about climate change, retrieve documents that support or refute the claim",
  stackexchange_duplicate:
    "Given a question, retrieve detailed question descriptions from Stackexchange that are duplicates to the given question",
  sts: "Retrieve semantically similar text.",
  bitext: "Retrieve parallel sentences.",
  summarization: "Given a news summary, retrieve other semantically similar summaries",
  /** The personalised passkey test (REFERENCE.md §5); our wording, not a paper table entry. */
  passkey: "Given a question about a person, retrieve the document that contains the answer",
} as const satisfies Record<string, string>;

export type TaskName = keyof typeof TASK_INSTRUCTIONS;

/** Tasks whose evaluation puts the instruction on both sides (symmetric: STS, bitext). */
export const SYMMETRIC_TASKS: ReadonlySet<string> = new Set(["sts", "bitext", "summarization"]);

export class UnknownTaskError extends Error {
  constructor(readonly task: string) {
    super(`unknown task "${task}"; known tasks: ${Object.keys(TASK_INSTRUCTIONS).join(", ")}`);
    this.name = "UnknownTaskError";
  }
}

export function isTaskName(name: string): name is TaskName {
  return Object.hasOwn(TASK_INSTRUCTIONS, name);
}

/** The task definition for a task name or a free instruction (exactly one should be given; instruction wins). */
export function resolveInstruction(options: { task?: string; instruction?: string }, defaultTask: string): string {
  if (options.instruction !== undefined) {
    const text = options.instruction.trim();
    if (text === "") throw new Error("instruction must not be empty");
    return text;
  }
  const task = options.task ?? defaultTask;
  if (!isTaskName(task)) throw new UnknownTaskError(task);
  return TASK_INSTRUCTIONS[task];
}

/**
 * Fills the model's instruction template. e5-mistral: "Instruct: {task}\nQuery: {query}";
 * Qwen3-Embedding: "Instruct: {task}\nQuery:{query}" (no space). The template comes from lance-e5.json.
 */
export function formatQuery(template: string, instruction: string, query: string): string {
  // Replace via a function so `$` sequences in user text are not interpreted.
  return template.replace("{task}", () => instruction).replace("{query}", () => query);
}
