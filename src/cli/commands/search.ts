import { type Command, InvalidArgumentError } from "commander";
import { DEFAULT_TABLE } from "../../defaults.ts";
import { UnknownTaskError } from "../../instructions/index.ts";
import { connectDb } from "../../lancedb/connection.ts";
import { ModelMismatchError, NotALanceE5TableError, TableNotFoundError } from "../../lancedb/errors.ts";
import {
  FilterError,
  FullTextIndexMissingError,
  SEARCH_MODES,
  type SearchMode,
  SearchRequestError,
  type SearchResponse,
  search,
} from "../../search/index.ts";
import { dbOption } from "../db-option.ts";
import { type EmbedderCliOptions, loadEmbedderFromOptions } from "../embedder-options.ts";
import { CliError } from "../errors.ts";
import { positiveInt, unitInterval } from "../parsers.ts";
import { type StorageOptionFlags, storageOptionFlag, storageOptionsOf } from "../storage-options.ts";

interface SearchCommandOptions extends StorageOptionFlags, EmbedderCliOptions {
  db: string;
  table: string;
  model?: string;
  task?: string;
  instruction?: string;
  k: number;
  mode: SearchMode;
  filter?: string;
  json?: boolean;
  threads?: number;
  longContext?: boolean;
  vectorWeight?: number;
}

function mode(value: string): SearchMode {
  if (!(SEARCH_MODES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`must be one of ${SEARCH_MODES.join(", ")}`);
  }
  return value as SearchMode;
}

/** `lance-e5 search TEXT`: the shared query path; `--json` prints exactly what POST /search returns. */
export function registerSearch(program: Command): void {
  program
    .command("search")
    .description("search a table: instructed vector search (default), full-text, or hybrid")
    .argument("<text>", "the query")
    .addOption(dbOption())
    .addOption(storageOptionFlag())
    .option("--table <name>", "table name", DEFAULT_TABLE)
    .option("--model <dir>", "model directory (default: $LANCE_E5_MODEL, else the shipped model)")
    .option("--task <name>", "query task name (default: the table's default task)")
    .option("--instruction <text>", "a free one-sentence task definition, instead of --task")
    .option("--k <n>", "number of results", positiveInt, 10)
    .option("--mode <mode>", `${SEARCH_MODES.join(" | ")}`, mode, "vector")
    .option(
      "--vector-weight <w>",
      "hybrid mode: the vector list's share in the fusion, 0..1 (default: the model's hybrid.vector_weight, else 0.5)",
      unitInterval,
    )
    .option("--filter <json>", 'JSON filter, e.g. \'{"metadata.lang": "en"}\' (never SQL)')
    .option("--json", "print the result object (as POST /search returns it)")
    .option("--threads <n>", "ONNX Runtime threads (default: $LANCE_E5_THREADS, else all CPUs)", positiveInt)
    .option("--long-context", "load the model's long_context RoPE base and max length (as the table was ingested)")
    .action(async (text: string, options: SearchCommandOptions) => {
      const storageOptions = storageOptionsOf(options);
      let filter: unknown;
      if (options.filter !== undefined) {
        try {
          filter = JSON.parse(options.filter);
        } catch (error) {
          throw new CliError(`--filter is not valid JSON: ${(error as Error).message}`, 2);
        }
      }
      const embedder = await loadEmbedderFromOptions(options);
      let response: SearchResponse;
      try {
        response = await search({
          db: await connectDb(options.db, { storageOptions }),
          tableName: options.table,
          embedder,
          query: text,
          task: options.task,
          instruction: options.instruction,
          k: options.k,
          mode: options.mode,
          filter,
          ...(options.vectorWeight === undefined ? {} : { vector_weight: options.vectorWeight }),
        });
      } catch (error) {
        if (
          error instanceof FilterError ||
          error instanceof SearchRequestError ||
          error instanceof UnknownTaskError ||
          error instanceof ModelMismatchError ||
          error instanceof NotALanceE5TableError ||
          error instanceof TableNotFoundError ||
          error instanceof FullTextIndexMissingError
        ) {
          throw new CliError(error.message, 2);
        }
        throw error;
      } finally {
        await embedder.dispose();
      }
      process.stdout.write(
        options.json
          ? `${JSON.stringify(response)}\n`
          : formatResults(response, options.mode, embedder.config.hybrid?.fusion ?? "rrf"),
      );
    });
}

/** Text output; the score is named by what it is: cosine, BM25, or the model's hybrid fusion (rrf | linear). */
function formatResults(response: SearchResponse, searchMode: SearchMode, fusion: string): string {
  if (response.results.length === 0) return `no results (${response.took_ms} ms)\n`;
  const scoreName = searchMode === "vector" ? "cosine" : searchMode === "fulltext" ? "bm25" : fusion;
  const lines = response.results.map((r, i) => {
    const where = [r.source ?? r.doc_id, r.title].filter(Boolean).join(" · ");
    const snippet = r.text.replace(/\s+/g, " ").slice(0, 200);
    return `${String(i + 1).padStart(2)}. ${scoreName} ${r.score.toFixed(4)}  ${where}\n    ${snippet}`;
  });
  return `${lines.join("\n")}\n(${response.results.length} results, ${response.took_ms} ms)\n`;
}
