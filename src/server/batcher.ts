import { HttpError } from "./errors.ts";

/**
 * Micro-batching of concurrent embedding work (text-embeddings-inference's queue, in small): handlers never call
 * the model; they submit already-formatted texts here, and at most `maxBatchesInFlight` model calls run at once
 * with the next batch collecting meanwhile (continuous batching), so throughput grows with concurrency instead of
 * concurrent calls fighting over the same cores. The app allows as many batches in flight as the embedder can
 * run at once (the local runtime runs small models as several single-thread sessions): one batch at a time would
 * leave all but one session idle whenever a batch fits in one run.
 *
 * When to flush: callers answered by a batch send their next request only after it ends, so a batch flushed the
 * moment a slot is free holds just the few requests that were read meanwhile (measured with the in-process runtime,
 * whose run blocked the event loop: 3–4 texts per call with 32 closed-loop clients). So the batcher expects
 * company: after a batch of N callers ends, the next one waits until those N (plus any already queued) are back,
 * the token budget is full, or `batchWindowMs` has passed since that batch ended — the window is only the upper
 * bound. A lone caller (its last batch held only itself) and the first job after a quiet spell go at the next
 * event-loop turn, with whatever arrived in the same turn, so light traffic pays no window. `batchWindowMs: 0`
 * disables batching: each job calls the model at once, on its own.
 */

export interface EmbedCallOptions {
  /** Matryoshka dims (the request's `dimensions`). */
  dimensions?: number;
  /** Cut over-length texts (the request already checked; queries are always cut). */
  truncate?: boolean;
}

/**
 * The model call: embeds formatted texts as given (Embedder.embedRaw), or their ids when every job in the call
 * came with the ids `encode` gave them (Embedder.embedEncoded: no second tokenisation).
 */
export type EmbedTexts = (texts: string[], options: EmbedCallOptions, ids?: number[][]) => Promise<Float32Array[]>;

export interface BatcherOptions {
  /** Longest wait for the expected company once the model is free, in ms; 0 disables batching. */
  batchWindowMs: number;
  /** Flush as soon as this many tokens are queued, and never put more in one model call. */
  maxBatchTokens: number;
  /** Model calls (batches) running at once; the next batch collects while they run (default 1). */
  maxBatchesInFlight?: number;
  /** Permits: texts queued or running at most; beyond, submit() fails with 429 `overloaded`. */
  maxQueuedTexts: number;
  /** Observes each model call (metrics). */
  onBatch?: (texts: number, tokens: number, seconds: number) => void;
}

interface Job {
  texts: string[];
  /** The texts' ids from Embedder.encode, when the caller has them. */
  ids: number[][] | undefined;
  tokens: number;
  options: EmbedCallOptions;
  optionsKey: string;
  resolve: (vectors: Float32Array[]) => void;
  reject: (error: unknown) => void;
}

export class EmbedBatcher {
  private pending: Job[] = [];
  private pendingTokens = 0;
  /** The scheduled flush (a window timer or a next-turn immediate), with its own way to cancel. */
  private wake: { cancel(): void; soon: boolean } | undefined;
  /** Callers the next batch should wait for: the last batch's callers, expected back, plus those queued then. */
  private expectedJobs = 1;
  /** performance.now() when the last batch ended (the window counts from there). */
  private lastFinish = Number.NEGATIVE_INFINITY;
  /** Batches running now (at most maxBatchesInFlight), and the jobs in them. */
  private running = 0;
  private runningJobs = 0;
  /** Texts accepted and not yet answered (the permits in use). */
  private inFlightTexts = 0;

  private readonly maxInFlight: number;

  constructor(
    private readonly embed: EmbedTexts,
    private readonly options: BatcherOptions,
  ) {
    this.maxInFlight = Math.max(1, options.maxBatchesInFlight ?? 1);
  }

  /** Model calls allowed to run at once. */
  get maxBatchesInFlight(): number {
    return this.maxInFlight;
  }

  /** Texts waiting or being embedded now (gauge). */
  get queuedTexts(): number {
    return this.inFlightTexts;
  }

  /**
   * Embeds `texts` (already formatted) with `tokens` = their total token count; `ids`: their ids from
   * Embedder.encode, when the caller tokenised them already. Resolves in input order.
   * Throws HttpError 429 `overloaded` at once when the permits are used up.
   */
  submit(texts: string[], tokens: number, options: EmbedCallOptions = {}, ids?: number[][]): Promise<Float32Array[]> {
    if (this.inFlightTexts + texts.length > this.options.maxQueuedTexts && this.inFlightTexts > 0) {
      return Promise.reject(
        new HttpError(
          429,
          "overloaded",
          `embedding queue is full (${this.options.maxQueuedTexts} texts); retry shortly`,
          {
            "Retry-After": "1",
          },
        ),
      );
    }
    this.inFlightTexts += texts.length;
    const release = <T>(value: T): T => {
      this.inFlightTexts -= texts.length;
      return value;
    };
    const done = new Promise<Float32Array[]>((resolve, reject) => {
      if (this.options.batchWindowMs <= 0) {
        this.call(texts, options, tokens, ids).then(resolve, reject);
        return;
      }
      this.pending.push({ texts, ids, tokens, options, optionsKey: JSON.stringify(options), resolve, reject });
      this.pendingTokens += tokens;
      this.schedule();
    });
    return done.then(release, (error: unknown) => {
      release(undefined);
      throw error;
    });
  }

  private schedule(): void {
    if (this.running >= this.maxInFlight) return; // a running batch's end decides what goes next
    const sinceFree = performance.now() - this.lastFinish;
    // After a quiet spell the last batch's callers are not coming back: expect nobody.
    if (sinceFree > this.options.batchWindowMs) this.expectedJobs = 1;
    if (this.pending.length >= this.expectedJobs || this.pendingTokens >= this.options.maxBatchTokens) {
      this.flushSoon();
    } else if (this.wake === undefined) {
      const timer = setTimeout(() => this.flushNow(), Math.max(0, this.options.batchWindowMs - sinceFree));
      this.wake = { cancel: () => clearTimeout(timer), soon: false };
    }
  }

  /** Flush at the end of this event-loop turn, so submissions of the same turn join the batch. */
  private flushSoon(): void {
    if (this.wake?.soon) return;
    this.wake?.cancel();
    const immediate = setImmediate(() => this.flushNow());
    this.wake = { cancel: () => clearImmediate(immediate), soon: true };
  }

  /** Starts batches from the queue while slots are free. */
  private flushNow(): void {
    this.wake?.cancel();
    this.wake = undefined;
    while (this.running < this.maxInFlight && this.pending.length > 0) {
      const batch = this.takeBatch();
      this.running++;
      this.runningJobs += batch.length;
      void this.runBatch(batch).finally(() => {
        this.running--;
        this.runningJobs -= batch.length;
        this.lastFinish = performance.now();
        // The callers just answered will be back soon (closed-loop clients): wait for them, up to the window.
        this.expectedJobs = batch.length + this.pending.length;
        if (this.pending.length > 0) this.schedule();
      });
    }
  }

  /**
   * Oldest jobs first, up to the token budget (a single job larger than the budget goes alone) and up to an even
   * share of the callers active now (queued + running) per batch slot: 8 callers over 2 slots run as two batches
   * of 4 at once, not as one batch of 8 that keeps one session busy while the other idles.
   */
  private takeBatch(): Job[] {
    const share = Math.ceil((this.pending.length + this.runningJobs) / this.maxInFlight);
    const batch: Job[] = [];
    let tokens = 0;
    while (this.pending.length > 0 && batch.length < share) {
      const job = this.pending[0]!;
      if (batch.length > 0 && tokens + job.tokens > this.options.maxBatchTokens) break;
      batch.push(this.pending.shift()!);
      tokens += job.tokens;
    }
    this.pendingTokens -= tokens;
    return batch;
  }

  /** One model call per distinct option set in the batch (dims/truncation differ per request). */
  private async runBatch(batch: Job[]): Promise<void> {
    const groups = new Map<string, Job[]>();
    for (const job of batch) groups.set(job.optionsKey, [...(groups.get(job.optionsKey) ?? []), job]);
    for (const jobs of groups.values()) {
      try {
        const vectors = await this.call(
          jobs.flatMap((j) => j.texts),
          jobs[0]!.options,
          jobs.reduce((n, j) => n + j.tokens, 0),
          jobs.every((j) => j.ids !== undefined) ? jobs.flatMap((j) => j.ids!) : undefined,
        );
        let offset = 0;
        for (const job of jobs) {
          job.resolve(vectors.slice(offset, offset + job.texts.length));
          offset += job.texts.length;
        }
      } catch (error) {
        if (jobs.length === 1) {
          jobs[0]!.reject(error);
          continue;
        }
        // One bad job must not fail its neighbours: retry each alone, so each gets its own result or error.
        for (const job of jobs) {
          await this.call(job.texts, job.options, job.tokens, job.ids).then(job.resolve, job.reject);
        }
      }
    }
  }

  private async call(
    texts: string[],
    options: EmbedCallOptions,
    tokens = 0,
    ids?: number[][],
  ): Promise<Float32Array[]> {
    const started = performance.now();
    const vectors = await this.embed(texts, options, ids);
    this.options.onBatch?.(texts.length, tokens, (performance.now() - started) / 1000);
    return vectors;
  }
}
