import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as lancedb from "@lancedb/lancedb";
import { CORPUS, FIXTURE_MODELS, maxAbsDiff, REPO, readRows, tempDir } from "./helpers.ts";

// Crash safety and concurrent writers, with real `lance-e5 ingest` processes on real LanceDB directories.
// Small chunks and small commits (--write-batch-rows) make a run many commits long, so kills land mid-ingest.

const MODEL = path.join(FIXTURE_MODELS, "tiny-mistral");
const COMMON = ["--chunk-tokens", "32", "--write-batch-rows", "8", "--embed-batch", "8", "--json"];

function startIngest(sources: string[], db: string, extra: string[] = []): ChildProcess {
  return spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "ingest", ...sources, "--db", db, ...COMMON, ...extra],
    {
      cwd: REPO,
      env: { ...process.env, LANCE_E5_MODEL: MODEL, LANCE_E5_THREADS: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
}

function finished(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => {
    stdout += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** Small seeded PRNG (mulberry32) so a failing run can be replayed with LANCE_E5_CRASH_SEED. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rows committed so far (0 while the table does not exist yet). */
async function committedRows(db: string): Promise<number> {
  try {
    return await (await lancedb.connect(db)).openTable("docs").then((t) => t.countRows());
  } catch {
    return 0;
  }
}

/** Ms from `since` until at least `rows` rows are committed, or null when the process ends first. */
async function msUntilRows(db: string, child: ChildProcess, since: number, rows: number): Promise<number | null> {
  while (child.exitCode === null && child.signalCode === null) {
    if ((await committedRows(db)) >= rows) return performance.now() - since;
    await sleep(25);
  }
  return null;
}

async function assertSameTable(actualDb: string, expectedDb: string): Promise<void> {
  const actual = await readRows(actualDb);
  const expected = await readRows(expectedDb);
  assert.equal(new Set(actual.map((r) => r.id)).size, actual.length, "no duplicate chunk ids");
  assert.equal(actual.length, expected.length, "same chunk count");
  assert.deepEqual(
    actual.map((r) => r.id),
    expected.map((r) => r.id),
    "same chunk ids",
  );
  for (let i = 0; i < actual.length; i++) {
    assert.ok(maxAbsDiff(actual[i]!.vector, expected[i]!.vector) <= 1e-5, `vector of ${actual[i]!.id}`);
  }
}

describe("ingest crash safety and concurrency", () => {
  it("SIGKILL at several random points, then a re-run, gives the same table as a clean run", async (t) => {
    const root = tempDir();
    const cleanDb = path.join(root, "clean");
    const startedClean = performance.now();
    const cleanChild = startIngest([CORPUS], cleanDb);
    const cleanDone = finished(cleanChild);
    const cleanFirstCommit = await msUntilRows(cleanDb, cleanChild, startedClean, 1);
    const clean = await cleanDone;
    const cleanMs = performance.now() - startedClean;
    assert.equal(clean.code, 0, clean.stderr);
    const cleanReport = JSON.parse(clean.stdout);
    assert.ok(cleanReport.chunks_added > 200, `${cleanReport.chunks_added} chunks`);
    assert.ok(cleanFirstCommit !== null, "the clean run committed before it ended");

    const seed = Number(process.env.LANCE_E5_CRASH_SEED ?? Date.now() % 1_000_000);
    const random = rng(seed);
    t.diagnostic(
      `seed ${seed}, clean run ${Math.round(cleanMs)} ms, first commit at ${Math.round(cleanFirstCommit)} ms`,
    );
    const crashDb = path.join(root, "crashed");
    const total = cleanReport.chunks_added;
    // Kill 0 lands at a random time up to the clean run's first commit (startup or the first writes); later kills at random points
    // of the write phase, chosen as a random row count to wait for (polled every 25 ms, so the kill lands
    // wherever the writer is then: mid-embed, mid-mergeInsert, between a mergeInsert and its stale delete).
    // Ingest commits in units, so a kill can land after the last commit it waited for (the table is then complete
    // and nothing was interrupted). Such a complete table is thrown away and the kills go on, until two kills have
    // left a partly written table (at most 8 kills).
    let partial = 0;
    for (let attempt = 0; attempt < 8 && partial < 2; attempt++) {
      const child = startIngest([CORPUS], crashDb);
      const done = finished(child);
      const before = await committedRows(crashDb);
      let point: string;
      if (attempt === 0) {
        const delay = cleanFirstCommit * random();
        await sleep(delay);
        point = `${Math.round(delay)} ms after start`;
      } else {
        // The first half of what is left: the first commit past it rarely completes the table.
        const target = before + 1 + Math.floor(random() * 0.5 * (total - before - 1));
        await msUntilRows(crashDb, child, performance.now(), target);
        point = `once ${target} rows were committed`;
      }
      child.kill("SIGKILL");
      const result = await done;
      const stored = await committedRows(crashDb);
      t.diagnostic(
        `kill ${attempt} ${point} → ${result.signal ?? `exit ${result.code}`}, ${stored} of ${total} rows stored`,
      );
      if (result.signal !== "SIGKILL") assert.equal(result.code, 0, result.stderr);
      if (result.signal === "SIGKILL" && stored > 0 && stored < total) partial++;
      if (stored >= total) rmSync(crashDb, { recursive: true, force: true }); // nothing left to interrupt
    }
    assert.ok(partial >= 2, `only ${partial} kills left a partly written table`);
    const rerun = await finished(startIngest([CORPUS], crashDb));
    assert.equal(rerun.code, 0, rerun.stderr);
    const report = JSON.parse(rerun.stdout);
    assert.equal(report.chunks_added + report.chunks_unchanged, cleanReport.chunks_added);
    await assertSameTable(crashDb, cleanDb);
  });

  it("two ingest processes on disjoint sources into one new table at once: both sets present, nothing lost", async () => {
    const root = tempDir();
    const cleanDb = path.join(root, "clean");
    const clean = await finished(startIngest([CORPUS], cleanDb));
    assert.equal(clean.code, 0, clean.stderr);

    const { readdirSync } = await import("node:fs");
    const files = readdirSync(CORPUS).sort();
    const half = Math.ceil(files.length / 2);
    const firstHalf = files.slice(0, half).map((f) => path.join(CORPUS, f));
    const secondHalf = files.slice(half).map((f) => path.join(CORPUS, f));
    const sharedDb = path.join(root, "shared");
    const [a, b] = await Promise.all([
      finished(startIngest(firstHalf, sharedDb)),
      finished(startIngest(secondHalf, sharedDb)),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    await assertSameTable(sharedDb, cleanDb);
  });
});
