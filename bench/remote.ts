/**
 * `npm run bench:remote`: what the remote embedding backend costs, one run, same model, same texts:
 *   (a) local: loadEmbedder → embedDocuments in this process (the peer)
 *   (b) remote: loadRemoteEmbedder → a `lance-e5 serve` child process with the same model and threads, at
 *       --embedder-concurrency 1 and 4 (batch size 32)
 *   (c) the client alone: the same requests to an in-process endpoint that answers without a model (HTTP + JSON +
 *       parsing cost, the ceiling a remote GPU could be fed at from one client process)
 * and the ratios (b)/(a). On one machine (b) shares the cores with the client, so it shows overhead, not the gain
 * a separate GPU machine brings. Each arm runs twice, alternating; the better run counts.
 * Corpus: State of the Union sentences + WordNet glosses (bench/server-corpus.ts). Model: models/default.
 * Env: BENCH_TEXTS (default 2000), LANCE_E5_THREADS (default: all CPUs), BENCH_MODEL (a model directory).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { Embedder } from "../src/model/embedder.ts";
import { loadEmbedder, resolveThreads } from "../src/model/onnx-embedder.ts";
import { loadRemoteEmbedder } from "../src/model/remote-embedder.ts";
import { benchCorpus } from "./server-corpus.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TEXT_COUNT = Number(process.env.BENCH_TEXTS ?? 2000);
const THREADS = resolveThreads();
const MODEL_DIR = process.env.BENCH_MODEL ?? path.join(ROOT, "models/default");
const BATCH_SIZE = 32;

async function startServe(db: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), "serve", "--port", "0", "--db", db],
    { cwd: ROOT, env: { ...process.env, LANCE_E5_MODEL: MODEL_DIR, LANCE_E5_THREADS: String(THREADS) } },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { url, child };
}

/** An endpoint that answers every request with fixed vectors of the right size: the client's own cost. */
async function startNullEndpoint(dim: number): Promise<{ url: string; server: Server }> {
  const vector = Array.from({ length: dim }, (_, i) => Math.sin(i + 1));
  const app = new Hono();
  app.post("/v1/embeddings", async (c) => {
    const body = (await c.req.json()) as { input: string[] };
    return c.json({ data: body.input.map((_, index) => ({ object: "embedding", index, embedding: vector })) });
  });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s as Server));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, server };
}

async function timeIt(embedder: Embedder, texts: string[]): Promise<number> {
  const started = performance.now();
  await embedder.embedDocuments(texts);
  return (performance.now() - started) / 1000;
}

async function main(): Promise<void> {
  const texts = benchCorpus(ROOT, TEXT_COUNT).map((row) => row.text);
  const local = await loadEmbedder(MODEL_DIR, { threads: THREADS });
  const tokens = texts.reduce((n, t) => n + local.encode(t).ids.length, 0);
  const db = mkdtempSync(path.join(os.tmpdir(), "lance-e5-bench-remote-"));
  const served = await startServe(db);
  const nullEndpoint = await startNullEndpoint(local.dim);
  const source = { kind: "directory", dir: MODEL_DIR } as const;
  try {
    const arms: Array<[string, Embedder]> = [
      ["local (in-process ONNX)", local],
      [
        "remote lance-e5 serve, concurrency 1",
        await loadRemoteEmbedder({ url: served.url, source, batchSize: BATCH_SIZE, concurrency: 1 }),
      ],
      [
        "remote lance-e5 serve, concurrency 4",
        await loadRemoteEmbedder({ url: served.url, source, batchSize: BATCH_SIZE, concurrency: 4 }),
      ],
      [
        "client alone (endpoint without a model), concurrency 4",
        await loadRemoteEmbedder({ url: nullEndpoint.url, source, batchSize: BATCH_SIZE, concurrency: 4 }),
      ],
    ];
    await arms[1]![1].embedDocuments(texts.slice(0, 64)); // warm the server's session
    const best = new Map<string, number>();
    for (let round = 0; round < 2; round++) {
      for (const [name, embedder] of arms) {
        const seconds = await timeIt(embedder, texts);
        best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, seconds));
      }
    }
    const localSeconds = best.get(arms[0]![0])!;
    console.log(
      `bench:remote — ${texts.length} texts, ${tokens} tokens, model ${local.config.name} (dim ${local.dim}), ` +
        `${THREADS} thread(s) in each process, batch ${BATCH_SIZE}, ${os.cpus().length} CPUs`,
    );
    for (const [name] of arms) {
      const seconds = best.get(name)!;
      console.log(
        `  ${name.padEnd(56)} ${seconds.toFixed(2).padStart(7)} s  ${(texts.length / seconds).toFixed(0).padStart(7)} texts/s  ` +
          `${(localSeconds / seconds).toFixed(2)}× local`,
      );
    }
    for (const [, embedder] of arms) await embedder.dispose();
  } finally {
    served.child.kill("SIGTERM");
    nullEndpoint.server.close();
    rmSync(db, { recursive: true, force: true });
  }
}

await main();
