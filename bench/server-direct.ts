/**
 * The library side of bench:server, in its own process (forked by bench/server.ts with the same ORT thread count
 * as the server), so that "direct" and "server" are measured alike: each in a process of its own, neither sharing
 * an event loop or ONNX Runtime threads with the load generator. Answers requests over the IPC channel:
 *
 *   { op: "search", c, seconds }  →  { latencies, seconds }   search() with c concurrent callers for `seconds`
 *   { op: "paired", pairs }       →  { direct_p50, app_p50 }  search() and the Hono app alternating at c=1
 *   { op: "ceiling", batch, rounds } → { single_per_s, batched_per_s }  the model alone: `batch` one-query calls
 *                                      at once vs one call of `batch` queries, interleaved
 *
 *   argv: MODEL_DIR DB_DIR TABLE THREADS QUERIES_JSON_FILE
 */
import { readFileSync } from "node:fs";
import * as lancedb from "@lancedb/lancedb";
import { loadEmbedder } from "../src/model/index.ts";
import { openSearchTarget, search } from "../src/search/index.ts";
import { createApp } from "../src/server/app.ts";

type Request =
  | { id: number; op: "search"; c: number; seconds: number }
  | { id: number; op: "paired"; pairs: number }
  | { id: number; op: "ceiling"; batch: number; rounds: number }
  | { id: number; op: "exit" };

const [modelDir, dbDir, tableName, threads, queriesFile] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const queries = JSON.parse(readFileSync(queriesFile, "utf8")) as string[];
const embedder = await loadEmbedder(modelDir, { threads: Number(threads) });
const target = await openSearchTarget({ db: dbDir, tableName }, embedder.identity);
const lanceE5 = createApp({ embedder, db: await lancedb.connect(dbDir), defaultTable: tableName });
await lanceE5.warmUp();
let next = 0;
const nextQuery = () => queries[next++ % queries.length]!;

async function searchSlice(c: number, seconds: number): Promise<{ latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await search({ target, embedder, query: nextQuery(), k: 10 });
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * search() and the Hono app (app.request(): routing, middleware, validation, JSON, the micro-batcher) with the
 * same embedder and table, alternating request by request so both see the same machine load: the app layer's own
 * cost, without the socket.
 */
async function paired(pairs: number): Promise<{ direct_p50: number; app_p50: number; pairs: number }> {
  const direct: number[] = [];
  const app: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const query = nextQuery();
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
  return { direct_p50: median(direct), app_p50: median(app), pairs };
}

/**
 * What batching can gain at most here: the model's own throughput on `batch` one-query calls issued at once (what
 * the window-0 server does with `batch` concurrent requests; the runtime spreads them over its sessions) vs one
 * call of `batch` queries.
 */
async function ceiling(batch: number, rounds: number): Promise<{ single_per_s: number; batched_per_s: number }> {
  let singleMs = 0;
  let batchedMs = 0;
  for (let round = 0; round < rounds; round++) {
    const texts = Array.from({ length: batch }, () => embedder.formatQuery(nextQuery()));
    let t = performance.now();
    await Promise.all(texts.map((text) => embedder.embedRaw([text])));
    singleMs += performance.now() - t;
    t = performance.now();
    await embedder.embedRaw(texts);
    batchedMs += performance.now() - t;
  }
  return { single_per_s: (batch * rounds * 1000) / singleMs, batched_per_s: (batch * rounds * 1000) / batchedMs };
}

process.on("message", async (request: Request) => {
  let reply: unknown;
  if (request.op === "search") reply = await searchSlice(request.c, request.seconds);
  else if (request.op === "paired") reply = await paired(request.pairs);
  else if (request.op === "ceiling") reply = await ceiling(request.batch, request.rounds);
  else {
    await embedder.dispose();
    process.disconnect();
    return;
  }
  process.send!({ id: request.id, reply });
});
process.send!({ id: 0, reply: "ready" });
