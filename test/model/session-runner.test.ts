import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";
import { EmbedOptionsError, loadEmbedder } from "../../src/model/index.ts";
import { DATA_PARALLEL_MAX_MODEL_BYTES, planSessions } from "../../src/model/session-runner.ts";
import { FIXTURES_DIR } from "./fixtures.ts";

// Inference runs in worker-thread sessions (src/model/session-runner.ts). Splitting work between sessions and
// running calls concurrently must not change a single vector.

const MODEL = path.join(FIXTURES_DIR, "tiny-mistral");
const REPO = path.resolve(FIXTURES_DIR, "../../..");
const texts = Array.from(
  { length: 40 },
  (_, i) => `Document ${i}: ${"the quick brown fox jumps over the lazy dog ".repeat(1 + (i % 7))}end.`,
);

describe("worker sessions", () => {
  it("plans one single-thread session per thread for small models, one session for large ones", () => {
    assert.deepEqual(planSessions(2, 23e6), { sessions: 2, threadsPerSession: 1 });
    assert.deepEqual(planSessions(8, DATA_PARALLEL_MAX_MODEL_BYTES + 1), { sessions: 1, threadsPerSession: 8 });
    assert.deepEqual(planSessions(8, 23e6, 2), { sessions: 2, threadsPerSession: 4 });
    assert.deepEqual(planSessions(2, 23e6, 3), { sessions: 3, threadsPerSession: 1 });
  });

  it("1 session and 2 sessions give identical vectors, also for concurrent calls", async () => {
    const one = await loadEmbedder(MODEL, { threads: 1, sessions: 1 });
    const two = await loadEmbedder(MODEL, { threads: 2, sessions: 2 });
    assert.equal(one.parallelism, 1);
    assert.equal(two.parallelism, 2);
    const expected = await one.embedDocuments(texts);
    const [a, b, c] = await Promise.all([
      two.embedDocuments(texts),
      two.embedDocuments(texts.slice(0, 5)),
      two.embedQueries(["what does the fox do?"], { task: "web_search" }),
    ]);
    assert.deepEqual(a, expected);
    assert.deepEqual(b, expected.slice(0, 5));
    assert.deepEqual(c, await one.embedQueries(["what does the fox do?"], { task: "web_search" }));
    await one.dispose();
    await two.dispose();
  });

  it("a bad session count is a typed error", async () => {
    await assert.rejects(loadEmbedder(MODEL, { sessions: 0 }), EmbedOptionsError);
    process.env.LANCE_E5_SESSIONS = "two";
    try {
      await assert.rejects(loadEmbedder(MODEL), /LANCE_E5_SESSIONS=two/);
    } finally {
      delete process.env.LANCE_E5_SESSIONS;
    }
  });

  it("idle worker sessions do not keep the process alive (no dispose needed to exit)", () => {
    const script = `import { loadEmbedder } from "./src/model/index.ts";
const e = await loadEmbedder(${JSON.stringify(MODEL)}, { threads: 2 });
const [v] = await e.embedDocuments(["hello"]);
console.log(v.length);`;
    const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: REPO,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(result.error, undefined, "exited by itself within 60 s");
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^\d+\n$/);
  });

  it("releasing sessions while runs are in flight does not abort the process", () => {
    // Before the release handshake this aborted in 3 of 3 tries ("terminate called after throwing an instance of
    // 'Napi::Error'"): the worker was terminated inside session.release(), or released under a running run.
    const script = `
      import { openSessionRunner } from "./src/model/session-runner.ts";
      import { loadModelFiles } from "./src/model/model-files.ts";
      import { batchFeeds, sessionOptionsFor } from "./src/model/onnx-embedder.ts";
      import { padBatch } from "./src/model/batching.ts";
      const files = await loadModelFiles(${JSON.stringify(path.join(FIXTURES_DIR, "bench-mistral"))});
      const plan = { sessions: 2, threadsPerSession: 1 };
      const ids = Array.from({ length: 400 }, (_, j) => 5 + (j % 100));
      for (let i = 0; i < 20; i++) {
        const runner = await openSessionRunner(files.dir + "/model.onnx", plan, sessionOptionsFor(plan));
        const feeds = () => batchFeeds(files.config, padBatch([ids], 2, "right"));
        const runs = [0, 1, 2, 3].map(() => runner.run(feeds(), "last_hidden_state").catch(() => {}));
        await new Promise((resolve) => setTimeout(resolve, i % 5));
        await runner.release();
        await Promise.all(runs);
      }
      console.log("released 20 times");
    `;
    const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: REPO,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(result.error, undefined, "exited by itself within 120 s");
    assert.doesNotMatch(result.stderr, /terminate called/);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, "released 20 times\n");
  });
});
