import { setTimeout as sleep } from "node:timers/promises";

/** Lance reports concurrent commits as "Commit conflict for version N" / "Retryable commit conflict …". */
export function isCommitConflict(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /commit conflict|conflicting transaction|retryable/i.test(message);
}

export interface RetryOptions {
  /** Attempts in all (default 10). */
  attempts?: number;
  /** First delay in ms, doubled each retry with ±50% jitter (default 50). */
  baseDelayMs?: number;
  /** Upper bound of one delay in ms (default 5000). */
  maxDelayMs?: number;
  /** Which errors to retry (default: commit conflicts). */
  retryOn?: (error: unknown) => boolean;
}

/**
 * Runs a LanceDB write, retrying commit conflicts with exponential backoff and jitter so that concurrent
 * writers (several ingest processes on one table) all get through. Writes passed here must be idempotent
 * (mergeInsert on id, delete by predicate), so a retry after an ambiguous failure cannot duplicate rows.
 */
/**
 * Retries for table maintenance (index builds, optimize): these commits are long and every concurrent writer's
 * commit preempts them, so they get more attempts; the jitter separates two processes optimizing at once.
 */
export const MAINTENANCE_RETRIES: RetryOptions = { attempts: 20, baseDelayMs: 100, maxDelayMs: 3000 };

export async function withCommitRetries<T>(write: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 10;
  const base = options.baseDelayMs ?? 50;
  const retryOn = options.retryOn ?? isCommitConflict;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (attempt >= attempts || !retryOn(error)) throw error;
      const delay = Math.min(base * 2 ** (attempt - 1), options.maxDelayMs ?? 5000) * (0.5 + Math.random());
      await sleep(delay);
    }
  }
}
