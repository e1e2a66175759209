import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { inShard } from "../../src/ingest/shard.ts";
import type { IngestReport } from "../../src/ingest/types.ts";
import { REPO_ROOT } from "../helpers/cli.ts";
import { FIXTURE_MODELS, tempDir } from "../ingest/helpers.ts";

// Scale-out on LanceDB's own concurrency: 3 `lance-e5 serve` processes and 2 `lance-e5 ingest --shard i/2` workers,
// all real CLI processes on one LanceDB directory, no coordinator. Every document must become searchable exactly
// once from every server within its --read-consistency-ms (plus an allowance for a loaded 2-core machine), after
// a first load and again after a sharded update with --delete-missing. Full-text queries on made-up words keep
// this meaningful with a random-weight fixture model. A fourth server with a one-hour interval shows that the
// flag is what makes the others move on: it keeps serving the version it opened.

const MODEL = path.join(FIXTURE_MODELS, "tiny-mistral");
const CONSISTENCY_MS = 1000;
/** Process start-up and scheduling on 2 shared cores; the measured lags are printed as test diagnostics. */
const ALLOWANCE_MS = 10_000;
const STALE_MS = 3_600_000;
const SHARED_WORD = "quokkashared";
const wordOf = (i: number, version = 1) => `uid${i}v${version}x`;

interface Server {
  name: string;
  url: string;
  intervalMs: number;
  child: ChildProcess;
}

const children: ChildProcess[] = [];
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once("close", r)))));
});

function spawnCli(args: string[]): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, LANCE_E5_MODEL: MODEL, LANCE_E5_THREADS: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  return child;
}

async function startServer(name: string, db: string, intervalMs: number): Promise<Server> {
  const child = spawnCli(["serve", "--db", db, "--port", "0", "--read-consistency-ms", String(intervalMs)]);
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (d) => {
      stderr += d;
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once("close", (code) => reject(new Error(`${name} exited (${code}) before listening:\n${stderr}`)));
  });
  return { name, url, intervalMs, child };
}

async function runWorker(corpus: string, db: string, shard: string, extra: string[] = []): Promise<IngestReport> {
  const child = spawnCli(["ingest", corpus, "--db", db, "--shard", shard, "--json", ...extra]);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  assert.equal(code, 0, `worker ${shard}: ${stderr}`);
  return JSON.parse(stdout) as IngestReport;
}

/** doc_ids of a full-text search, in rank order, or null while the server has no table to search. */
async function search(server: Server, query: string): Promise<string[] | null> {
  const response = await fetch(`${server.url}/search`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, mode: "fulltext", k: 100 }),
  });
  const body = (await response.json()) as { results?: Array<{ doc_id: string }> };
  if (response.status === 404) return null;
  assert.equal(response.status, 200, `${server.name}: ${JSON.stringify(body)}`);
  return body.results!.map((r) => r.doc_id);
}

/** Every expected doc once for the shared word, and each doc once for its own word (none for retired words). */
async function sameAsExpected(server: Server, docs: Map<string, number>, retired: string[]): Promise<string | null> {
  const all = await search(server, SHARED_WORD);
  if (all === null) return "no table yet";
  const want = [...docs.keys()].sort();
  if (JSON.stringify([...all].sort()) !== JSON.stringify(want)) return `shared word → ${[...all].sort()}`;
  for (const [doc, version] of docs) {
    const hits = await search(server, wordOf(Number(/\d+/.exec(doc)![0]), version));
    if (JSON.stringify(hits) !== JSON.stringify([doc])) return `${doc} v${version} → ${JSON.stringify(hits)}`;
  }
  for (const word of retired) {
    const hits = await search(server, word);
    if (hits!.length > 0) return `retired word ${word} → ${hits}`;
  }
  return null;
}

/**
 * Polls until the server shows exactly the expected documents, or fails at the deadline. Returns the lag in ms
 * until the shared-word query first showed the expected set (the cheap probe; the full check follows it).
 */
async function waitConsistent(
  server: Server,
  since: number,
  docs: Map<string, number>,
  retired: string[],
): Promise<number> {
  const deadline = since + server.intervalMs + ALLOWANCE_MS;
  const want = JSON.stringify([...docs.keys()].sort());
  let lag: number | null = null;
  let last = "not checked";
  while (performance.now() < deadline) {
    const all = await search(server, SHARED_WORD);
    if (all !== null && JSON.stringify([...all].sort()) === want) {
      lag ??= Math.round(performance.now() - since);
      const problem = await sameAsExpected(server, docs, retired);
      if (problem === null) return lag;
      last = problem;
    } else {
      last = `shared word → ${JSON.stringify(all)}`;
    }
    await sleep(50);
  }
  assert.fail(`${server.name} (interval ${server.intervalMs} ms) not consistent by the deadline: ${last}`);
}

/** All servers polled at once, so one server's checks do not delay the next one's clock. */
async function waitAllConsistent(
  t: { diagnostic(message: string): void },
  round: string,
  servers: Server[],
  since: number,
  docs: Map<string, number>,
  retired: string[],
): Promise<void> {
  const lags = await Promise.all(servers.map((server) => waitConsistent(server, since, docs, retired)));
  for (const [i, server] of servers.entries()) {
    t.diagnostic(
      `${round}: ${server.name} (${server.intervalMs} ms) saw every document ${lags[i]} ms after the workers exited`,
    );
  }
}

function writeDoc(corpus: string, name: string, i: number, version: number): void {
  writeFileSync(
    path.join(corpus, name),
    `Document ${i}, version ${version}. ${wordOf(i, version)} is its own word and ${SHARED_WORD} is everyone's.`,
  );
}

describe("3 servers and 2 sharded ingest workers on one LanceDB directory", () => {
  it("every document becomes searchable exactly once from every server, after a load and after an update", async (t) => {
    const root = tempDir("lance-e5-scale-");
    const corpus = path.join(root, "corpus");
    mkdirSync(corpus);
    const db = path.join(root, "db");
    const docs = new Map<string, number>(); // doc_id (= file name) → version of its text
    for (let i = 0; i < 24; i++) {
      const name = `doc-${String(i).padStart(2, "0")}.txt`;
      writeDoc(corpus, name, i, 1);
      docs.set(name, 1);
    }
    const share = (index: number) => [...docs.keys()].filter((name) => inShard(name, { index, count: 2 }));

    // Servers start before the table exists (they answer 404 until it does), as in a fresh deployment.
    const servers = await Promise.all([
      startServer("server-0", db, 0),
      startServer("server-1", db, CONSISTENCY_MS),
      startServer("server-2", db, CONSISTENCY_MS),
    ]);
    const stale = await startServer("server-stale", db, STALE_MS);

    // Round 1: two workers load their shares at once; small batches make each many commits that interleave.
    const small = ["--write-batch-rows", "3", "--embed-batch", "3"];
    const reports = await Promise.all([0, 1].map((i) => runWorker(corpus, db, `${i}/2`, small)));
    let done = performance.now();
    for (const [i, report] of reports.entries()) {
      assert.equal(report.files, share(i).length, `worker ${i}/2 took its share`);
      assert.equal(report.chunks_added, share(i).length);
    }
    // Strong consistency (0 ms) needs no polling: the first search after the commits sees all of them.
    assert.equal(await sameAsExpected(servers[0]!, docs, []), null);
    await waitAllConsistent(t, "load", servers, done, docs, []);
    // The stale server opens the table now, at the loaded version, and keeps it for an hour.
    assert.equal(await sameAsExpected(stale, docs, []), null);

    // Round 2: one file of each shard vanishes, one changes, one is new; both workers run with --delete-missing.
    const retired: string[] = [];
    for (const gone of [share(0)[0]!, share(1)[0]!]) {
      rmSync(path.join(corpus, gone));
      retired.push(wordOf(Number(/\d+/.exec(gone)![0]), 1));
      docs.delete(gone);
    }
    const changed = share(0)[1]!;
    const changedIndex = Number(/\d+/.exec(changed)![0]);
    writeDoc(corpus, changed, changedIndex, 2);
    docs.set(changed, 2);
    retired.push(wordOf(changedIndex, 1));
    writeDoc(corpus, "doc-99.txt", 99, 1);
    docs.set("doc-99.txt", 1);

    const updates = await Promise.all([0, 1].map((i) => runWorker(corpus, db, `${i}/2`, ["--delete-missing"])));
    done = performance.now();
    assert.equal(
      updates.reduce((sum, r) => sum + r.chunks_deleted, 0),
      3,
      "two vanished files, one replaced chunk",
    );
    assert.equal(
      updates.reduce((sum, r) => sum + r.chunks_added, 0),
      2,
      "the changed and the new file",
    );
    assert.equal(await sameAsExpected(servers[0]!, docs, retired), null);
    await waitAllConsistent(t, "update", servers, done, docs, retired);
    // Still on the loaded version: the deleted files are found there, the new one is not.
    assert.notEqual(await sameAsExpected(stale, docs, retired), null);
    assert.deepEqual(await search(stale, wordOf(99, 1)), []);
  });
});
