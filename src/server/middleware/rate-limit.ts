import type { MiddlewareHandler } from "hono";
import { HttpError } from "../errors.ts";

export interface RateLimitOptions {
  /** Sustained requests per minute per key; 0 turns the limiter off. */
  requestsPerMinute: number;
  /** Bucket size: requests allowed in a burst (default: one minute's worth). */
  burst?: number;
  /** Who a request counts against (the API key id, else the client address). */
  keyOf: (c: Parameters<MiddlewareHandler>[0]) => string;
  /** Clock in ms (tests). */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/** Buckets kept before idle (full) ones are swept, so a stream of one-off clients cannot grow memory unbounded. */
const SWEEP_AT = 10_000;

/**
 * Per-key token bucket: each key may burst `burst` requests and then `requestsPerMinute` per minute. A request
 * over the limit is a 429 `rate_limited` with Retry-After (whole seconds until a token is available).
 */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler {
  const perMs = options.requestsPerMinute / 60_000;
  const burst = options.burst ?? Math.max(1, options.requestsPerMinute);
  const now = options.now ?? Date.now;
  const buckets = new Map<string, Bucket>();

  return async function rateLimitMiddleware(c, next) {
    if (options.requestsPerMinute <= 0) return next();
    const t = now();
    const key = options.keyOf(c);
    let bucket = buckets.get(key);
    if (!bucket) {
      if (buckets.size >= SWEEP_AT) sweep(buckets, t, perMs, burst);
      bucket = { tokens: burst, updated: t };
      buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + (t - bucket.updated) * perMs);
    bucket.updated = t;
    if (bucket.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
      throw new HttpError(429, "rate_limited", `rate limit of ${options.requestsPerMinute} requests/minute exceeded`, {
        "Retry-After": String(retryAfter),
      });
    }
    bucket.tokens -= 1;
    return next();
  };
}

function sweep(buckets: Map<string, Bucket>, t: number, perMs: number, burst: number): void {
  for (const [key, b] of buckets) {
    if (b.tokens + (t - b.updated) * perMs >= burst) buckets.delete(key);
  }
}
