import { setTimeout as sleep } from "node:timers/promises";
import { RemoteUnreachableError } from "./remote-errors.ts";

/** How one HTTP call to an embedding endpoint is retried. */
export interface RetryPolicy {
  /** Per try, including reading the body (AbortSignal.timeout). */
  timeoutMs: number;
  /** Retries after the first try: at most maxRetries + 1 requests per call. */
  maxRetries: number;
  /** First backoff delay; doubles per retry up to retryMaxMs, scaled by a jitter factor in [0.5, 1). */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Longest Retry-After honoured: a server asking for more waits this long (and answers 429 again if too soon). */
  retryAfterMaxMs: number;
  random?: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  timeoutMs: 60_000,
  maxRetries: 5,
  retryBaseMs: 500,
  retryMaxMs: 10_000,
  retryAfterMaxMs: 60_000,
};

export interface FetchedText {
  status: number;
  headers: Headers;
  text: string;
  /** Retries it took (0: the first try answered). */
  retries: number;
}

/** Retry-After as delta-seconds or an HTTP date; OpenAI also sends retry-after-ms. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Number(ms);
  const value = headers.get("retry-after");
  if (value === null) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** 408 (request timeout), 429 (rate limit / queue full) and 5xx are worth another try; other answers are final. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * fetch with a per-try timeout and retries (exponential backoff with jitter, Retry-After honoured) on retryable
 * statuses, timeouts and network errors. Returns the final answer whatever its status — the caller maps statuses
 * to errors — and throws RemoteUnreachableError only when no try got an answer. Embedding requests are
 * idempotent, so retrying one whose answer was lost is safe.
 */
export async function fetchWithRetries(url: string, init: RequestInit, policy: RetryPolicy): Promise<FetchedText> {
  const random = policy.random ?? Math.random;
  for (let retry = 0; ; retry++) {
    let serverDelay: number | undefined;
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(policy.timeoutMs) });
      const text = await response.text();
      if (!isRetryableStatus(response.status) || retry >= policy.maxRetries) {
        return { status: response.status, headers: response.headers, text, retries: retry };
      }
      serverDelay = retryAfterMs(response.headers);
    } catch (error) {
      if (retry >= policy.maxRetries) throw new RemoteUnreachableError(url, describeFailure(error, policy), retry);
    }
    const backoff = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** retry) * (0.5 + 0.5 * random());
    await sleep(serverDelay !== undefined ? Math.min(serverDelay, policy.retryAfterMaxMs) : Math.round(backoff));
  }
}

function describeFailure(error: unknown, policy: RetryPolicy): string {
  const err = error as Error;
  if (err.name === "TimeoutError" || err.name === "AbortError") return `timeout after ${policy.timeoutMs} ms`;
  return `network error: ${err.cause instanceof Error ? err.cause.message : err.message}`;
}
