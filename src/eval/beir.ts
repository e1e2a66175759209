import path from "node:path";
import { EvalInputError } from "./errors.ts";
import { assertReadable, readJsonl, readLines, requireString } from "./jsonl.ts";
import type { Qrels } from "./metrics.ts";

/**
 * The standard BEIR directory layout (github.com/beir-cellar/beir):
 *   corpus.jsonl     {"_id", "title", "text"}  (title optional)
 *   queries.jsonl    {"_id", "text"}
 *   qrels/<split>.tsv  query-id <TAB> corpus-id <TAB> score, with a header line
 */
export interface BeirDocument {
  id: string;
  title: string;
  text: string;
}

export interface BeirQuery {
  id: string;
  text: string;
}

export interface BeirDataset {
  dir: string;
  corpus: BeirDocument[];
  queries: BeirQuery[];
  qrels: Qrels;
}

export interface LoadBeirOptions {
  /** Which qrels file: qrels/<split>.tsv (default "test"). */
  split?: string;
}

export const QRELS_HEADER = ["query-id", "corpus-id", "score"] as const;

export async function loadBeirDataset(dir: string, options: LoadBeirOptions = {}): Promise<BeirDataset> {
  const corpusFile = path.join(dir, "corpus.jsonl");
  const queriesFile = path.join(dir, "queries.jsonl");
  const qrelsFile = path.join(dir, "qrels", `${options.split ?? "test"}.tsv`);
  // Check all three up front: a user with a half-copied directory learns every missing file at once.
  const missing: string[] = [];
  for (const file of [corpusFile, queriesFile, qrelsFile]) {
    await assertReadable(file).catch(() => missing.push(file));
  }
  if (missing.length > 0) {
    throw new EvalInputError(dir, null, `not a BEIR directory: missing ${missing.join(", ")}`);
  }
  const corpus = await loadCorpus(corpusFile);
  const queries = await loadQueries(queriesFile);
  const qrels = await loadQrels(qrelsFile, {
    queryIds: new Set(queries.map((query) => query.id)),
    docIds: new Set(corpus.map((doc) => doc.id)),
  });
  return { dir, corpus, queries, qrels };
}

export async function loadCorpus(file: string): Promise<BeirDocument[]> {
  const documents: BeirDocument[] = [];
  const firstLine = new Map<string, number>();
  for await (const record of readJsonl(file)) {
    const id = requireString(record, file, "_id", { allowNumber: true });
    const title = record.value.title === undefined || record.value.title === null ? "" : requireTitle(record, file);
    const text = requireString(record, file, "text", { allowEmpty: true });
    if (title.trim() === "" && text.trim() === "") {
      throw new EvalInputError(file, record.line, `document "${id}" has neither title nor text`);
    }
    const seen = firstLine.get(id);
    if (seen !== undefined) {
      throw new EvalInputError(file, record.line, `duplicate document id "${id}" (first on line ${seen})`);
    }
    firstLine.set(id, record.line);
    documents.push({ id, title, text });
  }
  if (documents.length === 0) throw new EvalInputError(file, null, "the corpus has no documents");
  return documents;
}

function requireTitle(record: { line: number; value: Record<string, unknown> }, file: string): string {
  return requireString(record, file, "title", { allowEmpty: true });
}

export async function loadQueries(file: string): Promise<BeirQuery[]> {
  const queries: BeirQuery[] = [];
  const firstLine = new Map<string, number>();
  for await (const record of readJsonl(file)) {
    const id = requireString(record, file, "_id", { allowNumber: true });
    const text = requireString(record, file, "text");
    const seen = firstLine.get(id);
    if (seen !== undefined) {
      throw new EvalInputError(file, record.line, `duplicate query id "${id}" (first on line ${seen})`);
    }
    firstLine.set(id, record.line);
    queries.push({ id, text });
  }
  if (queries.length === 0) throw new EvalInputError(file, null, "there are no queries");
  return queries;
}

/**
 * Reads qrels. The BEIR header line (`query-id corpus-id score`) is skipped when present; any other line must
 * be three tab-separated fields with an integer grade. Ids are checked against the corpus and queries when
 * given: a qrel naming an unknown id is almost always a mismatched file, and silently scoring it would
 * understate (unknown document) or ignore (unknown query) results.
 */
export async function loadQrels(file: string, known?: { queryIds: Set<string>; docIds: Set<string> }): Promise<Qrels> {
  const qrels = new Map<string, Map<string, number>>();
  for await (const { line, text } of readLines(file)) {
    if (text.trim() === "") continue;
    const fields = text.split("\t");
    if (line === 1 && fields[2]?.trim() === QRELS_HEADER[2]) {
      if (fields.length !== 3 || fields[0]?.trim() !== QRELS_HEADER[0] || fields[1]?.trim() !== QRELS_HEADER[1]) {
        throw new EvalInputError(file, line, `header must be "${QRELS_HEADER.join("\\t")}", got "${text}"`);
      }
      continue;
    }
    if (fields.length !== 3) {
      throw new EvalInputError(
        file,
        line,
        `expected 3 tab-separated fields (query-id, corpus-id, score), got ${fields.length}`,
      );
    }
    const [queryId, docId, gradeText] = fields.map((field) => field.trim()) as [string, string, string];
    if (queryId === "" || docId === "") throw new EvalInputError(file, line, "empty query-id or corpus-id");
    if (!/^-?\d+$/.test(gradeText)) {
      throw new EvalInputError(file, line, `score must be an integer, got "${gradeText}"`);
    }
    if (known && !known.queryIds.has(queryId)) {
      throw new EvalInputError(file, line, `query-id "${queryId}" is not in queries.jsonl`);
    }
    if (known && !known.docIds.has(docId)) {
      throw new EvalInputError(file, line, `corpus-id "${docId}" is not in corpus.jsonl`);
    }
    let judgments = qrels.get(queryId);
    if (!judgments) {
      judgments = new Map();
      qrels.set(queryId, judgments);
    }
    if (judgments.has(docId)) {
      throw new EvalInputError(file, line, `duplicate judgment for query "${queryId}" and document "${docId}"`);
    }
    judgments.set(docId, Number(gradeText));
  }
  if (qrels.size === 0) throw new EvalInputError(file, null, "no relevance judgments");
  return qrels;
}

/** BEIR joins title and text with a newline when the title is non-empty (the same rule as `lance-e5 ingest`). */
export function documentText(doc: BeirDocument): string {
  return doc.title.trim() === "" ? doc.text : `${doc.title}\n${doc.text}`;
}
