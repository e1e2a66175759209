/**
 * `npm run bench:server`: the HTTP server against the library it wraps, in one run, on one table of real text.
 *
 *   1. Table: ≥100k rows of real text embedded with the default model (bench/server-table.ts; built once, cached
 *      per model under bench/.out/server/).
 *   2. /search (vector mode, k 10) at concurrency 1, 8, 32: autocannon (in this process) against `lance-e5 serve`
 *      (its own process), and the same queries through `search()` in a process of its own (bench/server-direct.ts),
 *      so both sides run alike and neither shares CPU time slices of its event loop or ONNX Runtime threads with the
 *      load generator. p50/p99 latency, requests/s, overhead = p50 server / p50 direct, measured in interleaved
 *      slices (direct, then the same number of requests over HTTP, five times) so load swings on a shared machine
 *      fall on both sides alike; plus the app layer's own cost at c=1 (search() and app.request() alternating).
 *   3. /v1/embeddings (one query per request) against two servers that differ only in `--batch-window-ms` (the
 *      default, and 0): c=32 throughput → the batching gain; c=1 latency → what a lone client pays for batching.
 *      Beside it, the model's own ceiling: one-query calls vs one call of 32 queries, in the direct process.
 *
 * Flags: --rows N (default 110000), --duration S per measured point (default 15, as 5 interleaved slices),
 * --model DIR. LANCE_E5_THREADS (default 2) applies to the server and the direct process alike. Figures are printed
 * and written to bench/.out/server/result.json.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { loadEmbedder } from "../src/model/index.ts";
import { DEFAULT_BATCHING } from "../src/server/options.ts";
import { benchCorpus } from "./server-corpus.ts";
import { BENCH_OUT, BENCH_ROOT, BENCH_TABLE, benchModelDir, buildBenchTable, DEFAULT_ROWS } from "./server-table.ts";

const CONCURRENCY = [1, 8, 32];
/** Interleaved slices per measured setting (direct/server alternate; batched/unbatched alternate). */
const ROUNDS = 5;

const { values: flags } = parseArgs({
  options: { rows: { type: "string" }, duration: { type: "string", default: "15" }, model: { type: "string" } },
});
const DURATION = Number(flags.duration);
const THREADS = process.env.LANCE_E5_THREADS || "2";
const MODEL_DIR = benchModelDir(flags.model);

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

/** Queries: the first words of every 400th corpus row (real phrasing, spread over both corpora). */
function benchQueries(rows: number): string[] {
  return benchCorpus(BENCH_ROOT, rows)
    .filter((_, i) => i % 400 === 7)
    .map((r) => r.text.split(" ").slice(0, 7).join(" "));
}

/** uptime's load averages (1, 5, 15 min). */
function loadAverage(): string {
  return os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(", ");
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

async function startServer(db: string, extra: string[]): Promise<{ child: ChildProcess; url: string }> {
  const args = ["serve", "--port", "0", "--db", db, "--table", BENCH_TABLE, "--model", MODEL_DIR];
  const real = spawn(
    process.execPath,
    ["--import", "tsx", path.join(BENCH_ROOT, "src/cli/main.ts"), ...args, "--threads", THREADS, ...extra],
    { cwd: BENCH_ROOT, env: process.env, stdio: ["ignore", "ignore", "pipe"] },
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

/** The direct side: bench/server-direct.ts in its own process, driven over IPC. */
interface DirectProcess {
  call<T>(request: Record<string, unknown>): Promise<T>;
  child: ChildProcess;
}

async function startDirect(db: string, queriesFile: string): Promise<DirectProcess> {
  const child = fork(
    path.join(BENCH_ROOT, "bench/server-direct.ts"),
    [MODEL_DIR, db, BENCH_TABLE, THREADS, queriesFile],
    { cwd: BENCH_ROOT, execArgv: ["--import", "tsx"], stdio: ["ignore", "ignore", "inherit", "ipc"] },
  );
  const waiting = new Map<number, (reply: unknown) => void>();
  let ids = 0;
  const ready = new Promise<void>((resolve, reject) => {
    waiting.set(0, () => resolve());
    child.once("exit", (code) => reject(new Error(`direct process exited ${code}`)));
  });
  child.on("message", (message: { id: number; reply: unknown }) => {
    waiting.get(message.id)?.(message.reply);
    waiting.delete(message.id);
  });
  await ready;
  return {
    child,
    call<T>(request: Record<string, unknown>) {
      const id = ++ids;
      return new Promise<T>((resolve) => {
        waiting.set(id, (reply) => resolve(reply as T));
        child.send({ ...request, id });
      });
    },
  };
}

async function directSlice(direct: DirectProcess, c: number, seconds: number): Promise<Slice> {
  const { latencies, seconds: wall } = await direct.call<{ latencies: number[]; seconds: number }>({
    op: "search",
    c,
    seconds,
  });
  return { latencies, seconds: wall, non2xx: 0 };
}

async function batchStats(url: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return {
    sum: Number(/lance_e5_embed_batch_size_sum (\d+)/.exec(text)?.[1]),
    count: Number(/lance_e5_embed_batch_size_count (\d+)/.exec(text)?.[1]),
  };
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const loadBefore = loadAverage();
  // The parent only needs the model to build or check the table; it holds no ONNX session while measuring.
  const embedder = await loadEmbedder(MODEL_DIR, { threads: Number(THREADS) });
  const table = await buildBenchTable(embedder, Number(flags.rows ?? DEFAULT_ROWS));
  const model = { name: embedder.config.name, dim: embedder.dim, dir: path.relative(BENCH_ROOT, MODEL_DIR) };
  await embedder.dispose();
  const queries = benchQueries(table.rows);
  const queriesFile = path.join(BENCH_OUT, "queries.json");
  writeFileSync(queriesFile, JSON.stringify(queries));
  log(`model ${model.name} (dim ${model.dim}), ${table.rows} rows, ${queries.length} queries, ${THREADS} threads`);

  const direct = await startDirect(table.db, queriesFile);
  const server = await startServer(table.db, []);
  const unbatched = await startServer(table.db, ["--batch-window-ms", "0"]);
  const searchBodies = queries.map((query) => JSON.stringify({ query, k: 10 }));
  const embedBodies = queries.map((query) => JSON.stringify({ model: "default", input: query, input_type: "query" }));

  // Warm-up of all three, then each setting in ROUNDS interleaved slices.
  await directSlice(direct, 8, 2);
  await httpSlice(`${server.url}/search`, searchBodies, 8, 40);
  await httpSlice(`${server.url}/v1/embeddings`, embedBodies, 8, 40);
  const warm = await httpSlice(`${unbatched.url}/v1/embeddings`, embedBodies, 8, 40);
  const slice = DURATION / ROUNDS;
  const directSearch: Record<number, Measure> = {};
  const serverSearch: Record<number, Measure> = {};
  for (const c of CONCURRENCY) {
    const d: Slice[] = [];
    const h: Slice[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const part = await directSlice(direct, c, slice);
      d.push(part);
      // The same amount of work as the direct slice just did (at least two requests per connection).
      h.push(await httpSlice(`${server.url}/search`, searchBodies, c, Math.max(2 * c, part.latencies.length)));
    }
    directSearch[c] = summarise(d);
    serverSearch[c] = summarise(h);
    log(`c=${String(c).padStart(2)}  direct ${fmt(directSearch[c])}  |  server ${fmt(serverSearch[c])}`);
  }
  const paired = await direct.call<{ direct_p50: number; app_p50: number; pairs: number }>({
    op: "paired",
    pairs: 300,
  });

  // /v1/embeddings: c=1 latency, then c=32 throughput, each batched/unbatched alternating with equal request counts.
  const embedAt = async (c: number, firstAmount: number) => {
    const batchedSlices: Slice[] = [];
    const unbatchedSlices: Slice[] = [];
    const before = [await batchStats(server.url), await batchStats(unbatched.url)];
    for (let round = 0; round < ROUNDS; round++) {
      // Sized from the previous slice's rate to last about `slice` seconds.
      const previous = batchedSlices.at(-1);
      const amount = previous
        ? Math.max(4 * c, Math.round((previous.latencies.length / previous.seconds) * slice))
        : firstAmount;
      batchedSlices.push(await httpSlice(`${server.url}/v1/embeddings`, embedBodies, c, amount));
      unbatchedSlices.push(await httpSlice(`${unbatched.url}/v1/embeddings`, embedBodies, c, amount));
    }
    const after = [await batchStats(server.url), await batchStats(unbatched.url)];
    const meanBatch = (i: number) => (after[i]!.sum - before[i]!.sum) / (after[i]!.count - before[i]!.count);
    return {
      batched: summarise(batchedSlices),
      unbatched: summarise(unbatchedSlices),
      meanBatch: { batched: meanBatch(0), unbatched: meanBatch(1) },
    };
  };
  const warmRate = warm.latencies.length / warm.seconds;
  const embed1 = await embedAt(1, Math.max(8, Math.round((warmRate / 4) * slice)));
  log(`embeddings c=1: default window ${fmt(embed1.batched)} | window 0 ${fmt(embed1.unbatched)}`);
  const embed32 = await embedAt(32, Math.max(128, Math.round(warmRate * slice)));
  log(`embeddings c=32: default window ${fmt(embed32.batched)} | window 0 ${fmt(embed32.unbatched)}`);
  const ceiling = await direct.call<{ single_per_s: number; batched_per_s: number }>({
    op: "ceiling",
    batch: 32,
    rounds: 20,
  });

  const rss = { server: peakRssMiB(server.child.pid!), unbatched: peakRssMiB(unbatched.child.pid!) };
  await stopServer(server.child);
  await stopServer(unbatched.child);
  // The direct process answers "exit" by leaving, not with a reply.
  const directGone = new Promise((resolve) => direct.child.once("exit", resolve));
  direct.child.send({ op: "exit" });
  await directGone;
  const loadAfter = loadAverage();

  const overhead = Object.fromEntries(CONCURRENCY.map((c) => [c, serverSearch[c]!.p50 / directSearch[c]!.p50]));
  const result = {
    model,
    rows: table.rows,
    vectors_from: table.vectorsFrom,
    threads: Number(THREADS),
    cpus: os.availableParallelism(),
    load_average: { before: loadBefore, after: loadAfter },
    duration_s_per_point: DURATION,
    rounds: ROUNDS,
    search: { direct: directSearch, server: serverSearch, overhead_p50: overhead },
    app_layer_c1_paired: { ...paired, ratio: paired.app_p50 / paired.direct_p50 },
    server_peak_rss_mib: rss,
    embeddings: {
      batch_window_ms: DEFAULT_BATCHING.batchWindowMs,
      c1: embed1,
      c32: embed32,
      batching_gain_c32: embed32.batched.rps / embed32.unbatched.rps,
      model_ceiling_32: { ...ceiling, gain: ceiling.batched_per_s / ceiling.single_per_s },
    },
  };
  writeFileSync(path.join(BENCH_OUT, "result.json"), `${JSON.stringify(result, null, 2)}\n`);

  const e = result.embeddings;
  const lines = [
    `bench:server — model ${model.name} (${model.dir}, dim ${model.dim}), table of ${table.rows} rows of real text (vectors: ${table.vectorsFrom})`,
    `${THREADS} ORT threads in the server and in the direct process, ${result.cpus} CPUs, load average ${loadBefore} before, ${loadAfter} after; ${DURATION} s per point in ${ROUNDS} interleaved slices`,
    "",
    "/search (vector, k=10)  library direct (own process)              | lance-e5 serve (HTTP, autocannon)         | overhead p50",
    ...CONCURRENCY.map(
      (c) =>
        `  c=${String(c).padStart(2)}                  ${fmt(directSearch[c]!)} | ${fmt(serverSearch[c]!)} | ${overhead[c]!.toFixed(2)}×`,
    ),
    `app layer alone, c=1 (search() and app.request() alternating, ${paired.pairs} pairs): direct p50 ${paired.direct_p50.toFixed(2)} ms, app p50 ${paired.app_p50.toFixed(2)} ms → ${result.app_layer_c1_paired.ratio.toFixed(2)}×`,
    "",
    `/v1/embeddings, 1 query/request   --batch-window-ms ${e.batch_window_ms} (default)          | --batch-window-ms 0`,
    `  c= 1                          ${fmt(e.c1.batched)} | ${fmt(e.c1.unbatched)}`,
    `  c=32                          ${fmt(e.c32.batched)} | ${fmt(e.c32.unbatched)}`,
    `  mean texts per model call at c=32: ${e.c32.meanBatch.batched.toFixed(1)} vs ${e.c32.meanBatch.unbatched.toFixed(1)}`,
    `batching gain at c=32: ${e.batching_gain_c32.toFixed(2)}× (target ≥ 2×); the model's own ceiling here (no HTTP): 32 one-query calls at once ${e.model_ceiling_32.single_per_s.toFixed(0)} queries/s vs one call of 32 ${e.model_ceiling_32.batched_per_s.toFixed(0)} queries/s → ${e.model_ceiling_32.gain.toFixed(2)}×`,
    `server peak RSS: ${rss.server.toFixed(0)} MiB (window 0 server: ${rss.unbatched.toFixed(0)} MiB)`,
    `non-2xx responses: ${CONCURRENCY.map((c) => serverSearch[c]!.non2xx).join(", ")} (search c=1/8/32), ${[e.c1.batched, e.c1.unbatched, e.c32.batched, e.c32.unbatched].map((m) => m.non2xx).join(", ")} (embeddings)`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
