import type { Command } from "commander";
import { loadBeirDataset } from "../../eval/beir.ts";
import { evaluateRetrieval, type QueryInstruction, RETRIEVAL_MODES, type RetrievalMode } from "../../eval/retrieval.ts";
import { isTaskName, UnknownTaskError } from "../../instructions/index.ts";
import { connectDb } from "../../lancedb/connection.ts";
import { MAX_K } from "../../search/index.ts";
import type { EmbedderCliOptions } from "../embedder-options.ts";
import { type StorageOptionFlags, storageOptionFlag, storageOptionsOf } from "../storage-options.ts";
import { fixed, loadEvalEmbedder, printResult, usageError } from "./eval-shared.ts";

interface EvalFlags extends StorageOptionFlags, EmbedderCliOptions {
  model?: string;
  mode: string;
  task?: string;
  /** Commander pairs `--instruction TEXT` with `--no-instruction`: a string, false, or unset. */
  instruction?: string | false;
  k: string;
  longContext?: boolean;
  json?: boolean;
  db?: string;
  table?: string;
  split: string;
  whole?: boolean;
  chunkTokens?: string;
  vectorWeight?: string;
}

export interface EvalSettings {
  mode: RetrievalMode;
  instruction: QueryInstruction;
  k: number;
  chunkTokens?: number;
  vectorWeight?: number;
}

/**
 * Checks the flags before anything is loaded. The query instruction must be chosen explicitly in the modes that
 * embed queries: it changes the results (REFERENCE.md §2: −4.2 MTEB points without), so a silent default would
 * make runs incomparable. Full-text search never embeds the query, so there it is optional.
 */
export function parseEvalFlags(flags: EvalFlags): EvalSettings {
  const mode = flags.mode as RetrievalMode;
  if (!RETRIEVAL_MODES.includes(mode)) {
    throw usageError(`--mode must be one of ${RETRIEVAL_MODES.join(", ")}, got "${flags.mode}"`);
  }
  if (!/^\d+$/.test(flags.k) || Number(flags.k) < 1 || Number(flags.k) > MAX_K) {
    throw usageError(`--k must be an integer from 1 to ${MAX_K}, got "${flags.k}"`);
  }
  const given = [
    flags.task !== undefined && "--task",
    typeof flags.instruction === "string" && "--instruction",
    flags.instruction === false && "--no-instruction",
  ].filter((flag): flag is string => flag !== false);
  if (given.length > 1)
    throw usageError(`give only one of --task, --instruction, --no-instruction (got ${given.join(", ")})`);
  let instruction: QueryInstruction;
  if (flags.task !== undefined) {
    if (!isTaskName(flags.task)) throw usageError(new UnknownTaskError(flags.task).message);
    instruction = { task: flags.task };
  } else if (typeof flags.instruction === "string") {
    if (flags.instruction.trim() === "") throw usageError("--instruction must not be empty");
    instruction = { instruction: flags.instruction.trim() };
  } else if (flags.instruction === false || mode === "fulltext") {
    instruction = { none: true };
  } else {
    throw usageError(
      `choose the query instruction: --task NAME, --instruction TEXT or --no-instruction (mode ${mode} embeds queries, and the instruction changes results)`,
    );
  }
  if (flags.chunkTokens !== undefined && (!/^\d+$/.test(flags.chunkTokens) || Number(flags.chunkTokens) < 1)) {
    throw usageError(`--chunk-tokens must be a positive integer, got "${flags.chunkTokens}"`);
  }
  if (flags.chunkTokens !== undefined && flags.whole) throw usageError("give --whole or --chunk-tokens, not both");
  const chunkTokens = flags.chunkTokens === undefined ? undefined : Number(flags.chunkTokens);
  let vectorWeight: number | undefined;
  if (flags.vectorWeight !== undefined) {
    if (mode !== "hybrid") throw usageError(`--vector-weight applies to --mode hybrid only, not ${mode}`);
    const weight = Number(flags.vectorWeight);
    if (flags.vectorWeight.trim() === "" || !Number.isFinite(weight) || weight < 0 || weight > 1) {
      throw usageError(`--vector-weight must be a number from 0 to 1, got "${flags.vectorWeight}"`);
    }
    vectorWeight = weight;
  }
  return {
    mode,
    instruction,
    k: Number(flags.k),
    chunkTokens,
    ...(vectorWeight === undefined ? {} : { vectorWeight }),
  };
}

/** `lance-e5 eval BEIR_DIR`: BEIR-style retrieval metrics through the real ingest and query path. */
export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("nDCG@10, MRR@10, Recall@1/10/100 of a BEIR directory, ingested and searched as the product does")
    .argument("<beir_dir>", "directory with corpus.jsonl, queries.jsonl and qrels/test.tsv")
    .option("--model <dir>", "model directory (default: LANCE_E5_MODEL, else the shipped model)")
    .option("--mode <mode>", `retrieval mode: ${RETRIEVAL_MODES.join(" | ")} (fulltext = BM25 baseline)`, "vector")
    .option("--task <name>", "query task name (src/instructions), e.g. web_search")
    .option("--instruction <text>", "free one-sentence task definition for the queries")
    .option("--no-instruction", "embed queries exactly as given (no instruction)")
    .option("--k <n>", "documents ranked per query (Recall@100 needs 100)", "100")
    .option("--long-context", "load the model with its long-context RoPE base and max length")
    .option(
      "--db <dir>",
      "keep the index in this LanceDB directory or URI (re-runs reuse it); default: a temporary one",
    )
    .addOption(storageOptionFlag())
    .option("--table <name>", "table name inside --db", "beir")
    .option("--split <name>", "qrels file qrels/<split>.tsv", "test")
    .option("--whole", "one vector per document (truncated) instead of chunks")
    .option("--chunk-tokens <n>", "chunk size in model tokens (default: the model's max length)")
    .option("--vector-weight <w>", "hybrid mode: vector share in the fusion, 0..1 (default: the model's, else 0.5)")
    .option("--json", "print one object: ndcg@10, mrr@10, recall@1, recall@10, recall@100, queries, seconds")
    .action(async (dir: string, flags: EvalFlags) => {
      const settings = parseEvalFlags(flags);
      const storageOptions = storageOptionsOf(flags);
      if (settings.k < 100) {
        process.stderr.write(`note: --k ${settings.k} < 100, so recall@100 counts only the top ${settings.k}\n`);
      }
      const dataset = await loadBeirDataset(dir, { split: flags.split });
      const embedder = await loadEvalEmbedder(flags);
      try {
        const run = await evaluateRetrieval({
          dataset,
          embedder,
          ...settings,
          db: flags.db === undefined ? undefined : await connectDb(flags.db, { storageOptions }),
          table: flags.table,
          whole: flags.whole,
          onQuery: flags.json ? undefined : progress,
        });
        if (!flags.json && process.stderr.isTTY) process.stderr.write("\n");
        // The JSON keys are a contract; the skipped count goes to stderr so scripts can still see it.
        if (run.skipped > 0) process.stderr.write(`skipped ${run.skipped} queries without relevance judgments\n`);
        const r = run.report;
        printResult(
          flags.json === true,
          r,
          [
            `${dir} (${settings.mode}, ${describeInstruction(settings.instruction)}, model ${embedder.identity.name})`,
            `  nDCG@10 ${fixed(r["ndcg@10"])}  MRR@10 ${fixed(r["mrr@10"])}  R@1 ${fixed(r["recall@1"])}  ` +
              `R@10 ${fixed(r["recall@10"])}  R@100 ${fixed(r["recall@100"])}`,
            `  ${r.queries} queries, ${run.documents} documents (${run.ingest.chunks_added} chunks added, ` +
              `${run.ingest.chunks_unchanged} unchanged); ingest ${run.ingestSeconds.toFixed(1)} s, ` +
              `search ${run.searchSeconds.toFixed(1)} s, total ${r.seconds.toFixed(1)} s`,
          ].join("\n"),
        );
      } finally {
        await embedder.dispose();
      }
    });
}

function describeInstruction(instruction: QueryInstruction): string {
  if ("task" in instruction) return `task ${instruction.task}`;
  if ("instruction" in instruction) return `instruction "${instruction.instruction}"`;
  return "no instruction";
}

function progress(done: number, total: number): void {
  if (process.stderr.isTTY) process.stderr.write(`\rqueries ${done}/${total}`);
}
