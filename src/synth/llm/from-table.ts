import { quoteSql } from "../../ingest/sql.ts";
import type { DbLike } from "../../lancedb/connection.ts";
import type { Embedder } from "../../model/embedder.ts";
import { openSearchTarget, type SearchTarget, search } from "../../search/index.ts";
import { fillTemplate, PLACEHOLDER_VALUES } from "../placeholders.ts";
import { corpusQueryPromptTemplate } from "../prompts/index.ts";
import { parseKeyedAnswer, type SynthExample, schemaErrors } from "../validate.ts";
import { resumeOutput } from "./checkpoint.ts";
import { chatCompletion, RequestBudget } from "./client.ts";
import { copyBudgetCounters, emptySummary, increment, type LlmSynthOptions, type SynthSummary } from "./generate.ts";
import { pick, seededRandom } from "./rng.ts";
import { runAttemptLoop } from "./scheduler.ts";

/**
 * Corpus-grounded generation (beyond the paper): for passages of a user's lance-e5 table, the LLM writes a
 * task definition and a query the passage answers; the passage is the positive and a hard negative is mined
 * from the same table with the search module (BM25 full-text, or the table's own model by vector), skipping
 * the passage's own document. The result is domain-adaptation data for training/ in the usual JSONL format
 * (`task_family` short-long, `source` "corpus:<table>").
 *
 * Work plan: the table's chunk ids, sorted and shuffled by the seed; attempt k uses passage k mod n, so a
 * resumed run continues with the passages after the last one written.
 */
export type NegativeMining = "fulltext" | "vector" | "none";
export const NEGATIVE_MINING: readonly NegativeMining[] = ["fulltext", "vector", "none"];

export interface FromTableOptions extends Omit<LlmSynthOptions, "families" | "languages" | "examplesPerBrainstorm"> {
  db: DbLike;
  table: string;
  /** The table's model: checked against the table's identity; embeds queries when mining by vector. */
  embedder: Embedder;
  negatives: NegativeMining;
  /** BCP-47 code written as every example's `language` (the table does not record one). */
  language: string;
  /** Passages longer than this are cut before prompting (characters). */
  maxPassageChars?: number;
  /** Candidates searched for a hard negative. */
  negativeCandidates?: number;
}

export interface FromTableSummary extends SynthSummary {
  /** Examples written without a hard negative (no candidate outside the passage's document). */
  withoutNegative: number;
}

export class FromTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FromTableError";
  }
}

const LANGUAGE_PATTERN = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

async function passageOrder(target: SearchTarget, seed: string): Promise<string[]> {
  const rows = await target.table.query().select(["id"]).toArray();
  const ids = rows.map((row) => String(row.id)).sort();
  const random = seededRandom(seed, "passage-order");
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ids[i], ids[j]] = [ids[j] as string, ids[i] as string];
  }
  return ids;
}

export async function generateFromTable(options: FromTableOptions): Promise<FromTableSummary> {
  if (!Number.isInteger(options.count) || options.count < 1)
    throw new FromTableError("count must be a positive integer");
  if (!LANGUAGE_PATTERN.test(options.language)) {
    throw new FromTableError(`language must be a BCP-47 code such as "en" or "pt-BR", got "${options.language}"`);
  }
  const target = await openSearchTarget({ db: options.db, tableName: options.table }, options.embedder.identity);
  const order = await passageOrder(target, options.seed);
  if (order.length === 0) throw new FromTableError(`table "${options.table}" has no rows`);

  const summary: FromTableSummary = { ...emptySummary(options.out, options.count), withoutNegative: 0 };
  const source = `corpus:${options.table}`;
  const { dedup, existing, nextAttempt, truncatedBytes, appender } = await resumeOutput(options.out);
  summary.truncatedBytes = truncatedBytes;
  for (const example of existing) {
    if (example.source !== source) continue;
    increment(summary.perFamily, example.task_family);
    increment(summary.perLanguage, example.language);
    summary.written += 1;
  }
  summary.resumed = summary.written;

  const budget = new RequestBudget(options.maxRequests, options.maxTokens);
  const syncBudget = () => copyBudgetCounters(summary, budget);
  const template = corpusQueryPromptTemplate();
  const maxChars = options.maxPassageChars ?? 8000;

  const runAttempt = async (attempt: number): Promise<void> => {
    const id = order[attempt % order.length] as string;
    const [row] = await target.table
      .query()
      .where(`id = ${quoteSql(id)}`)
      .select(["id", "doc_id", "text"])
      .limit(1)
      .toArray();
    if (!row) return increment(summary.drops, "passage-gone");
    const passage = String(row.text);
    const docId = String(row.doc_id);
    const random = seededRandom(options.seed, attempt);
    const placeholders = {
      query_type: pick(PLACEHOLDER_VALUES.query_type, random),
      query_length: pick(PLACEHOLDER_VALUES.query_length, random),
      clarity: pick(PLACEHOLDER_VALUES.clarity, random),
    };
    const prompt = fillTemplate(template, { ...placeholders, document: passage.slice(0, maxChars) });
    const answer = await chatCompletion(
      {
        baseUrl: options.baseUrl,
        model: options.model,
        apiKey: options.apiKey,
        temperature: options.temperature ?? 1,
        topP: options.topP ?? 1,
        timeoutMs: options.timeoutMs ?? 120_000,
        maxRetries: options.maxRetries ?? 6,
        retryBaseMs: options.retryBaseMs ?? 1000,
        retryMaxMs: options.retryMaxMs ?? 60_000,
        budget,
        signal: options.signal,
        onRetry: options.onRetry,
      },
      prompt,
    );
    const parsed = parseKeyedAnswer(answer.content, ["task_definition", "query"]);
    if (!parsed.ok) return increment(summary.drops, parsed.reason);
    const instruction = parsed.fields.task_definition as string;
    const query = parsed.fields.query as string;
    if (passage.includes(query)) return increment(summary.drops, "query-in-positive");

    const meta: Record<string, unknown> = {
      attempt,
      chunk_id: id,
      doc_id: docId,
      placeholders,
      mining: options.negatives,
    };
    let negative: string | undefined;
    if (options.negatives !== "none") {
      const { results } = await search({
        embedder: options.embedder,
        target,
        query,
        instruction,
        mode: options.negatives,
        k: options.negativeCandidates ?? 20,
      });
      // The best-ranked passage of another document that does not quote the query: related, not the answer.
      const rank = results.findIndex(
        (result) => result.doc_id !== docId && result.text !== passage && !result.text.includes(query),
      );
      const mined = results[rank];
      if (mined) {
        negative = mined.text;
        meta.negative_chunk_id = mined.id;
        meta.negative_doc_id = mined.doc_id;
        meta.negative_rank = rank;
      }
    }
    const example: SynthExample = {
      task_family: "short-long",
      instruction,
      query,
      positive: passage,
      ...(negative === undefined ? {} : { negative }),
      language: options.language,
      source,
      meta,
    };
    if (schemaErrors(example)) return increment(summary.drops, "schema-invalid");
    const duplicate = dedup.check(example);
    if (duplicate) return increment(summary.drops, duplicate);
    appender.append(example);
    if (negative === undefined) summary.withoutNegative += 1;
    increment(summary.perFamily, example.task_family);
    increment(summary.perLanguage, example.language);
    summary.written += 1;
  };

  let pending = 0;
  const remaining = Math.max(0, options.count - summary.written);
  let loop: Awaited<ReturnType<typeof runAttemptLoop>>;
  try {
    loop = await runAttemptLoop({
      concurrency: options.concurrency ?? 4,
      maxAttempts: options.maxAttempts ?? 10 * remaining + 50,
      firstAttempt: nextAttempt,
      budget,
      signal: options.signal,
      next: (attempt) => {
        if (summary.written + pending >= options.count) return undefined;
        pending += 1;
        return () =>
          runAttempt(attempt).finally(() => {
            pending -= 1;
          });
      },
      onBadResponse: () => increment(summary.drops, "bad-response"),
      onSettled: () => {
        syncBudget();
        options.onProgress?.(summary);
      },
    });
  } finally {
    appender.close();
    syncBudget();
  }
  summary.attempts = loop.attempts;
  const complete = summary.written >= options.count;
  summary.stopped = loop.fatal !== undefined ? "error" : complete ? "complete" : (loop.stopReason ?? "complete");
  if (loop.fatal !== undefined) summary.error = loop.fatal instanceof Error ? loop.fatal.message : String(loop.fatal);
  return summary;
}
