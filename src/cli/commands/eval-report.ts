import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { loadSavedRun, renderReport } from "../../eval/report.ts";
import { CliError } from "../errors.ts";

/** `lance-e5 eval-report RUN.json…`: saved `--json` outputs of eval/bitext/sts → one Markdown report. */
export function registerEvalReport(program: Command): void {
  program
    .command("eval-report")
    .description("Markdown tables comparing saved --json runs of eval, bitext and sts")
    .argument("<runs...>", "saved runs: FILE.json (labelled by its name) or LABEL=FILE.json")
    .option("--title <text>", "report heading", "lance-e5 evaluation report")
    .option("--out <file>", "write the Markdown here instead of stdout")
    .action(async (runs: string[], options: { title: string; out?: string }) => {
      const saved = [];
      for (const run of runs) saved.push(await loadSavedRun(run));
      const markdown = renderReport(saved, options.title);
      if (options.out) {
        await writeFile(options.out, markdown).catch((error: Error) => {
          throw new CliError(`cannot write ${options.out}: ${error.message}`);
        });
        process.stderr.write(`wrote ${options.out} (${saved.length} runs)\n`);
      } else {
        process.stdout.write(markdown);
      }
    });
}
