import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { resolveModelDir } from "../../defaults.ts";
import { heldOutSotuSentences } from "../../eval/passkey/haystack.ts";
import { passkeyPlotSvg } from "../../eval/passkey/plot.ts";
import { formatPasskeyTable, type PasskeyVariant, runPasskey } from "../../eval/passkey/run.ts";
import { connectDb } from "../../lancedb/connection.ts";
import { readModelConfig } from "../../model/index.ts";
import { type EmbedderCliOptions, loadEmbedderFromOptions } from "../embedder-options.ts";
import { type StorageOptionFlags, storageOptionFlag, storageOptionsOf } from "../storage-options.ts";
import { usageError } from "./eval-shared.ts";

// Its --rope-base is a list of bases to compare (the other embedding commands take one).
interface PasskeyFlags extends StorageOptionFlags, Omit<EmbedderCliOptions, "ropeBase"> {
  model?: string;
  lengths: string;
  candidates: string;
  queries: string;
  ropeBase?: string;
  variant: string;
  seed: string;
  db?: string;
  json?: boolean;
  plot?: string;
}

const DEFAULT_LENGTHS = "256,512,1024,2048,4096,8192,16384,32768";

function positiveIntegers(flag: string, value: string): number[] {
  const numbers = value.split(",").map((part) => Number(part.trim()));
  if (numbers.length === 0 || numbers.some((n) => !Number.isInteger(n) || n < 1)) {
    throw usageError(`${flag} must be a comma-separated list of positive integers, got "${value}"`);
  }
  return numbers;
}

/** `lance-e5 passkey`: the paper's personalised passkey retrieval test (and a needle variant) on any model. */
export function registerPasskey(program: Command): void {
  program
    .command("passkey")
    .description("personalised passkey retrieval: top-1 accuracy per context length and RoPE base, beside BM25")
    .option("--model <dir>", "model directory (default: LANCE_E5_MODEL, else the shipped model)")
    .option("--lengths <list>", "document lengths in model tokens incl. BOS/EOS", DEFAULT_LENGTHS)
    .option("--candidates <n>", "documents per length (one shared pool)", "100")
    .option("--queries <n>", "questions per length", "50")
    .option("--rope-base <list>", "RoPE bases to run at (default: the model's native and its long_context base)")
    .option("--variant <v>", "passkey | needle | passkey,needle", "passkey")
    .option("--seed <n>", "seed of names, keys and positions", "0")
    .option("--db <dir>", "keep the tables in this LanceDB directory or URI (default: a temporary one)")
    .addOption(storageOptionFlag())
    .option("--json", "print one object: {instruction, results: [...], fulltext: [...]}")
    .option("--plot <file.svg>", "write an SVG plot of accuracy against length")
    .action(async (flags: PasskeyFlags) => {
      const lengths = positiveIntegers("--lengths", flags.lengths);
      const [candidates] = positiveIntegers("--candidates", flags.candidates);
      const [queries] = positiveIntegers("--queries", flags.queries);
      if (queries! > candidates!) throw usageError(`--queries (${queries}) cannot exceed --candidates (${candidates})`);
      const variants = flags.variant.split(",").map((v) => v.trim());
      for (const v of variants) {
        if (v !== "passkey" && v !== "needle") throw usageError(`--variant must be passkey or needle, got "${v}"`);
      }
      if (!/^\d+$/.test(flags.seed)) throw usageError(`--seed must be a non-negative integer, got "${flags.seed}"`);
      const storageOptions = storageOptionsOf(flags);
      const modelDir = resolveModelDir(flags.model);
      let ropeBases: number[];
      if (flags.embedderUrl !== undefined) {
        // The remote server runs at its own RoPE base: one run, reported as rope_base 0 ("decided remotely").
        if (flags.ropeBase !== undefined) throw usageError("--rope-base applies to local models, not --embedder-url");
        ropeBases = [0];
      } else if (flags.ropeBase !== undefined) {
        ropeBases = flags.ropeBase.split(",").map((b) => Number(b.trim()));
        if (ropeBases.some((b) => !Number.isFinite(b) || b <= 1)) {
          throw usageError(`--rope-base must be numbers > 1 (e.g. 1e4,1e5), got "${flags.ropeBase}"`);
        }
      } else {
        const config = readModelConfig(modelDir);
        ropeBases = [config.rope.base, ...(config.long_context ? [config.long_context.rope_base] : [])];
      }
      // Progress goes to stderr also with --json (stdout holds only the report): the full run takes hours.
      const log = (message: string) => process.stderr.write(`${message}\n`);
      const report = await runPasskey({
        // Local: at each RoPE base; remote: the server's own (the local settings are ignored there).
        loadEmbedder: (ropeBase, maxLength) =>
          loadEmbedderFromOptions({ ...flags, ropeBase: undefined }, { ropeBase, maxLength }),
        lengths,
        ropeBases,
        variants: variants as PasskeyVariant[],
        candidates: candidates!,
        queries: queries!,
        seed: Number(flags.seed),
        haystack: variants.includes("needle") ? await heldOutSotuSentences() : undefined,
        db: flags.db === undefined ? undefined : await connectDb(flags.db, { storageOptions }),
        onProgress: log,
      });
      if (flags.plot) await writeFile(flags.plot, passkeyPlotSvg(report));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(report)}\n`);
      } else {
        process.stdout.write(`instruction: ${report.instruction}\n${formatPasskeyTable(report)}\n`);
      }
    });
}
