import { createHash } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultCorpusRoots } from "../../corpora/roots.ts";
import { bibleBuilder } from "./bible.ts";
import { type SourceBuilder, sameText } from "./builder.ts";
import { docsBuilder } from "./docs.ts";
import { gettextBuilder } from "./gettext.ts";
import { manBuilder } from "./man.ts";
import { createRng } from "./random.ts";
import { sotuBuilder } from "./sotu.ts";
import {
  OFFLINE_SOURCES,
  type OfflineOptions,
  type OfflineSource,
  type OfflineSummary,
  type SynthExample,
  TASK_FAMILIES,
  type TaskFamily,
} from "./types.ts";
import { wordnetBuilder } from "./wordnet.ts";

export const OFFLINE_BUILDERS: Readonly<Record<OfflineSource, SourceBuilder>> = {
  man: manBuilder,
  wordnet: wordnetBuilder,
  gettext: gettextBuilder,
  bible: bibleBuilder,
  sotu: sotuBuilder,
  docs: docsBuilder,
};

/**
 * Share of each family in the output, after the paper's mix (REFERENCE.md §3: 167k short-long, 122k long-short,
 * 13k short-short, 17k long-long, 99k STS, 89k bitext), with the small families raised (offline they cost
 * nothing) and a little long-context added. Families no selected source can build are dropped, the rest rescaled.
 */
export const FAMILY_WEIGHTS: Readonly<Record<TaskFamily, number>> = {
  "short-long": 0.28,
  "long-short": 0.22,
  "short-short": 0.07,
  "long-long": 0.07,
  sts: 0.15,
  bitext: 0.18,
  "long-context": 0.03,
};

export class OfflineOptionsError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = "OfflineOptionsError";
  }
}

/** Splits `count` over (source, family) by the family weights and each source's share of the family. */
export function planQuotas(
  sources: readonly OfflineSource[],
  count: number,
): Map<OfflineSource, Partial<Record<TaskFamily, number>>> {
  const families = TASK_FAMILIES.filter((f) => sources.some((s) => (OFFLINE_BUILDERS[s].families[f] ?? 0) > 0));
  const totalWeight = families.reduce((sum, f) => sum + FAMILY_WEIGHTS[f], 0);
  const plan = new Map<OfflineSource, Partial<Record<TaskFamily, number>>>(sources.map((s) => [s, {}]));
  // Largest-remainder rounding so the quotas add up to exactly `count`.
  const cells: Array<{ source: OfflineSource; family: TaskFamily; exact: number }> = [];
  for (const family of families) {
    const familyShare = (count * FAMILY_WEIGHTS[family]) / totalWeight;
    const builders = sources.filter((s) => (OFFLINE_BUILDERS[s].families[family] ?? 0) > 0);
    const sourceWeight = builders.reduce((sum, s) => sum + (OFFLINE_BUILDERS[s].families[family] ?? 0), 0);
    for (const source of builders) {
      cells.push({
        source,
        family,
        exact: (familyShare * (OFFLINE_BUILDERS[source].families[family] ?? 0)) / sourceWeight,
      });
    }
  }
  let assigned = 0;
  for (const cell of cells) assigned += Math.floor(cell.exact);
  const byRemainder = [...cells].sort((a, b) => (b.exact % 1) - (a.exact % 1));
  const bonus = new Set(byRemainder.slice(0, count - assigned));
  for (const cell of cells) {
    (plan.get(cell.source) as Partial<Record<TaskFamily, number>>)[cell.family] =
      Math.floor(cell.exact) + (bonus.has(cell) ? 1 : 0);
  }
  return plan;
}

interface Stream {
  source: OfflineSource;
  family: TaskFamily;
  iterator: AsyncGenerator<SynthExample>;
  remaining: number;
  done: boolean;
}

/**
 * The offline synthetic-data generator (`lance-e5 synth --offline`).
 *
 * Yields `count` examples (fewer only if every selected corpus runs out), interleaved across sources and families
 * in a seeded order; the generator's return value is the run summary. Deterministic: the same seed over the same
 * installed corpora gives the same examples in the same order. Never yields anything derived from a held-out
 * document (src/data/split.ts): every corpus document is checked before its text is used, and every id it
 * contributed is listed in `meta.doc_ids`. Memory: each source keeps a seeded sample sized to its quota; BM25
 * indexes live in temporary LanceDB tables under `workDir`.
 *
 * @example
 *   const run = generateOffline({ sources: ["man", "bible"], count: 1000, seed: 7 });
 *   for await (const example of run) write(example);
 */
export async function* generateOffline(options: OfflineOptions): AsyncGenerator<SynthExample, OfflineSummary> {
  const started = Date.now();
  const sources = [...new Set(options.sources ?? OFFLINE_SOURCES)];
  for (const source of sources) {
    if (!OFFLINE_SOURCES.includes(source)) {
      throw new OfflineOptionsError(`unknown offline source "${source}"; known: ${OFFLINE_SOURCES.join(", ")}`);
    }
  }
  if (sources.length === 0) throw new OfflineOptionsError("no offline sources selected");
  if (!Number.isInteger(options.count) || options.count < 1) {
    throw new OfflineOptionsError(`count must be a positive integer, got ${options.count}`);
  }
  const seed = String(options.seed ?? 0);
  const rng = createRng(`offline/${seed}`);
  const roots = defaultCorpusRoots(options.roots);
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(path.join(os.tmpdir(), "lance-e5-offline-")));
  const plan = planQuotas(sources, options.count);
  const summary: OfflineSummary = {
    requested: options.count,
    written: 0,
    perFamily: Object.fromEntries(TASK_FAMILIES.map((f) => [f, 0])) as Record<TaskFamily, number>,
    perSource: {},
    distinctInstructions: 0,
    shortfall: {},
    exhausted: [],
    seconds: 0,
  };
  const closers: Array<() => Promise<void>> = [];
  const streams: Stream[] = [];
  try {
    for (const source of sources) {
      options.onProgress?.({ phase: "index", source, written: 0, total: options.count });
      const quota = plan.get(source) ?? {};
      const sourceDir = path.join(workDir, source);
      await mkdir(sourceDir, { recursive: true });
      const prepared = await OFFLINE_BUILDERS[source].prepare({
        seed: `${seed}/${source}`,
        rng: createRng(`offline/${seed}/${source}`),
        roots,
        workDir: sourceDir,
        quota,
      });
      closers.push(prepared.close);
      for (const family of TASK_FAMILIES) {
        const iterator = prepared.streams[family];
        const remaining = quota[family] ?? 0;
        if (iterator !== undefined && remaining > 0) streams.push({ source, family, iterator, remaining, done: false });
      }
    }
    const seen = new Set<string>();
    const instructions = new Set<string>();
    while (summary.written < options.count) {
      const active = streams.filter((s) => !s.done && s.remaining > 0);
      if (active.length === 0) break;
      const stream = active[rng.weighted(active.map((s) => s.remaining))] as Stream;
      const next = await stream.iterator.next();
      if (next.done) {
        stream.done = true;
        summary.exhausted.push(`${stream.source}/${stream.family}`);
        redistribute(stream, streams);
        continue;
      }
      const example = next.value;
      if (example.negative !== undefined && sameText(example.negative, example.positive)) continue;
      const fingerprint = createHash("sha256")
        .update(`${example.task_family}\u0000${example.instruction}\u0000${example.query}\u0000${example.positive}`)
        .digest("base64");
      if (seen.has(fingerprint)) continue;
      seen.add(fingerprint);
      instructions.add(example.instruction);
      stream.remaining--;
      summary.written++;
      summary.perFamily[example.task_family]++;
      summary.perSource[stream.source] = (summary.perSource[stream.source] ?? 0) + 1;
      if (summary.written % 250 === 0) {
        options.onProgress?.({
          phase: "generate",
          source: stream.source,
          written: summary.written,
          total: options.count,
        });
      }
      yield example;
    }
    summary.distinctInstructions = instructions.size;
    // Quota nobody could take over (every stream of every corpus ran dry).
    for (const stream of streams) {
      if (stream.remaining > 0) summary.shortfall[`${stream.source}/${stream.family}`] = stream.remaining;
    }
  } finally {
    for (const stream of streams) await stream.iterator.return(undefined as never);
    for (const close of closers) await close();
    if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
  }
  summary.seconds = Number(((Date.now() - started) / 1000).toFixed(1));
  return summary;
}

/**
 * A stream ran out: hand its remaining quota to the other streams of the same family (other corpora), or, when
 * none is left, to every remaining stream — so `count` is met while any corpus still has material.
 */
function redistribute(exhausted: Stream, streams: Stream[]): void {
  const live = streams.filter((s) => !s.done);
  const sameFamily = live.filter((s) => s.family === exhausted.family);
  // Long-context documents are large and endless: they take overflow only when nothing else is left.
  const others = live.filter((s) => s.family !== "long-context");
  const heirs = sameFamily.length > 0 ? sameFamily : others.length > 0 ? others : live;
  if (heirs.length === 0) return;
  const share = Math.floor(exhausted.remaining / heirs.length);
  let rest = exhausted.remaining - share * heirs.length;
  for (const heir of heirs) {
    heir.remaining += share + (rest > 0 ? 1 : 0);
    rest--;
  }
  exhausted.remaining = 0;
}

/** Runs the generator and writes JSONL to `out` (via a temporary file renamed at the end); returns the summary. */
export async function writeOffline(options: OfflineOptions & { out: string }): Promise<OfflineSummary> {
  await mkdir(path.dirname(path.resolve(options.out)), { recursive: true });
  const partial = `${options.out}.partial`;
  const file = createWriteStream(partial, { encoding: "utf8" });
  const run = generateOffline(options);
  let result: IteratorResult<SynthExample, OfflineSummary>;
  try {
    for (result = await run.next(); !result.done; result = await run.next()) {
      if (!file.write(`${JSON.stringify(result.value)}\n`)) await once(file, "drain");
    }
  } catch (error) {
    file.destroy();
    await rm(partial, { force: true });
    throw error;
  }
  file.end();
  await once(file, "finish");
  await rename(partial, options.out);
  return result.value;
}
