import { Worker } from "node:worker_threads";
import type { InferenceSession } from "onnxruntime-node";

/**
 * ONNX Runtime sessions in worker threads. Two reasons, both measured on the 2-core machines this project runs on
 * (bench/README.md): onnxruntime-node's `session.run` is synchronous on the calling thread, so in-process
 * inference blocks the event loop (no tokenising, chunking or writing can overlap it); and for small models
 * ORT's intra-op parallelism is poor (a 4-layer 256-wide model ran no faster, often slower, on 2 intra-op threads
 * than on 1), so N single-threaded sessions running different batches at once (data parallelism) beat one
 * session with N threads. Large models keep one session with all threads (see `planSessions`).
 */

/** A tensor as it crosses the thread boundary: plain typed array + dims (ort.Tensor does not survive cloning). */
export interface RunnerTensor {
  type: "int64" | "float32" | "float16";
  data: BigInt64Array | Float32Array | Uint16Array;
  dims: readonly number[];
}

export interface SessionRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs that can execute at once (one per worker session). */
  readonly parallelism: number;
  /** Runs the graph; the feeds' buffers are transferred to the worker (do not reuse them). */
  run(feeds: Record<string, RunnerTensor>, output: string): Promise<RunnerTensor>;
  /** Like run, returning several outputs (a key-value cache's present tensors, kv-cache.ts). */
  runMany(feeds: Record<string, RunnerTensor>, outputs: readonly string[]): Promise<Record<string, RunnerTensor>>;
  release(): Promise<void>;
}

export interface SessionPlan {
  sessions: number;
  threadsPerSession: number;
}

/** Models up to this size run as data-parallel single-thread sessions; larger ones as one multi-thread session. */
export const DATA_PARALLEL_MAX_MODEL_BYTES = 256 * 1024 * 1024;

/**
 * How to spend `threads` ORT threads: small models get `threads` sessions of one thread each (every batch is
 * too small for intra-op parallelism to pay, and sessions cost little memory); large models one session with all
 * threads (their matrices parallelise well, and a copy of the weights per session would not fit). `sessions`
 * overrides the choice; threads are split evenly between sessions (at least one each).
 */
export function planSessions(threads: number, modelBytes: number, sessions?: number): SessionPlan {
  const count = sessions ?? (modelBytes <= DATA_PARALLEL_MAX_MODEL_BYTES ? threads : 1);
  return { sessions: count, threadsPerSession: Math.max(1, Math.floor(threads / count)) };
}

const WORKER_URL = new URL("./session-worker.js", import.meta.url);

/** How long release() waits for a worker to free its session before terminating it regardless. */
const RELEASE_WAIT_MS = 5000;

interface Job {
  id: number;
  feeds: Record<string, RunnerTensor>;
  outputs: readonly string[];
  resolve: (tensors: Record<string, RunnerTensor>) => void;
  reject: (error: Error) => void;
}

interface WorkerReply {
  id: number;
  outputs?: Record<string, RunnerTensor>;
  error?: string;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

/** Opens `plan.sessions` worker sessions on a model (a path, or graph bytes without external data). */
export async function openSessionRunner(
  model: string | Uint8Array,
  plan: SessionPlan,
  options: InferenceSession.SessionOptions,
): Promise<SessionRunner> {
  const sessionOptions = { ...options, intraOpNumThreads: plan.threadsPerSession };
  const started = Array.from({ length: plan.sessions }, () => startWorker(model, sessionOptions));
  const results = await Promise.allSettled(started);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all(results.map((r) => (r.status === "fulfilled" ? r.value.worker.terminate() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  const ready = results.map((r) => (r as PromiseFulfilledResult<StartedWorker>).value);
  return new WorkerPool(ready);
}

interface StartedWorker {
  worker: Worker;
  inputNames: string[];
  outputNames: string[];
}

function startWorker(model: string | Uint8Array, options: InferenceSession.SessionOptions): Promise<StartedWorker> {
  return new Promise((resolve, reject) => {
    // No inherited execArgv: the worker is plain JavaScript and needs no loader, and flags of the parent such as
    // --input-type (node -e) make a worker fail to start.
    const worker = new Worker(WORKER_URL, { workerData: { model, options }, execArgv: [] });
    const fail = (error: Error) => {
      void worker.terminate();
      reject(error);
    };
    worker.once("error", fail);
    worker.once(
      "message",
      (message: { kind: string; message?: string; inputNames?: string[]; outputNames?: string[] }) => {
        worker.off("error", fail);
        if (message.kind !== "ready") return fail(new Error(message.message ?? "the session worker failed to start"));
        resolve({ worker, inputNames: message.inputNames ?? [], outputNames: message.outputNames ?? [] });
      },
    );
  });
}

class WorkerPool implements SessionRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly parallelism: number;
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private released = false;

  constructor(workers: StartedWorker[]) {
    this.inputNames = workers[0]?.inputNames ?? [];
    this.outputNames = workers[0]?.outputNames ?? [];
    this.parallelism = workers.length;
    this.slots = workers.map(({ worker }) => ({ worker, job: undefined }));
    for (const slot of this.slots) {
      slot.worker.on("message", (message: WorkerReply) => this.finish(slot, message));
      // A worker that dies (native crash, OOM) fails its job instead of hanging it; later jobs go elsewhere.
      slot.worker.on("error", (error) => this.fail(slot, error));
      slot.worker.on("exit", (code) => this.fail(slot, new Error(`the session worker exited with code ${code}`)));
      // An idle pool must not keep the process alive; ref'd again while a run is in flight. (After the
      // listeners: attaching a message listener refs the worker's port again.)
      slot.worker.unref();
    }
  }

  async run(feeds: Record<string, RunnerTensor>, output: string): Promise<RunnerTensor> {
    return (await this.runMany(feeds, [output]))[output] as RunnerTensor;
  }

  runMany(feeds: Record<string, RunnerTensor>, outputs: readonly string[]): Promise<Record<string, RunnerTensor>> {
    if (this.released) return Promise.reject(new Error("the session was released"));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, feeds, outputs, resolve, reject });
      this.dispatch();
    });
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    for (const job of this.queue.splice(0)) job.reject(new Error("the session was released"));
    await Promise.all(
      this.slots.map(async ({ worker }) => {
        worker.removeAllListeners("exit");
        // Wait for the worker to say its session is released (or to exit) before terminating it: a thread
        // terminated inside session.release() aborts the whole process. A worker that never answers is
        // terminated after RELEASE_WAIT_MS anyway.
        const released = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, RELEASE_WAIT_MS);
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          worker.on("message", (message: { kind?: string }) => message.kind === "released" && done());
          worker.once("exit", done);
        });
        worker.ref(); // the answer must arrive even if nothing else keeps the process alive
        worker.postMessage({ kind: "release" });
        await released;
        await worker.terminate();
      }),
    );
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.job !== undefined || this.released) continue;
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.worker.ref();
      const transfer = [...new Set(Object.values(job.feeds).map((t) => t.data.buffer as ArrayBuffer))];
      slot.worker.postMessage({ id: job.id, feeds: job.feeds, outputs: job.outputs }, transfer);
    }
  }

  private finish(slot: Slot, message: WorkerReply): void {
    const job = slot.job;
    if (job === undefined || job.id !== message.id) return;
    slot.job = undefined;
    slot.worker.unref();
    if (message.error !== undefined || message.outputs === undefined) job.reject(new Error(message.error));
    else job.resolve(message.outputs);
    this.dispatch();
  }

  private fail(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    slot.job?.reject(error);
    if (this.slots.length === 0) for (const job of this.queue.splice(0)) job.reject(error);
    else this.dispatch();
  }
}
