import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ingestDocuments } from "../../ingest/index.ts";
import { TASK_INSTRUCTIONS } from "../../instructions/index.ts";
import { type Connection, connectDb, type DbLike } from "../../lancedb/connection.ts";
import type { Embedder } from "../../model/embedder.ts";
import { openSearchTarget, search } from "../../search/index.ts";
import { buildPool, type PasskeyPool } from "./documents.ts";

/**
 * The personalised passkey test run the way users retrieve: each length's pool is ingested whole (one vector per
 * document) through src/ingest and every question goes through src/search with the passkey instruction. The same
 * pools are searched with LanceDB's full-text index as the reference row (REFERENCE.md §5: names are rare tokens,
 * so BM25 solves the test; a model must be judged beside it).
 */

export type PasskeyVariant = "passkey" | "needle";

export interface PasskeyResult {
  variant: PasskeyVariant;
  length: number;
  rope_base: number;
  accuracy: number;
  queries: number;
  candidates: number;
  seconds: number;
}

export interface FulltextResult {
  variant: PasskeyVariant;
  length: number;
  accuracy: number;
}

/** The `--json` object (a contract). */
export interface PasskeyReport {
  instruction: string;
  results: PasskeyResult[];
  fulltext: FulltextResult[];
}

export interface PasskeyRunOptions {
  /** Loads the model at a RoPE base with room for the longest document. */
  loadEmbedder: (ropeBase: number, maxLength: number) => Promise<Embedder>;
  lengths: number[];
  ropeBases: number[];
  variants: PasskeyVariant[];
  candidates: number;
  queries: number;
  seed: number;
  /** Needle haystack sentences (held-out real text); required for the needle variant. */
  haystack?: string[];
  /** Keep the tables here (path, URI or connection); default: a temporary directory removed afterwards. */
  db?: DbLike;
  onProgress?: (message: string) => void;
}

export const PASSKEY_INSTRUCTION = TASK_INSTRUCTIONS.passkey;

export async function runPasskey(options: PasskeyRunOptions): Promise<PasskeyReport> {
  const maxLength = Math.max(...options.lengths);
  const temporaryDir =
    options.db === undefined ? await mkdtemp(path.join(os.tmpdir(), "lance-e5-passkey-")) : undefined;
  const db = await connectDb(options.db ?? temporaryDir!);
  const report: PasskeyReport = { instruction: PASSKEY_INSTRUCTION, results: [], fulltext: [] };
  const pools = new Map<string, PasskeyPool>();
  try {
    for (const [baseIndex, ropeBase] of options.ropeBases.entries()) {
      const embedder = await options.loadEmbedder(ropeBase, maxLength);
      try {
        // Token counts do not depend on the RoPE base, so pools are built once (with the first model loaded).
        const count = (text: string) => embedder.encode(text, Number.MAX_SAFE_INTEGER).ids.length;
        for (const variant of options.variants) {
          for (const length of options.lengths) {
            const key = `${variant}-${length}`;
            let pool = pools.get(key);
            if (!pool) {
              options.onProgress?.(`building ${options.candidates} ${variant} documents of ${length} tokens`);
              pool = buildPool({
                variant,
                length,
                candidates: options.candidates,
                queries: options.queries,
                seed: options.seed,
                count,
                haystack: options.haystack,
              });
              pools.set(key, pool);
            }
            const started = performance.now();
            const table = `${variant}_${length}_${String(ropeBase).replace(/\W/g, "_")}`;
            options.onProgress?.(`embedding ${variant} ${length} tokens at RoPE base ${ropeBase}`);
            await ingestDocuments({
              db,
              table,
              embedder,
              whole: true,
              documents: pool.documents.map((d) => ({ id: d.id, text: d.text, source: d.id })),
              defaultTask: "passkey",
            });
            const accuracy = await topOneAccuracy(db, table, embedder, pool, "vector");
            report.results.push({
              variant,
              length,
              rope_base: ropeBase,
              accuracy,
              queries: pool.queries.length,
              candidates: pool.documents.length,
              seconds: round((performance.now() - started) / 1000),
            });
            if (baseIndex === 0) {
              report.fulltext.push({
                variant,
                length,
                accuracy: await topOneAccuracy(db, table, embedder, pool, "fulltext"),
              });
            }
          }
        }
      } finally {
        await embedder.dispose();
      }
    }
  } finally {
    // A connection handed in is the caller's to close.
    if (typeof options.db !== "object") db.close();
    if (temporaryDir) await rm(temporaryDir, { recursive: true, force: true });
  }
  return report;
}

async function topOneAccuracy(
  db: Connection,
  tableName: string,
  embedder: Embedder,
  pool: PasskeyPool,
  mode: "vector" | "fulltext",
): Promise<number> {
  const target = await openSearchTarget({ db, tableName }, embedder.identity);
  let correct = 0;
  for (const query of pool.queries) {
    const { results } = await search({ embedder, target, query: query.text, task: "passkey", k: 1, mode });
    if (results[0]?.doc_id === query.answerId) correct++;
  }
  return round(correct / pool.queries.length);
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** The text table: one row per (variant, RoPE base) and the full-text reference rows, one column per length. */
export function formatPasskeyTable(report: PasskeyReport): string {
  const lengths = [...new Set(report.results.map((r) => r.length))].sort((a, b) => a - b);
  const header = ["variant", "model", ...lengths.map(String)];
  const rows: string[][] = [];
  const keys = [...new Set(report.results.map((r) => `${r.variant}\u0000${r.rope_base}`))];
  for (const key of keys) {
    const [variant, base] = key.split("\u0000") as [string, string];
    const cells = lengths.map((length) => {
      const hit = report.results.find(
        (r) => r.variant === variant && String(r.rope_base) === base && r.length === length,
      );
      return hit ? hit.accuracy.toFixed(2) : "-";
    });
    rows.push([variant, `RoPE base ${Number(base).toExponential(0)}`, ...cells]);
  }
  for (const variant of new Set(report.fulltext.map((r) => r.variant))) {
    const cells = lengths.map((length) => {
      const hit = report.fulltext.find((r) => r.variant === variant && r.length === length);
      return hit ? hit.accuracy.toFixed(2) : "-";
    });
    rows.push([variant, "full-text (BM25)", ...cells]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
