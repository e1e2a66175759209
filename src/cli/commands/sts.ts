import type { Command } from "commander";
import { evaluateSts, loadStsPairs } from "../../eval/sts.ts";
import { fixed, loadEvalEmbedder, printResult } from "./eval-shared.ts";

/** `lance-e5 sts PAIRS.jsonl`: Spearman correlation of cosine similarity with gold scores. */
export function registerSts(program: Command): void {
  program
    .command("sts")
    .description('semantic textual similarity: Spearman correlation over {"s1", "s2", "score"} pairs')
    .argument("<pairs>", 'JSONL file of {"s1": …, "s2": …, "score": n} lines')
    .option("--model <dir>", "model directory (default: LANCE_E5_MODEL, else the shipped model)")
    .option("--json", 'print {"spearman", "pairs"}')
    .action(async (file: string, options: { model?: string; json?: boolean }) => {
      const pairs = await loadStsPairs(file);
      const embedder = await loadEvalEmbedder(options);
      try {
        const result = await evaluateSts(embedder, pairs);
        printResult(
          options.json === true,
          result,
          `sts ${file}: spearman ${fixed(result.spearman)} over ${result.pairs} pairs`,
        );
      } finally {
        await embedder.dispose();
      }
    });
}
