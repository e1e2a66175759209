/**
 * `npm run bench:eval`: builds the visible benchmarks if needed (scripts/build-benchmarks.ts), runs every one
 * through the real CLI — `lance-e5 eval` with BM25 (LanceDB full-text, `--mode fulltext`) beside the model
 * (`--mode vector`, and `--mode hybrid`), `lance-e5 bitext` per language — saves each `--json` run under
 * bench/.out/eval/runs/ and prints the `eval-report` Markdown plus model/BM25 ratios.
 *
 *   npm run bench:eval -- [--model DIR] [--only man,wordnet,sotu,bitext] [--data data/benchmarks] [--modes vector,hybrid]
 *
 * Model: --model, else LANCE_E5_MODEL, else the shipped models/default, else the bench fixture (random weights:
 * its numbers only show that the path runs, not quality). `hybrid` fuses with the method and vector weight the model's
 * lance-e5.json records (`hybrid`, chosen by `lance-e5 tune-fusion` on training-side data), else plain RRF; the
 * line printed at the start names it.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SHIPPED_MODEL_DIR } from "../src/defaults.ts";
import { VISIBLE_BENCHMARKS } from "../src/eval/benchmarks/manifest.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURE_MODEL = path.join(ROOT, "test/fixtures/models/bench-mistral");
const { values } = parseArgs({
  options: {
    model: { type: "string" },
    only: { type: "string", default: Object.keys(VISIBLE_BENCHMARKS).join(",") },
    data: { type: "string", default: path.join(ROOT, "data/benchmarks") },
    modes: { type: "string", default: "vector,hybrid" },
    out: { type: "string", default: path.join(ROOT, "bench/.out/eval") },
  },
});

function chooseModel(): { dir: string; note: string } {
  if (values.model) return { dir: path.resolve(values.model), note: "--model" };
  if (process.env.LANCE_E5_MODEL) return { dir: path.resolve(process.env.LANCE_E5_MODEL), note: "LANCE_E5_MODEL" };
  if (existsSync(path.join(SHIPPED_MODEL_DIR, "lance-e5.json"))) return { dir: SHIPPED_MODEL_DIR, note: "shipped" };
  return { dir: FIXTURE_MODEL, note: "bench fixture with RANDOM weights: quality numbers are meaningless" };
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${args.join(" ")} exited ${code}`))));
  });
}

const only = values.only.split(",").map((s) => s.trim());
const modes = values.modes.split(",").map((s) => s.trim());
const model = chooseModel();
const modelLabel = path.basename(model.dir);
const runsDir = path.join(values.out, "runs");
await mkdir(runsDir, { recursive: true });
const hybrid = JSON.parse(await readFile(path.join(model.dir, "lance-e5.json"), "utf8")).hybrid ?? null;
console.error(`model: ${model.dir} (${model.note}); hybrid fusion: ${JSON.stringify(hybrid ?? "plain RRF")}`);

// 1. Build what is missing (the builder skips benchmarks already on disk).
await run(["scripts/build-benchmarks.ts", "--out", values.data, "--only", only.join(",")]);

// 2. Run them.
const cli = path.join(ROOT, "src/cli/main.ts");
const saved: string[] = [];
const ratios: string[] = [];
async function save(label: string, args: string[]): Promise<Record<string, number>> {
  const started = performance.now();
  const json = await run([cli, ...args, "--json"]);
  const file = path.join(runsDir, `${label}.json`);
  await writeFile(file, json);
  saved.push(`${label}=${file}`);
  console.error(`${label}: ${json.trim()} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return JSON.parse(json);
}

for (const name of only) {
  const spec = VISIBLE_BENCHMARKS[name as keyof typeof VISIBLE_BENCHMARKS];
  if (!spec) throw new Error(`unknown benchmark "${name}"`);
  if (spec.kind === "beir") {
    const dir = path.join(values.data, name);
    // One index per benchmark and model, reused by every mode: the first run ingests, the others find every
    // chunk unchanged (ingest is idempotent), so the timings after the first are search time.
    const db = ["--db", path.join(values.out, "db", `${name}-${modelLabel}`)];
    const bm25 = await save(`${name} · BM25`, ["eval", dir, "--mode", "fulltext", "--model", model.dir, ...db]);
    for (const mode of modes) {
      const result = await save(`${name} · ${modelLabel} ${mode}`, [
        "eval",
        dir,
        "--mode",
        mode,
        "--instruction",
        spec.instruction,
        "--model",
        model.dir,
        ...db,
      ]);
      const ratio = bm25["ndcg@10"]! === 0 ? Number.NaN : result["ndcg@10"]! / bm25["ndcg@10"]!;
      ratios.push(`${name}: nDCG@10 ${modelLabel} ${mode} / BM25 = ${ratio.toFixed(3)}`);
    }
  } else {
    const dir = path.join(values.data, "bitext");
    for (const file of (await readdir(dir)).filter((f) => f.endsWith(".jsonl")).sort()) {
      await save(`bitext ${file.slice(0, -6)} · ${modelLabel}`, ["bitext", path.join(dir, file), "--model", model.dir]);
    }
  }
}

// 3. Report.
const reportFile = path.join(values.out, "report.md");
await run([cli, "eval-report", ...saved, "--out", reportFile, "--title", `Visible benchmarks — ${modelLabel}`]);
process.stdout.write(await readFile(reportFile, "utf8"));
process.stdout.write(`\n${ratios.join("\n")}\nmodel: ${model.dir} (${model.note})\nreport: ${reportFile}\n`);
