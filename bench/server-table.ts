/**
 * The bench:server table, built once and cached under bench/.out/server/ (keyed by row count and model identity):
 * State of the Union sentences + WordNet glosses (bench/server-corpus.ts), embedded with the benchmark's model,
 * IVF-flat cosine index + FTS index.
 *
 * Vectors come from bench/.out/server-gpu/ when a GPU run of bench/server-table.py left them there for this model
 * (float16, spot-checked against this runtime), else they are embedded here on CPU in parts of 10,000 rows that are
 * kept on disk, so an interrupted build resumes where it stopped.
 *
 *   node --import tsx bench/server-table.ts [--rows N] [--model DIR]     builds (or reuses) the table and exits
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";
import * as lancedb from "@lancedb/lancedb";
import { arrow } from "../src/lancedb/arrow.ts";
import { buildTableSchema } from "../src/lancedb/schema.ts";
import type { Embedder } from "../src/model/embedder.ts";
import { loadEmbedder } from "../src/model/index.ts";
import { benchCorpus } from "./server-corpus.ts";

export const BENCH_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const BENCH_OUT = path.join(BENCH_ROOT, "bench/.out/server");
export const BENCH_TABLE = "bench";
const GPU_DIR = path.join(BENCH_ROOT, "bench/.out/server-gpu");
/** Rows embedded per cached part on CPU. */
const PART_ROWS = 10_000;
/** The floor for the benchmark table. */
export const DEFAULT_ROWS = 110_000;

export interface BenchTable {
  rows: number;
  vectorsFrom: string;
  /** The LanceDB directory holding table BENCH_TABLE. */
  db: string;
}

/** One cached table per model (bench/.out/server/db-<model hash>), so switching --model does not rebuild. */
function tableDir(embedder: Embedder): string {
  return path.join(BENCH_OUT, `db-${embedder.identity.hash.slice(0, 16)}`);
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The model the benchmark runs: --model, else the shipped default, else the largest parity fixture. */
export function benchModelDir(flag?: string): string {
  if (flag !== undefined) return path.resolve(flag);
  return existsSync(path.join(BENCH_ROOT, "models/default/lance-e5.json"))
    ? path.join(BENCH_ROOT, "models/default")
    : path.join(BENCH_ROOT, "test/fixtures/models/bench-mistral");
}

function halfToFloat(h: number): number {
  const sign = h >> 15 ? -1 : 1;
  const exponent = (h >> 10) & 31;
  const mantissa = h & 1023;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** GPU-made vectors for the corpus rows, if present, of this model's width, and in agreement with this runtime. */
async function gpuVectors(embedder: Embedder, texts: string[]): Promise<Float32Array[] | undefined> {
  const metaFile = path.join(GPU_DIR, "meta.json");
  if (!existsSync(metaFile)) return undefined;
  const meta = JSON.parse(readFileSync(metaFile, "utf8")) as {
    rows: number;
    dim: number;
    files: string[];
    device: string;
  };
  const gpuTexts = gunzipSync(readFileSync(path.join(GPU_DIR, "texts.jsonl.gz")))
    .toString("utf8")
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { text: string }).text);
  if (meta.dim !== embedder.dim || meta.rows < texts.length || texts.some((t, i) => gpuTexts[i] !== t))
    return undefined;
  const bytes = Buffer.concat(meta.files.map((f) => readFileSync(path.join(GPU_DIR, f))));
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  const vectors = texts.map((_, i) => {
    const v = new Float32Array(meta.dim);
    for (let j = 0; j < meta.dim; j++) v[j] = halfToFloat(halves[i * meta.dim + j]!);
    return v;
  });
  // The GPU vectors may come from another model of the same width: float16 storage of the same model stays within
  // 1e-3 of this runtime's float32 vectors, anything else is far off.
  const sample = Array.from({ length: 32 }, (_, k) => Math.floor((k * texts.length) / 32));
  const fresh = await embedder.embedDocuments(sample.map((i) => texts[i]!));
  let worst = 0;
  sample.forEach((row, k) => {
    for (let j = 0; j < meta.dim; j++) worst = Math.max(worst, Math.abs(fresh[k]![j]! - vectors[row]![j]!));
  });
  if (worst > 1e-3) {
    log(`GPU vectors are not this model's (max |diff| ${worst.toFixed(3)}); embedding on CPU instead`);
    return undefined;
  }
  log(`using ${texts.length} vectors embedded on ${meta.device} (spot check max |diff| ${worst.toExponential(1)})`);
  return vectors;
}

/** CPU embedding in cached parts: bench/.out/server/vectors-<model hash>/rows-<from>-<to>.f32 (raw float32). */
async function cpuVectors(embedder: Embedder, texts: string[]): Promise<Float32Array[]> {
  const dir = path.join(BENCH_OUT, `vectors-${embedder.identity.hash.slice(0, 16)}`);
  mkdirSync(dir, { recursive: true });
  const vectors: Float32Array[] = [];
  const started = performance.now();
  let embedded = 0;
  for (let part = 0; part * PART_ROWS < texts.length; part++) {
    const slice = texts.slice(part * PART_ROWS, (part + 1) * PART_ROWS);
    const file = path.join(dir, `rows-${part * PART_ROWS}-${part * PART_ROWS + slice.length}.f32`);
    let partVectors: Float32Array[];
    if (existsSync(file) && readFileSync(file).byteLength === slice.length * embedder.dim * 4) {
      const bytes = readFileSync(file);
      const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      partVectors = slice.map((_, i) => all.slice(i * embedder.dim, (i + 1) * embedder.dim));
    } else {
      partVectors = [];
      for (let i = 0; i < slice.length; i += 500) {
        partVectors.push(...(await embedder.embedDocuments(slice.slice(i, i + 500))));
        embedded += Math.min(500, slice.length - i);
        const rate = embedded / ((performance.now() - started) / 1000);
        log(
          `embedded ${part * PART_ROWS + i + Math.min(500, slice.length - i)}/${texts.length} (${rate.toFixed(0)} rows/s)`,
        );
      }
      const all = new Float32Array(slice.length * embedder.dim);
      partVectors.forEach((v, i) => {
        all.set(v, i * embedder.dim);
      });
      writeFileSync(`${file}.tmp`, all);
      renameSync(`${file}.tmp`, file);
    }
    vectors.push(...partVectors);
  }
  return vectors;
}

/** Builds the table unless the cached one matches (rows, model identity); returns what it holds. */
export async function buildBenchTable(embedder: Embedder, rows: number): Promise<BenchTable> {
  const dbDir = tableDir(embedder);
  const stampFile = path.join(dbDir, "bench-table.json");
  const stamp = JSON.stringify({ rows, model: embedder.identity });
  if (existsSync(stampFile) && JSON.parse(readFileSync(stampFile, "utf8")).stamp === stamp) {
    log(`reusing table ${dbDir} (${rows} rows)`);
    return { ...JSON.parse(readFileSync(stampFile, "utf8")).info, db: dbDir };
  }
  const corpus = benchCorpus(BENCH_ROOT, rows);
  const texts = corpus.map((r) => r.text);
  const fromGpu = await gpuVectors(embedder, texts);
  const vectors = fromGpu ?? (await cpuVectors(embedder, texts));
  const vectorsFrom = fromGpu ? "gpu (float16, bench/server-table.py)" : "cpu (this runtime)";
  rmSync(dbDir, { recursive: true, force: true });
  mkdirSync(dbDir, { recursive: true });
  const full = buildTableSchema({ identity: embedder.identity, defaultTask: embedder.config.default_task });
  // No embedding-registry entry: vectors are written here, and the benchmark registers no plugin.
  const schema = new arrow.Schema(
    full.fields,
    new Map([...full.metadata].filter(([key]) => key !== "embedding_functions")),
  );
  const db = await lancedb.connect(dbDir);
  const table = await db.createEmptyTable(BENCH_TABLE, schema);
  for (let i = 0; i < corpus.length; i += 10_000) {
    await table.add(
      corpus.slice(i, i + 10_000).map((r, k) => ({
        id: r.id,
        doc_id: r.id,
        source: r.source,
        title: null,
        text: r.text,
        chunk_index: 0,
        char_start: 0,
        char_end: r.text.length,
        parent_id: null,
        metadata: { format: "txt", extra: null },
        vector: Array.from(vectors[i + k]!),
      })),
    );
  }
  const started = performance.now();
  await table.createIndex("vector", {
    config: lancedb.Index.ivfFlat({ numPartitions: Math.round(Math.sqrt(rows)), distanceType: "cosine" }),
  });
  await table.createIndex("text", { config: lancedb.Index.fts() });
  log(
    `table built: ${await table.countRows()} rows, indexes in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  const info: BenchTable = { rows: corpus.length, vectorsFrom, db: dbDir };
  writeFileSync(stampFile, JSON.stringify({ stamp, info }));
  return info;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { rows: { type: "string" }, model: { type: "string" } } });
  const embedder = await loadEmbedder(benchModelDir(values.model), {
    threads: Number(process.env.LANCE_E5_THREADS ?? "2"),
  });
  const table = await buildBenchTable(embedder, Number(values.rows ?? DEFAULT_ROWS));
  log(`${table.rows} rows, vectors from ${table.vectorsFrom}`);
  await embedder.dispose();
}
