import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { resolveModelDir } from "../../defaults.ts";
import { type FusionPoint, RETRIEVAL_FAMILIES, readHeldOut, tuneFusion } from "../../eval/fusion-tuning.ts";
import { connectDb } from "../../lancedb/connection.ts";
import type { EmbedderCliOptions } from "../embedder-options.ts";
import { type StorageOptionFlags, storageOptionFlag, storageOptionsOf } from "../storage-options.ts";
import { fixed, loadEvalEmbedder, printResult, usageError } from "./eval-shared.ts";

interface TuneFusionFlags extends StorageOptionFlags, EmbedderCliOptions {
  families: string;
  db?: string;
  write?: boolean;
  json?: boolean;
}

/**
 * `lance-e5 tune-fusion HELD_OUT.jsonl`: the hybrid-search vector weight of a model, chosen on the trainer's
 * held-out slice (`python -m lance_e5_train.evaluate held-out`), over both fusion methods. `--write` records the
 * best in the model directory's lance-e5.json as `hybrid: {fusion, vector_weight}` (with the measurement under
 * `card.hybrid_tuning`), where search's hybrid mode reads it. The weight does not change any vector, so tables built with the model stay valid.
 */
export function registerTuneFusion(program: Command): void {
  program
    .command("tune-fusion")
    .description("choose a model's hybrid-search vector weight on held-out training-side examples")
    .argument("<held_out>", "JSONL of held-out synthetic examples (python -m lance_e5_train.evaluate held-out)")
    .option("--model <dir>", "model directory (default: LANCE_E5_MODEL, else the shipped model)")
    .option("--families <list>", "task families whose queries are scored", RETRIEVAL_FAMILIES.join(","))
    .option("--db <dir>", "keep the index in this LanceDB directory or URI; default: a temporary one")
    .addOption(storageOptionFlag())
    .option("--write", "record the chosen weight in the model directory's lance-e5.json")
    .option("--json", "print the whole measurement as one JSON object")
    .action(async (file: string, flags: TuneFusionFlags) => {
      const storageOptions = storageOptionsOf(flags);
      const families = flags.families
        .split(",")
        .map((family) => family.trim())
        .filter(Boolean);
      if (families.length === 0) throw usageError("--families must name at least one task family");
      if (flags.write && flags.embedderDim !== undefined) {
        throw usageError(
          "--write records the weight in a model directory: describe the model with --model DIR, not --embedder-dim",
        );
      }
      const examples = await readHeldOut(file);
      const embedder = await loadEvalEmbedder(flags);
      let tuning: Awaited<ReturnType<typeof tuneFusion>>;
      try {
        const db = flags.db === undefined ? undefined : await connectDb(flags.db, { storageOptions });
        tuning = await tuneFusion({ examples, embedder, families, db });
      } finally {
        await embedder.dispose();
      }
      if (flags.write) {
        const modelDir = path.resolve(resolveModelDir(flags.model));
        await recordWeight(modelDir, tuning.best, {
          held_out: displayPath(file),
          queries: tuning.queries,
          documents: tuning.documents,
          families: tuning.families,
          criterion: "nDCG@10 averaged over fused list depths 10 and 100 (src/eval/fusion-tuning.ts)",
          "ndcg@10": {
            chosen: round(tuning.best["ndcg@10"]),
            bm25_only: round(tuning.bm25["ndcg@10"]),
            vector_only: round(tuning.vector["ndcg@10"]),
            plain_rrf: round(tuning.plainRrf["ndcg@10"]),
            best_rrf: { vector_weight: tuning.bestRrf.vector_weight, "ndcg@10": round(tuning.bestRrf["ndcg@10"]) },
            best_linear: {
              vector_weight: tuning.bestLinear.vector_weight,
              "ndcg@10": round(tuning.bestLinear["ndcg@10"]),
            },
          },
        });
      }
      const line = (label: string, p: FusionPoint) =>
        `  ${label.padEnd(26)} ${p.method} w=${p.vector_weight.toFixed(2)}  nDCG@10 ${fixed(p["ndcg@10"])} ` +
        `(depth 10: ${fixed(p.by_depth["10"]!)}, depth 100: ${fixed(p.by_depth["100"]!)})`;
      printResult(
        flags.json === true,
        tuning,
        [
          `${file}: ${tuning.queries} queries (${tuning.families.join(", ")}), ${tuning.documents} documents`,
          line("BM25 only", tuning.bm25),
          line("vector only", tuning.vector),
          line("plain RRF", tuning.plainRrf),
          line("best weighted RRF", tuning.bestRrf),
          line("best linear", tuning.bestLinear),
          line("chosen", tuning.best),
          flags.write
            ? `  recorded hybrid = {"fusion": "${tuning.best.method}", "vector_weight": ${tuning.best.vector_weight}}`
            : "  (--write records it in the model's lance-e5.json)",
        ].join("\n"),
      );
    });
}

const round = (value: number) => Math.round(value * 10_000) / 10_000;

/** The held-out file as the card names it: relative to the working directory when inside it (no home paths). */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), path.resolve(file));
  return relative.startsWith("..") || path.isAbsolute(relative) ? path.basename(file) : relative;
}

/** Read-modify-write of lance-e5.json through a temporary file, so a crash never leaves half a descriptor. */
async function recordWeight(modelDir: string, best: FusionPoint, measurement: Record<string, unknown>): Promise<void> {
  const file = path.join(modelDir, "lance-e5.json");
  const descriptor = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  descriptor.hybrid = { fusion: best.method, vector_weight: best.vector_weight };
  const card = (descriptor.card ?? {}) as Record<string, unknown>;
  card.hybrid_tuning = measurement;
  descriptor.card = card;
  await writeFile(`${file}.tmp`, `${JSON.stringify(descriptor, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}
