import { BudgetExhaustedError, LlmResponseError, type RequestBudget, RunAbortedError } from "./client.ts";

export type StopReason = "complete" | "max-requests" | "max-tokens" | "max-attempts" | "aborted" | "error";

export interface AttemptLoopOptions {
  concurrency: number;
  /** Attempts this loop may start (guards against an endpoint whose every answer is dropped). */
  maxAttempts: number;
  firstAttempt: number;
  budget: RequestBudget;
  signal?: AbortSignal;
  /** The work of attempt `n`, or undefined when nothing more is needed right now (quotas met or in flight). */
  next: (attempt: number) => (() => Promise<void>) | undefined;
  /** A 200 answer the client could not use: counted as a drop by the caller. */
  onBadResponse: () => void;
  /** After each attempt settles (progress display). */
  onSettled?: () => void;
}

export interface AttemptLoopResult {
  /** Why the loop stopped starting attempts; undefined when `next` ran out of work. */
  stopReason?: StopReason;
  attempts: number;
  /** The first error that is not a drop, budget or abort (a rejected key, an endpoint down after retries). */
  fatal?: unknown;
}

/**
 * Runs numbered attempts with bounded concurrency until `next` has no more work, the budget or the attempt
 * guard is spent, the signal aborts, or an attempt fails fatally. Attempts in flight always finish (or are
 * aborted by the signal) before it returns, so every accepted example is on disk by then.
 */
export async function runAttemptLoop(options: AttemptLoopOptions): Promise<AttemptLoopResult> {
  const result: AttemptLoopResult = { attempts: 0 };
  const handleError = (error: unknown) => {
    if (error instanceof RunAbortedError) result.stopReason ??= "aborted";
    else if (error instanceof BudgetExhaustedError) result.stopReason ??= error.limit;
    else if (error instanceof LlmResponseError) options.onBadResponse();
    else {
      result.stopReason = "error";
      result.fatal ??= error;
    }
  };
  const inflight = new Set<Promise<void>>();
  let nextAttempt = options.firstAttempt;
  for (;;) {
    while (result.stopReason === undefined && inflight.size < Math.max(1, options.concurrency)) {
      if (options.signal?.aborted) {
        result.stopReason = "aborted";
        break;
      }
      const limit = options.budget.exhausted();
      if (limit) {
        result.stopReason = limit;
        break;
      }
      if (result.attempts >= options.maxAttempts) {
        result.stopReason = "max-attempts";
        break;
      }
      const work = options.next(nextAttempt);
      if (work === undefined) break;
      nextAttempt += 1;
      result.attempts += 1;
      const running: Promise<void> = work()
        .catch(handleError)
        .finally(() => {
          inflight.delete(running);
          options.onSettled?.();
        });
      inflight.add(running);
    }
    if (inflight.size === 0) break;
    await Promise.race(inflight);
  }
  return result;
}
