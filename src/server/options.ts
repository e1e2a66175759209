/**
 * Every server tunable, with its default. `lance-e5 serve` exposes each as a flag that also reads the env var
 * named beside it (src/cli/commands/serve.ts), as text-embeddings-inference does.
 */
export interface ServerLimits {
  /** Largest request body, bytes (--max-body-bytes, LANCE_E5_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /** Largest k a search may ask for (--max-k, LANCE_E5_MAX_K). */
  maxK: number;
  /** Most inputs in one /v1/embeddings request (--max-inputs, LANCE_E5_MAX_INPUTS). */
  maxInputs: number;
  /** Most tokens (after formatting, special tokens included) in one request (--max-input-tokens, LANCE_E5_MAX_INPUT_TOKENS). */
  maxInputTokens: number;
  /** Per-request deadline, ms; past it the client gets 504 `timeout` (--request-timeout-ms, LANCE_E5_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  /** Requests per minute per API key (per client address without keys); 0 = off (--rate-limit, LANCE_E5_RATE_LIMIT). */
  rateLimitPerMinute: number;
  /** Burst allowance of the rate limiter (--rate-limit-burst, LANCE_E5_RATE_LIMIT_BURST; default one minute's worth). */
  rateLimitBurst?: number;
  /** Allowed CORS origins; empty = no CORS headers; ["*"] = any (--cors-origins, LANCE_E5_CORS_ORIGINS). */
  corsOrigins: string[];
}

export interface BatchingOptions {
  /** Micro-batching window, ms; 0 disables batching (--batch-window-ms, LANCE_E5_BATCH_WINDOW_MS). */
  batchWindowMs: number;
  /** Token budget of one model call (--max-batch-tokens, LANCE_E5_MAX_BATCH_TOKENS). */
  maxBatchTokens: number;
  /** Texts queued or running before new work gets 429 `overloaded` (--max-queued-texts, LANCE_E5_MAX_QUEUED_TEXTS). */
  maxQueuedTexts: number;
  /**
   * Model calls running at once while the next batch collects (--max-batches-in-flight,
   * LANCE_E5_MAX_BATCHES_IN_FLIGHT). Default: the embedder's parallelism (the local runtime's worker sessions,
   * one per CPU for small models), else 1.
   */
  maxBatchesInFlight?: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: 2 * 1024 * 1024,
  maxK: 100,
  maxInputs: 256,
  maxInputTokens: 131_072,
  requestTimeoutMs: 30_000,
  rateLimitPerMinute: 0,
  corsOrigins: [],
};

export const DEFAULT_BATCHING: BatchingOptions = {
  batchWindowMs: 5,
  maxBatchTokens: 8192,
  maxQueuedTexts: 4096,
};

/** How long a graceful shutdown waits for in-flight requests before closing their connections (--drain-timeout-ms). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/**
 * How often, at most, the server looks for table versions other processes committed (`--read-consistency-ms`,
 * LANCE_E5_READ_CONSISTENCY_MS): a search starting more than this long after the last check re-reads the
 * latest version first, so rows another `ingest` commits become searchable within about this long. LanceDB's own
 * default never re-checks (a long-lived reader would stay on the version it opened); 0 checks on every search
 * (strong consistency, one extra manifest read per search — noticeable on object storage).
 */
export const DEFAULT_READ_CONSISTENCY_MS = 5000;
