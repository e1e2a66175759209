import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EmbedBatcher, type EmbedCallOptions } from "../../src/server/batcher.ts";
import { HttpError } from "../../src/server/errors.ts";

/**
 * The micro-batcher alone, with a stub model call that records what it was given (the one place a double is
 * used: the batcher's contract is about grouping calls, not about vectors). Real-model behaviour is covered by
 * test/server/app.test.ts and the socket tests.
 */

interface Call {
  texts: string[];
  options: EmbedCallOptions;
}

function stubModel(delayMs = 5, failOn?: string) {
  const calls: Call[] = [];
  const embed = async (texts: string[], options: EmbedCallOptions) => {
    calls.push({ texts, options });
    await new Promise((r) => setTimeout(r, delayMs));
    if (failOn !== undefined && texts.includes(failOn)) throw new Error(`bad text ${failOn}`);
    // Each "vector" encodes its text's length and dims, so tests can check routing back to the right caller.
    return texts.map((t) => Float32Array.of(t.length, options.dimensions ?? 0));
  };
  return { calls, embed };
}

type BatcherSettings = ConstructorParameters<typeof EmbedBatcher>[1];

/** A batcher with roomy limits and one batch in flight, unless the test says otherwise. */
function batcherFor(embed: ReturnType<typeof stubModel>["embed"], settings: Partial<BatcherSettings>): EmbedBatcher {
  return new EmbedBatcher(embed, {
    batchWindowMs: 5,
    maxBatchTokens: 1000,
    maxQueuedTexts: 100,
    maxBatchesInFlight: 1,
    ...settings,
  });
}

describe("EmbedBatcher", () => {
  test("concurrent submissions within the window share one model call, each caller gets its own vectors", async () => {
    const { calls, embed } = stubModel();
    const batcher = batcherFor(embed, { batchWindowMs: 20 });
    const results = await Promise.all([
      batcher.submit(["a"], 1),
      batcher.submit(["bb", "ccc"], 2),
      batcher.submit(["dddd"], 1),
    ]);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.texts, ["a", "bb", "ccc", "dddd"]);
    assert.deepEqual(
      results.map((vs) => vs.map((v) => v[0])),
      [[1], [2, 3], [4]],
    );
    assert.equal(batcher.queuedTexts, 0);
  });

  test("window 0 disables batching: one model call per submission", async () => {
    const { calls, embed } = stubModel();
    const batcher = batcherFor(embed, { batchWindowMs: 0 });
    await Promise.all([batcher.submit(["a"], 1), batcher.submit(["b"], 1), batcher.submit(["c"], 1)]);
    assert.equal(calls.length, 3);
  });

  test("work arriving while a batch runs goes in the next batch, together", async () => {
    const { calls, embed } = stubModel(30);
    const batcher = batcherFor(embed, { batchWindowMs: 1 });
    const first = batcher.submit(["first"], 1);
    await new Promise((r) => setTimeout(r, 10)); // first batch is now running
    const later = [batcher.submit(["x"], 1), batcher.submit(["y"], 1), batcher.submit(["z"], 1)];
    await Promise.all([first, ...later]);
    assert.deepEqual(
      calls.map((c) => c.texts),
      [["first"], ["x", "y", "z"]],
    );
  });

  test("up to maxBatchesInFlight model calls run at once; beyond, work waits for a slot", async () => {
    for (const [slots, expectedPeak] of [
      [1, 1],
      [2, 2],
    ] as const) {
      let running = 0;
      let peak = 0;
      const embed = async (texts: string[]) => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return texts.map(() => Float32Array.of(0));
      };
      const batcher = batcherFor(embed, { batchWindowMs: 30, maxBatchesInFlight: slots });
      const first = batcher.submit(["a"], 1);
      await new Promise((r) => setTimeout(r, 5)); // "a" is running
      await Promise.all([first, batcher.submit(["b"], 1), batcher.submit(["c"], 1)]);
      assert.equal(peak, expectedPeak, `maxBatchesInFlight ${slots}`);
    }
  });

  test("with two slots, the active callers are split evenly over two batches that run at once", async () => {
    const { calls, embed } = stubModel(10);
    const batcher = batcherFor(embed, { batchWindowMs: 5, maxBatchesInFlight: 2 });
    await Promise.all(["a", "b", "c", "d", "e", "f", "g", "h"].map((t) => batcher.submit([t], 1)));
    assert.deepEqual(
      calls.map((call) => call.texts),
      [
        ["a", "b", "c", "d"],
        ["e", "f", "g", "h"],
      ],
    );
  });

  test("a lone caller pays no window: after a quiet spell, and when its last batch held only itself", async () => {
    const { calls, embed } = stubModel(1);
    const batcher = batcherFor(embed, { batchWindowMs: 60_000 });
    // A 60 s window would time the test out if any of these waited for company.
    for (const text of ["first", "second", "third"]) await batcher.submit([text], 1);
    assert.deepEqual(
      calls.map((call) => call.texts),
      [["first"], ["second"], ["third"]],
    );
  });

  test("after a batch of N callers the next batch waits for N, then goes without waiting out the window", async () => {
    const { calls, embed } = stubModel(1);
    const batcher = batcherFor(embed, { batchWindowMs: 60_000 });
    await Promise.all(["a", "b", "c"].map((t) => batcher.submit([t], 1)));
    // The three come back one by one, 5 ms apart: one batch of three, flushed when the third arrives.
    const started = performance.now();
    const second: Promise<Float32Array[]>[] = [];
    for (const t of ["x", "y", "z"]) {
      second.push(batcher.submit([t], 1));
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(second);
    assert.ok(performance.now() - started < 10_000, "flushed by the count, not by the 60 s window");
    assert.deepEqual(
      calls.map((call) => call.texts),
      [
        ["a", "b", "c"],
        ["x", "y", "z"],
      ],
    );
  });

  test("callers that do not come back cost at most the window", async () => {
    const { calls, embed } = stubModel(1);
    const batcher = batcherFor(embed, { batchWindowMs: 30 });
    await Promise.all(["a", "b", "c", "d"].map((t) => batcher.submit([t], 1)));
    // Only one of the four callers returns: it goes when the window (from the end of the last batch) is over.
    await batcher.submit(["back"], 1);
    // By now the model has been free longer than the window: a newcomer is a quiet-spell arrival again.
    await new Promise((r) => setTimeout(r, 40));
    await batcher.submit(["later"], 1);
    assert.deepEqual(
      calls.map((call) => call.texts),
      [["a", "b", "c", "d"], ["back"], ["later"]],
    );
  });

  test("closed-loop clients behind a model that blocks the event loop converge to full batches", async () => {
    // Like onnxruntime-node, whose run() blocks the event loop: nothing new is read while the model runs, and
    // each answered caller needs some main-thread time (HTTP parsing, validation) before it is back in the queue.
    const calls: number[] = [];
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const blockingModel = async (texts: string[]) => {
      await new Promise((r) => setImmediate(r));
      busy(4);
      calls.push(texts.length);
      return texts.map(() => Float32Array.of(0));
    };
    const batcher = batcherFor(blockingModel, { batchWindowMs: 200 });
    const clients = 8;
    const rounds = 6;
    await Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        for (let round = 0; round < rounds; round++) {
          await new Promise((r) => setTimeout(r, round === 0 ? client : 0)); // staggered connects, then round trips
          busy(1); // the request's own main-thread work
          await batcher.submit([`${client}/${round}`], 1);
        }
      }),
    );
    assert.equal(
      calls.reduce((n, s) => n + s, 0),
      clients * rounds,
    );
    // The first batches form while clients are still connecting (which leaves short last ones too); from then on
    // a batch waits for every caller of the one before, so most batches hold all eight.
    assert.ok(calls.filter((s) => s === clients).length >= rounds - 2, `batch sizes ${calls.join(",")}`);
  });

  test("the token budget splits batches (a single oversized job still runs alone)", async () => {
    const { calls, embed } = stubModel(1);
    const batcher = batcherFor(embed, { batchWindowMs: 5, maxBatchTokens: 10 });
    await Promise.all([
      batcher.submit(["a"], 6),
      batcher.submit(["b"], 6),
      batcher.submit(["c"], 3),
      batcher.submit(["huge"], 50),
    ]);
    assert.deepEqual(
      calls.map((c) => c.texts),
      [["a"], ["b", "c"], ["huge"]],
    );
  });

  test("different options are separate model calls in the same batch", async () => {
    const { calls, embed } = stubModel(1);
    const batcher = batcherFor(embed, { batchWindowMs: 10 });
    const [a, b, c] = await Promise.all([
      batcher.submit(["a"], 1, { dimensions: 8 }),
      batcher.submit(["b"], 1, {}),
      batcher.submit(["c"], 1, { dimensions: 8 }),
    ]);
    assert.equal(calls.length, 2);
    assert.deepEqual([a![0]![1], b![0]![1], c![0]![1]], [8, 0, 8]);
  });

  test("a failing job does not fail the jobs batched with it", async () => {
    const { embed } = stubModel(1, "poison");
    const batcher = batcherFor(embed, { batchWindowMs: 10 });
    const [good1, bad, good2] = await Promise.allSettled([
      batcher.submit(["ok"], 1),
      batcher.submit(["poison"], 1),
      batcher.submit(["fine"], 1),
    ]);
    assert.equal(good1.status, "fulfilled");
    assert.equal(good2.status, "fulfilled");
    assert.equal(bad.status, "rejected");
    assert.match(String((bad as PromiseRejectedResult).reason), /bad text poison/);
    assert.equal(batcher.queuedTexts, 0);
  });

  test("permits: beyond maxQueuedTexts a submission is refused with 429 overloaded, and permits come back", async () => {
    const { embed } = stubModel(20);
    const batcher = batcherFor(embed, { batchWindowMs: 5, maxQueuedTexts: 3 });
    const accepted = batcher.submit(["a", "b", "c"], 3);
    await assert.rejects(batcher.submit(["d"], 1), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.status, 429);
      assert.equal(e.code, "overloaded");
      assert.equal(e.headers["Retry-After"], "1");
      return true;
    });
    await accepted;
    assert.equal((await batcher.submit(["d"], 1)).length, 1);
  });
});
