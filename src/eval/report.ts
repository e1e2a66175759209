import { readFile } from "node:fs/promises";
import path from "node:path";
import { EvalInputError } from "./errors.ts";

/**
 * `eval-report`: saved `--json` outputs of `eval`, `bitext` and `sts` → Markdown tables, one per kind of run,
 * one row per run, the best value of each quality column in bold among the runs of the same benchmark (labels
 * "benchmark · run"; runs without " · " in their label all compete with each other).
 */

export const RUN_KINDS = {
  retrieval: {
    title: "Retrieval",
    quality: ["ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100"],
    counts: ["queries", "seconds"],
  },
  bitext: { title: "Bitext mining", quality: ["accuracy", "accuracy_en2xx", "accuracy_xx2en"], counts: ["pairs"] },
  sts: { title: "STS", quality: ["spearman"], counts: ["pairs"] },
} as const;

export type RunKind = keyof typeof RUN_KINDS;

export interface SavedRun {
  label: string;
  file: string;
  kind: RunKind;
  values: Record<string, number>;
}

/** `LABEL=FILE` or just `FILE` (label = file name without `.json`). */
export function parseRunArgument(argument: string): { label: string; file: string } {
  const equals = argument.indexOf("=");
  if (equals > 0) return { label: argument.slice(0, equals), file: argument.slice(equals + 1) };
  return { label: path.basename(argument).replace(/\.json$/i, ""), file: argument };
}

export function kindOf(values: Record<string, unknown>): RunKind | null {
  const keys = new Set(Object.keys(values));
  for (const [kind, spec] of Object.entries(RUN_KINDS) as Array<[RunKind, (typeof RUN_KINDS)[RunKind]]>) {
    const expected = [...spec.quality, ...spec.counts];
    if (expected.length === keys.size && expected.every((key) => keys.has(key))) return kind;
  }
  return null;
}

export async function loadSavedRun(argument: string): Promise<SavedRun> {
  const { label, file } = parseRunArgument(argument);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new EvalInputError(file, null, "file not found");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new EvalInputError(file, null, `invalid JSON (${error instanceof Error ? error.message : error})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new EvalInputError(file, null, "expected one JSON object (the --json output of eval, bitext or sts)");
  }
  const values = parsed as Record<string, unknown>;
  const kind = kindOf(values);
  if (!kind) {
    const shapes = Object.values(RUN_KINDS).map((spec) => [...spec.quality, ...spec.counts].join(", "));
    throw new EvalInputError(
      file,
      null,
      `keys ${Object.keys(values).join(", ") || "(none)"} match no run kind; expected exactly one of: ${shapes.join(" | ")}`,
    );
  }
  for (const [key, value] of Object.entries(values)) {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new EvalInputError(file, null, `"${key}" must be a finite number`);
    }
  }
  return { label, file, kind, values: values as Record<string, number> };
}

function formatValue(key: string, value: number): string {
  if (key === "seconds") return value.toFixed(1);
  if (key === "queries" || key === "pairs") return String(Math.round(value));
  return value.toFixed(4);
}

/** The benchmark part of a "benchmark · run" label ("" when the label has no " · "). */
export function groupOf(label: string): string {
  const separator = label.indexOf(" · ");
  return separator < 0 ? "" : label.slice(0, separator);
}

/** Markdown for the runs, in the order given; labels with `|` are escaped so the table stays a table. */
export function renderReport(runs: readonly SavedRun[], title = "lance-e5 evaluation report"): string {
  const out: string[] = [`# ${title}`, ""];
  for (const [kind, spec] of Object.entries(RUN_KINDS) as Array<[RunKind, (typeof RUN_KINDS)[RunKind]]>) {
    const rows = runs.filter((run) => run.kind === kind);
    if (rows.length === 0) continue;
    const columns: string[] = [...spec.quality, ...spec.counts];
    // Best values are compared within a group only: runs labelled "man · BM25" and "man · model" are rivals,
    // "man · …" and "wordnet · …" are different benchmarks whose numbers do not compete.
    const groups = new Map<string, SavedRun[]>();
    for (const run of rows) groups.set(groupOf(run.label), [...(groups.get(groupOf(run.label)) ?? []), run]);
    const best = new Map<string, number>();
    for (const [group, members] of groups) {
      for (const key of spec.quality) best.set(`${group}\u0000${key}`, Math.max(...members.map((r) => r.values[key]!)));
    }
    out.push(`## ${spec.title}`, "");
    out.push(`| run | ${columns.join(" | ")} |`);
    out.push(`|---|${columns.map(() => "---:").join("|")}|`);
    for (const run of rows) {
      const group = groupOf(run.label);
      const rivals = groups.get(group)!.length;
      const cells = columns.map((key) => {
        const text = formatValue(key, run.values[key]!);
        const isBest = best.get(`${group}\u0000${key}`) === run.values[key];
        return rivals > 1 && isBest ? `**${text}**` : text;
      });
      out.push(`| ${run.label.replaceAll("|", "\\|")} | ${cells.join(" | ")} |`);
    }
    out.push("");
  }
  return out.join("\n");
}
