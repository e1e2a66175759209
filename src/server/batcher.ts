import { HttpError } from "./errors.ts";

/**
 * Micro-batching of concurrent embedding work (text-embeddings-inference's queue, in small): handlers never call
 * the model; they submit already-formatted texts here. Jobs that queue while a batch is running go to the model
 * together in the next call (up to `maxBatchTokens`): continuous batching, so throughput grows with concurrency
 * instead of concurrent calls fighting over the same cores. When the model is idle, a job that arrives within
 * `batchWindowMs` of the previous arrival (traffic is dense) waits up to that window for company; a job after a
 * quiet spell goes at the next event-loop turn (with whatever arrived in the same turn), so a lone client pays no
 * window. `batchWindowMs: 0` disables batching: each job calls the model at once, on its own.
 */

export interface EmbedCallOptions {
  /** Matryoshka dims (the request's `dimensions`). */
  dimensions?: number;
  /** Cut over-length texts (the request already checked; queries are always cut). */
  truncate?: boolean;
}

/** The model call: embeds formatted texts as given (Embedder.embedRaw). */
export type EmbedTexts = (texts: string[], options: EmbedCallOptions) => Promise<Float32Array[]>;

export interface BatcherOptions {
  /** How long a job arriving in dense traffic at an idle model waits for company, in ms; 0 disables batching. */
  batchWindowMs: number;
  /** Flush as soon as this many tokens are queued, and never put more in one model call. */
  maxBatchTokens: number;
  /** Permits: texts queued or running at most; beyond, submit() fails with 429 `overloaded`. */
  maxQueuedTexts: number;
  /** Observes each model call (metrics). */
  onBatch?: (texts: number, tokens: number, seconds: number) => void;
}

interface Job {
  texts: string[];
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
  private wake: { cancel(): void } | undefined;
  /** performance.now() of the previous submission (dense traffic detection). */
  private lastArrival = Number.NEGATIVE_INFINITY;
  private running = false;
  /** Texts accepted and not yet answered (the permits in use). */
  private inFlightTexts = 0;

  constructor(
    private readonly embed: EmbedTexts,
    private readonly options: BatcherOptions,
  ) {}

  /** Texts waiting or being embedded now (gauge). */
  get queuedTexts(): number {
    return this.inFlightTexts;
  }

  /**
   * Embeds `texts` (already formatted) with `tokens` = their total token count. Resolves in input order.
   * Throws HttpError 429 `overloaded` at once when the permits are used up.
   */
  submit(texts: string[], tokens: number, options: EmbedCallOptions = {}): Promise<Float32Array[]> {
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
        this.call(texts, options, tokens).then(resolve, reject);
        return;
      }
      this.pending.push({ texts, tokens, options, optionsKey: JSON.stringify(options), resolve, reject });
      this.pendingTokens += tokens;
      this.schedule();
    });
    return done.then(release, (error: unknown) => {
      release(undefined);
      throw error;
    });
  }

  private schedule(): void {
    const now = performance.now();
    const dense = now - this.lastArrival <= this.options.batchWindowMs;
    this.lastArrival = now;
    if (this.running) return; // the running batch's completion flushes what queued meanwhile
    if (this.pendingTokens >= this.options.maxBatchTokens) {
      this.flushNow();
    } else if (this.wake === undefined) {
      if (dense) {
        const timer = setTimeout(() => this.flushNow(), this.options.batchWindowMs);
        this.wake = { cancel: () => clearTimeout(timer) };
      } else {
        const immediate = setImmediate(() => this.flushNow());
        this.wake = { cancel: () => clearImmediate(immediate) };
      }
    }
  }

  private flushNow(): void {
    this.wake?.cancel();
    this.wake = undefined;
    if (this.running || this.pending.length === 0) return;
    const batch = this.takeBatch();
    this.running = true;
    void this.runBatch(batch).finally(() => {
      this.running = false;
      // Whatever arrived while the model was busy has already waited at least one batch: go again at once.
      if (this.pending.length > 0) this.flushNow();
    });
  }

  /** Oldest jobs first, up to the token budget (a single job larger than the budget goes alone). */
  private takeBatch(): Job[] {
    const batch: Job[] = [];
    let tokens = 0;
    while (this.pending.length > 0) {
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
        for (const job of jobs) await this.call(job.texts, job.options, job.tokens).then(job.resolve, job.reject);
      }
    }
  }

  private async call(texts: string[], options: EmbedCallOptions, tokens = 0): Promise<Float32Array[]> {
    const started = performance.now();
    const vectors = await this.embed(texts, options);
    this.options.onBatch?.(texts.length, tokens, (performance.now() - started) / 1000);
    return vectors;
  }
}
