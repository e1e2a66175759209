import type { Command } from "commander";
import { evaluateBitext, loadBitextPairs } from "../../eval/bitext.ts";
import { fixed, loadEvalEmbedder, printResult } from "./eval-shared.ts";

/** `lance-e5 bitext PAIRS.jsonl`: bitext mining accuracy in both directions, in memory. */
export function registerBitext(program: Command): void {
  program
    .command("bitext")
    .description('bitext mining: for each side of {"en", "xx"} pairs, find its translation among the other side')
    .argument("<pairs>", 'JSONL file of {"en": …, "xx": …} lines (xx is literal: the other language)')
    .option("--model <dir>", "model directory (default: LANCE_E5_MODEL, else the shipped model)")
    .option("--json", 'print {"accuracy", "accuracy_en2xx", "accuracy_xx2en", "pairs"}')
    .action(async (file: string, options: { model?: string; json?: boolean }) => {
      const pairs = await loadBitextPairs(file);
      const embedder = await loadEvalEmbedder(options);
      try {
        const result = await evaluateBitext(embedder, pairs);
        printResult(
          options.json === true,
          result,
          `bitext ${file}: accuracy ${fixed(result.accuracy)} (en→xx ${fixed(result.accuracy_en2xx)}, ` +
            `xx→en ${fixed(result.accuracy_xx2en)}) over ${result.pairs} pairs`,
        );
      } finally {
        await embedder.dispose();
      }
    });
}
