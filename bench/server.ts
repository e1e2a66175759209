/**
 * `npm run bench:server`: the HTTP server against the library it wraps, in one run, on one table of real text.
 *
 *   1. Table: State of the Union sentences + WordNet glosses (bench/server-corpus.ts), embedded with the default
 *      model (or the bench-mistral fixture before it exists), IVF-flat cosine index + FTS index. Vectors come from
 *      bench/.out/server-gpu/ when a GPU run of bench/server-table.py left them there (float16, each spot-checked
 *      against this runtime), else they are embedded here on CPU (slow on small machines: use --rows).
 *   2. /search (vector mode, k 10) at concurrency 1, 8, 32 with autocannon against `lance-e5 serve` in its own
 *      process, and the same queries through `search()` in this process: p50/p99 latency, requests/s, the
 *      server's peak RSS, overhead = p50 server / p50 direct; measured in interleaved slices (direct, then the same
 *      number of requests over HTTP, five times), plus a paired c=1 figure for the app layer alone (search() and
 *      the Hono app in this process alternating request by request), robust to load swings on a shared machine.
 *   3. /v1/embeddings (one query per request, concurrency 32): throughput with the default micro-batching window
 *      vs `--batch-window-ms 0`, same server otherwise: the batching gain.
 *
 * Flags: --rows N (default: all GPU vectors, else 20000), --duration S per measured point (default 15, as 5
 * interleaved slices), --model DIR. LANCE_E5_THREADS applies to both sides (default 2). Figures are printed and
 * written to bench/.out/server/result.json.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";
import * as lancedb from "@lancedb/lancedb";
import autocannon from "autocannon";
import { arrow } from "../src/lancedb/arrow.ts";
import { buildTableSchema } from "../src/lancedb/schema.ts";
import type { Embedder } from "../src/model/embedder.ts";
import { loadEmbedder } from "../src/model/index.ts";
import { openSearchTarget, type SearchTarget, search } from "../src/search/index.ts";
import { createApp, type LanceE5App } from "../src/server/app.ts";
import { benchCorpus } from "./server-corpus.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(ROOT, "bench/.out/server");
const GPU_DIR = path.join(ROOT, "bench/.out/server-gpu");
const TABLE = "bench";
const CONCURRENCY = [1, 8, 32];
/** Interleaved slices per measured setting (direct/server alternate; batched/unbatched alternate). */
const ROUNDS = 5;

const { values: flags } = parseArgs({
  options: { rows: { type: "string" }, duration: { type: "string", default: "15" }, model: { type: "string" } },
});
const DURATION = Number(flags.duration);
const THREADS = process.env.LANCE_E5_THREADS ?? "2";
process.env.LANCE_E5_THREADS = THREADS;
const MODEL_DIR =
  flags.model ??
  (existsSync(path.join(ROOT, "models/default/lance-e5.json"))
    ? path.join(ROOT, "models/default")
    : path.join(ROOT, "test/fixtures/models/bench-mistral"));

interface Measure {
  p50: number;
  p99: number;
  rps: number;
  requests: number;
  non2xx?: number;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ------------------------------------------------------------------ the table

function halfToFloat(h: number): number {
  const sign = h >> 15 ? -1 : 1;
  const exponent = (h >> 10) & 31;
  const mantissa = h & 1023;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** GPU-made vectors for the first `rows` corpus rows, if present and in agreement with this runtime. */
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
  // Spot check: float16 storage of the same recipe stays within 1e-3 of this runtime's float32 vectors.
  const sample = Array.from({ length: 32 }, (_, k) => Math.floor((k * texts.length) / 32));
  const fresh = await embedder.embedDocuments(sample.map((i) => texts[i]!));
  let worst = 0;
  sample.forEach((row, k) => {
    for (let j = 0; j < meta.dim; j++) worst = Math.max(worst, Math.abs(fresh[k]![j]! - vectors[row]![j]!));
  });
  if (worst > 1e-3) {
    log(`GPU vectors disagree with this runtime (max |diff| ${worst}); embedding on CPU instead`);
    return undefined;
  }
  log(`using ${texts.length} vectors embedded on ${meta.device} (spot check max |diff| ${worst.toExponential(1)})`);
  return vectors;
}

async function buildBenchTable(embedder: Embedder, rows: number): Promise<{ rows: number; vectorsFrom: string }> {
  const dbDir = path.join(OUT, "db");
  const stampFile = path.join(OUT, "table.json");
  const stamp = JSON.stringify({ rows, model: embedder.identity });
  if (existsSync(stampFile) && JSON.parse(readFileSync(stampFile, "utf8")).stamp === stamp) {
    log(`reusing table ${dbDir} (${rows} rows)`);
    return JSON.parse(readFileSync(stampFile, "utf8")).info;
  }
  const corpus = benchCorpus(ROOT, rows);
  const texts = corpus.map((r) => r.text);
  let vectors = await gpuVectors(embedder, texts);
  const vectorsFrom = vectors ? "gpu (float16, bench/server-table.py)" : "cpu (this runtime)";
  if (!vectors) {
    vectors = [];
    const started = performance.now();
    for (let i = 0; i < texts.length; i += 512) {
      vectors.push(...(await embedder.embedDocuments(texts.slice(i, i + 512))));
      const rate = vectors.length / ((performance.now() - started) / 1000);
      log(`embedded ${vectors.length}/${texts.length} (${rate.toFixed(0)}/s)`);
    }
  }
  rmSync(dbDir, { recursive: true, force: true });
  mkdirSync(dbDir, { recursive: true });
  const full = buildTableSchema({ identity: embedder.identity, defaultTask: embedder.config.default_task });
  // No embedding-registry entry: vectors are written here, and this process registers no plugin.
  const schema = new arrow.Schema(
    full.fields,
    new Map([...full.metadata].filter(([key]) => key !== "embedding_functions")),
  );
  const db = await lancedb.connect(dbDir);
  const table = await db.createEmptyTable(TABLE, schema);
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
  const info = { rows: corpus.length, vectorsFrom };
  writeFileSync(stampFile, JSON.stringify({ stamp, info }));
  return info;
}

// ------------------------------------------------------------------ measurements

/** Queries: the first words of every 400th corpus row (real phrasing, spread over both corpora). */
function benchQueries(rows: number): string[] {
  return benchCorpus(ROOT, rows)
    .filter((_, i) => i % 400 === 7)
    .map((r) => r.text.split(" ").slice(0, 7).join(" "));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Raw latencies (ms) and wall seconds of one measurement slice; slices of one setting are merged. */
interface Slice {
  latencies: number[];
  seconds: number;
  non2xx: number;
}

function summarise(slices: Slice[]): Measure {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = slices.reduce((n, s) => n + s.seconds, 0);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rps: latencies.length / seconds,
    requests: latencies.length,
    non2xx: slices.reduce((n, s) => n + s.non2xx, 0),
  };
}

async function directSlice(
  target: SearchTarget,
  embedder: Embedder,
  queries: string[],
  c: number,
  seconds: number,
): Promise<Slice> {
  let next = 0;
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await search({ target, embedder, query: queries[next++ % queries.length]!, k: 10 });
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies, seconds: (performance.now() - started) / 1000, non2xx: 0 };
}

/**
 * autocannon for a fixed number of requests, keeping every response time (its 'response' event) so slices can be
 * merged. A fixed count (not a duration) so no request is cut off in flight, which would bias req/s at high
 * concurrency; throughput is requests / wall time of the slice.
 */
async function httpSlice(url: string, bodies: string[], c: number, amount: number): Promise<Slice> {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: c,
        amount,
        requests: [
          {
            method: "POST",
            headers: { "content-type": "application/json" },
            setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }),
          },
        ],
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    instance.on("response", (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  });
  return { latencies, seconds: (performance.now() - started) / 1000, non2xx: result.non2xx + result.errors };
}

/**
 * Paired measurement at concurrency 1, in this process: each query once through `search()` and once through the
 * Hono app (`app.request()`: routing, auth/limits middleware, validation, JSON, the micro-batcher) with the same
 * embedder and table, alternating request by request so both see the same machine load. This isolates the app
 * layer's own overhead; the socket is left out. (Alternating with the separate server process instead is biased:
 * each process's ONNX Runtime threads spin for a while after a run and slow the other process's next call.)
 */
async function pairedAppOverhead(
  lanceE5: LanceE5App,
  target: SearchTarget,
  embedder: Embedder,
  queries: string[],
  pairs: number,
): Promise<{ direct_p50: number; app_p50: number; ratio: number; pairs: number }> {
  const direct: number[] = [];
  const app: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const query = queries[i % queries.length]!;
    let t = performance.now();
    await search({ target, embedder, query, k: 10 });
    direct.push(performance.now() - t);
    t = performance.now();
    const response = await lanceE5.app.request("/search", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, k: 10 }),
    });
    await response.json();
    app.push(performance.now() - t);
  }
  direct.sort((a, b) => a - b);
  app.sort((a, b) => a - b);
  const d = percentile(direct, 50);
  const h = percentile(app, 50);
  return { direct_p50: d, app_p50: h, ratio: h / d, pairs };
}

async function startServer(extra: string[]): Promise<{ child: ChildProcess; url: string }> {
  const args = ["serve", "--port", "0", "--db", path.join(OUT, "db"), "--table", TABLE, "--model", MODEL_DIR];
  const real = spawn(
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), ...args, "--threads", THREADS, ...extra],
    { cwd: ROOT, env: process.env, stdio: ["ignore", "ignore", "pipe"] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let stderr = "";
    real.stderr!.on("data", (chunk) => {
      stderr += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    real.on("exit", (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });
  return { child: real, url };
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

function fmt(m: Measure): string {
  return `p50 ${m.p50.toFixed(2).padStart(7)} ms  p99 ${m.p99.toFixed(2).padStart(7)} ms  ${m.rps.toFixed(1).padStart(7)} req/s`;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const embedder = await loadEmbedder(MODEL_DIR, { threads: Number(THREADS) });
  const gpuRows = existsSync(path.join(GPU_DIR, "meta.json"))
    ? (JSON.parse(readFileSync(path.join(GPU_DIR, "meta.json"), "utf8")) as { rows: number }).rows
    : 0;
  const rows = Number(flags.rows ?? (gpuRows > 0 ? gpuRows : 20_000));
  const table = await buildBenchTable(embedder, rows);
  const queries = benchQueries(table.rows);
  log(
    `model ${embedder.config.name} (dim ${embedder.dim}), ${table.rows} rows, ${queries.length} queries, ${THREADS} threads`,
  );

  const target = await openSearchTarget({ db: path.join(OUT, "db"), tableName: TABLE }, embedder.identity);
  const searchBodies = queries.map((query) => JSON.stringify({ query, k: 10 }));
  const embedBodies = queries.map((query) => JSON.stringify({ model: "default", input: query, input_type: "query" }));
  const server = await startServer([]);
  const unbatched = await startServer(["--batch-window-ms", "0"]);

  // Warm-up of all three, then each setting measured in ROUNDS interleaved slices, so that load from other
  // processes on the machine falls on both sides of every comparison alike.
  await directSlice(target, embedder, queries, 8, 2);
  await httpSlice(`${server.url}/search`, searchBodies, 8, 40);
  const warm = await httpSlice(`${unbatched.url}/v1/embeddings`, embedBodies, 8, 40);
  const slice = DURATION / ROUNDS;
  const direct: Record<number, Measure> = {};
  const http: Record<number, Measure> = {};
  for (const c of CONCURRENCY) {
    const d: Slice[] = [];
    const h: Slice[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const directPart = await directSlice(target, embedder, queries, c, slice);
      d.push(directPart);
      // The same amount of work as the direct slice just did (at least two requests per connection).
      h.push(await httpSlice(`${server.url}/search`, searchBodies, c, Math.max(2 * c, directPart.latencies.length)));
    }
    direct[c] = summarise(d);
    http[c] = summarise(h);
    log(`c=${String(c).padStart(2)}  direct ${fmt(direct[c])}  |  server ${fmt(http[c])}  non-2xx ${http[c].non2xx}`);
  }
  const lanceE5 = createApp({ embedder, db: await lancedb.connect(path.join(OUT, "db")), defaultTable: TABLE });
  await lanceE5.warmUp();
  const paired = await pairedAppOverhead(lanceE5, target, embedder, queries, 300);
  log(`paired c=1 in-process: direct p50 ${paired.direct_p50.toFixed(2)} ms, app p50 ${paired.app_p50.toFixed(2)} ms`);
  await embedder.dispose();

  const batchStats = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return {
      sum: Number(/lance_e5_embed_batch_size_sum (\d+)/.exec(text)?.[1]),
      count: Number(/lance_e5_embed_batch_size_count (\d+)/.exec(text)?.[1]),
    };
  };
  const before = await batchStats();
  const batchedSlices: Slice[] = [];
  const unbatchedSlices: Slice[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Both get the same request count, sized from the previous slice's rate to last about `slice` seconds.
    const previous = batchedSlices.at(-1) ?? warm;
    const amount = Math.max(64, Math.round((previous.latencies.length / previous.seconds) * slice));
    batchedSlices.push(await httpSlice(`${server.url}/v1/embeddings`, embedBodies, 32, amount));
    unbatchedSlices.push(await httpSlice(`${unbatched.url}/v1/embeddings`, embedBodies, 32, amount));
  }
  const embedBatched = summarise(batchedSlices);
  const embedUnbatched = summarise(unbatchedSlices);
  const afterStats = await batchStats();
  // Texts per model call during the batched /v1/embeddings slices only.
  const batchSum = afterStats.sum - before.sum;
  const batchCount = afterStats.count - before.count;
  const rss = peakRssMiB(server.child.pid!);
  await stopServer(server.child);
  await stopServer(unbatched.child);
  log(`embeddings c=32: default window ${fmt(embedBatched)} | window 0 ${fmt(embedUnbatched)}`);

  const result = {
    model: embedder.config.name,
    rows: table.rows,
    vectors_from: table.vectorsFrom,
    threads: Number(THREADS),
    duration_s_per_point: DURATION,
    rounds: ROUNDS,
    direct,
    server: http,
    app_overhead_p50_paired_c1: paired,
    overhead_p50: Object.fromEntries(CONCURRENCY.map((c) => [c, http[c]!.p50 / direct[c]!.p50])),
    server_peak_rss_mib: rss,
    mean_batch_size: batchSum / batchCount,
    embeddings_c32_rps: { default_window: embedBatched.rps, window_0: embedUnbatched.rps },
    batching_gain: embedBatched.rps / embedUnbatched.rps,
  };
  writeFileSync(path.join(OUT, "result.json"), `${JSON.stringify(result, null, 2)}\n`);

  const lines = [
    `bench:server — ${result.model}, ${result.rows} rows of real text (vectors: ${result.vectors_from}), ${THREADS} threads, ${DURATION} s per point in ${ROUNDS} interleaved slices`,
    "",
    "/search (vector, k=10)   library direct                          | lance-e5 serve (HTTP, autocannon)       | overhead p50",
    ...CONCURRENCY.map(
      (c) =>
        `  c=${String(c).padStart(2)}                   ${fmt(direct[c]!)} | ${fmt(http[c]!)} | ${result.overhead_p50[c]!.toFixed(2)}×`,
    ),
    "",
    `app layer, c=1, in-process (search() and app.request() alternating, ${paired.pairs} pairs): direct p50 ${paired.direct_p50.toFixed(2)} ms, app p50 ${paired.app_p50.toFixed(2)} ms → ${paired.ratio.toFixed(2)}×`,
    `server peak RSS: ${rss.toFixed(0)} MiB`,
    `/v1/embeddings c=32 (1 query/request): default window ${embedBatched.rps.toFixed(1)} req/s, --batch-window-ms 0 ${embedUnbatched.rps.toFixed(1)} req/s → batching gain ${result.batching_gain.toFixed(2)}× (mean texts per model call ${result.mean_batch_size.toFixed(1)})`,
    `non-2xx responses: ${CONCURRENCY.map((c) => http[c]!.non2xx).join(", ")} (search), ${embedBatched.non2xx}, ${embedUnbatched.non2xx} (embeddings)`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
