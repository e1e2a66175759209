import { readFile } from "node:fs/promises";
import { text as readStream } from "node:stream/consumers";
import type { Command } from "commander";
import { isTaskName, resolveInstruction, UnknownTaskError } from "../../instructions/index.ts";
import { InvalidInputError } from "../../model/errors.ts";
import { validateText } from "../../model/tokenize.ts";
import { type EmbedderCliOptions, loadEmbedderFromOptions } from "../embedder-options.ts";
import { CliError } from "../errors.ts";
import { positiveInt } from "../parsers.ts";

interface EmbedCommandOptions extends EmbedderCliOptions {
  model?: string;
  query?: boolean;
  document?: boolean;
  task?: string;
  instruction?: string;
  input?: string;
  dimensions?: number;
  threads?: number;
  longContext?: boolean;
  json?: boolean;
}

/** Lines embedded per call, so output starts before a large input is done and memory stays bounded. */
const LINES_PER_CALL = 1024;

/**
 * `lance-e5 embed`: JSONL `{"text": …}` in (file or stdin), one `{"embedding": […]}` line out per input line, in
 * order. Every line is parsed and validated before the model runs, so a bad line aborts with its line number and
 * nothing partial is printed.
 */
export function registerEmbed(program: Command): void {
  program
    .command("embed")
    .description("embed JSONL texts as queries (with an instruction) or documents; prints one JSON line each")
    .option("--model <dir>", "model directory (default: $LANCE_E5_MODEL, else the shipped model)")
    .option("--query", "embed queries: the instruction is prepended")
    .option("--document", "embed documents: no instruction")
    .option("--task <name>", "query task name (see src/instructions), default: the model's default task")
    .option("--instruction <text>", "query task definition, instead of --task")
    .option("--input <file>", 'JSONL input, one {"text": …} per line (default: stdin)')
    .option("--dimensions <n>", "Matryoshka output dims (models that have them)", positiveInt)
    .option("--threads <n>", "ONNX Runtime threads (default: $LANCE_E5_THREADS, else all CPUs)", positiveInt)
    .option("--long-context", "load the model's long_context RoPE base and max length (as the table was ingested)")
    .option("--json", "JSON lines output (the only format; accepted for explicitness)")
    .action(async (options: EmbedCommandOptions) => {
      if (Boolean(options.query) === Boolean(options.document)) {
        throw new CliError("give exactly one of --query or --document", 2);
      }
      if (options.document && (options.task !== undefined || options.instruction !== undefined)) {
        throw new CliError("--task and --instruction apply to --query only (documents get no instruction)", 2);
      }
      if (options.task !== undefined && options.instruction !== undefined) {
        throw new CliError("give --task or --instruction, not both", 2);
      }
      if (options.task !== undefined && !isTaskName(options.task))
        throw new CliError(new UnknownTaskError(options.task).message, 2);
      if (options.instruction !== undefined) resolveInstruction({ instruction: options.instruction }, "");

      const texts = parseJsonl(await readInput(options.input));
      const embedder = await loadEmbedderFromOptions(options);
      try {
        for (let start = 0; start < texts.length; start += LINES_PER_CALL) {
          const chunk = texts.slice(start, start + LINES_PER_CALL);
          const vectors = options.query
            ? await embedder.embedQueries(chunk, {
                task: options.task,
                instruction: options.instruction,
                dimensions: options.dimensions,
              })
            : await embedder.embedDocuments(chunk, { dimensions: options.dimensions });
          const lines = vectors.map((v) => JSON.stringify({ embedding: Array.from(v) }));
          await write(`${lines.join("\n")}\n`);
        }
      } catch (error) {
        if (error instanceof InvalidInputError) throw new CliError(`line ${error.index + 1}: ${error.problem}`);
        throw error;
      } finally {
        await embedder.dispose();
      }
    });
}

async function readInput(file?: string): Promise<string> {
  if (file === undefined) return readStream(process.stdin);
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    throw new CliError(`cannot read --input ${file}: ${(error as Error).message}`);
  }
}

/** One text per line; a final newline is allowed, any other empty line is an error (outputs align with lines). */
export function parseJsonl(content: string): string[] {
  const lines = content.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  return lines.map((line, i) => {
    const where = `line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new CliError(`${where}: not valid JSON (${(error as Error).message})`);
    }
    if (value === null || typeof value !== "object" || Array.isArray(value) || !("text" in value)) {
      throw new CliError(`${where}: expected an object with a "text" field`);
    }
    const text = (value as { text: unknown }).text;
    try {
      validateText(text, i);
    } catch (error) {
      if (error instanceof InvalidInputError) throw new CliError(`${where}: "text" ${error.problem}`);
      throw error;
    }
    return text;
  });
}

function write(chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(chunk, (error) => (error ? reject(error) : resolve()));
  });
}
