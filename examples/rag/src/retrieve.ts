import { type Embedder, type SearchMode, type SearchTarget, search, TASK_INSTRUCTIONS, type TaskName } from "lance-e5";

/** One retrieved chunk, numbered for citation: `[n]` in an answer points at the passage with this `n`. */
export interface Passage {
  /** 1-based citation number, in rank order. */
  n: number;
  id: string | null;
  /** The file the chunk came from, relative to the corpus folder. */
  source: string | null;
  title: string | null;
  text: string;
  /** The search mode's score: cosine (vector), BM25 (fulltext) or reciprocal-rank fusion (hybrid). */
  score: number;
}

export interface RetrieveRequest {
  question: string;
  task: TaskName;
  mode: SearchMode;
  k: number;
}

/**
 * Retrieves with lance-e5's query path: the question is embedded as `Instruct: {task}\nQuery: {question}`
 * (documents were embedded without one), and hybrid mode fuses that with BM25 full-text search.
 */
export async function retrievePassages(
  target: SearchTarget,
  embedder: Embedder,
  request: RetrieveRequest,
): Promise<{ passages: Passage[]; instruction: string; tookMs: number }> {
  const response = await search({
    target,
    embedder,
    query: request.question,
    task: request.task,
    mode: request.mode,
    k: request.k,
  });
  const passages = response.results.map((r, i) => ({
    n: i + 1,
    id: r.id,
    source: r.source ?? r.doc_id,
    title: r.title,
    text: r.text,
    score: r.score,
  }));
  return { passages, instruction: TASK_INSTRUCTIONS[request.task], tookMs: response.took_ms };
}
