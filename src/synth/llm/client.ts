/**
 * A small client for OpenAI-compatible `POST {baseUrl}/chat/completions` (baseUrl includes the version
 * prefix, e.g. http://localhost:8000/v1, as the OpenAI SDKs expect). One user message per call: every
 * brainstorm and every example is a fresh conversation, as in the paper.
 *
 * Robustness for real APIs: a per-request timeout, retries with exponential backoff and jitter on 429, 5xx,
 * timeouts and network errors, honouring Retry-After / retry-after-ms, and a shared request/token budget.
 */

import { retryAfterMs } from "../../model/remote-http.ts";

/** Re-exported: one Retry-After parser serves the chat client and the remote embedding backend. */
export { retryAfterMs };

export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface ChatResult {
  content: string;
  usage: ChatUsage;
}

export interface ChatClientOptions {
  baseUrl: string;
  model: string;
  apiKey?: string;
  temperature: number;
  topP: number;
  /** Per HTTP request, including reading the body. */
  timeoutMs: number;
  /** Retries after the first try (so at most maxRetries + 1 requests per call). */
  maxRetries: number;
  /** First backoff delay; doubles per retry, capped by retryMaxMs, with jitter in [50%, 100%]. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Longest Retry-After honoured; a server asking for more gets this (it will answer 429 again if too soon). */
  retryAfterMaxMs?: number;
  budget: RequestBudget;
  /** Aborts every request (Ctrl-C); an aborted call throws RunAbortedError and is not retried. */
  signal?: AbortSignal;
  onRetry?: (event: RetryEvent) => void;
  random?: () => number;
}

export interface RetryEvent {
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  /** "429", "500", "timeout", "network: …". */
  cause: string;
  /** True when the delay came from the server's Retry-After. */
  fromRetryAfter: boolean;
}

/** A non-retryable HTTP answer (4xx other than 408/429) or a retryable one after the last retry. */
export class LlmHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly retries: number,
  ) {
    super(
      `LLM endpoint answered HTTP ${status}${retries > 0 ? ` after ${retries} retries` : ""}: ${body.slice(0, 300)}`,
    );
    this.name = "LlmHttpError";
  }
}

/** Timeouts or network failures on every try. */
export class LlmUnreachableError extends Error {
  constructor(
    readonly lastCause: string,
    readonly retries: number,
  ) {
    super(`LLM endpoint failed ${retries + 1} times; last: ${lastCause}`);
    this.name = "LlmUnreachableError";
  }
}

/** A 200 answer without a `choices[0].message.content` string. */
export class LlmResponseError extends Error {
  constructor(detail: string) {
    super(`LLM endpoint sent an unusable answer: ${detail}`);
    this.name = "LlmResponseError";
  }
}

export class BudgetExhaustedError extends Error {
  constructor(readonly limit: "max-requests" | "max-tokens") {
    super(`budget exhausted: ${limit}`);
    this.name = "BudgetExhaustedError";
  }
}

export class RunAbortedError extends Error {
  constructor() {
    super("run aborted");
    this.name = "RunAbortedError";
  }
}

/**
 * Counts requests (every HTTP try, retries included: each one costs) and tokens (from `usage`), and refuses
 * new requests past --max-requests / --max-tokens. Tokens are known only after an answer, so a run can end
 * slightly past --max-tokens by the answers already in flight.
 */
export class RequestBudget {
  requests = 0;
  retries = 0;
  promptTokens = 0;
  completionTokens = 0;
  totalTokens = 0;

  constructor(
    readonly maxRequests?: number,
    readonly maxTokens?: number,
  ) {}

  /** The limit that stops further requests, if any. */
  exhausted(): "max-requests" | "max-tokens" | undefined {
    if (this.maxRequests !== undefined && this.requests >= this.maxRequests) return "max-requests";
    if (this.maxTokens !== undefined && this.totalTokens >= this.maxTokens) return "max-tokens";
    return undefined;
  }

  reserveRequest(): void {
    const limit = this.exhausted();
    if (limit) throw new BudgetExhaustedError(limit);
    this.requests += 1;
  }

  addUsage(usage: ChatUsage): void {
    this.promptTokens += usage.promptTokens;
    this.completionTokens += usage.completionTokens;
    this.totalTokens += usage.totalTokens;
  }
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RunAbortedError());
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new RunAbortedError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function readUsage(body: Record<string, unknown>): ChatUsage {
  const usage = (body.usage ?? {}) as Record<string, unknown>;
  const number = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : 0);
  const promptTokens = number(usage.prompt_tokens);
  const completionTokens = number(usage.completion_tokens);
  const totalTokens = number(usage.total_tokens) || promptTokens + completionTokens;
  return { promptTokens, completionTokens, totalTokens };
}

function readContent(body: unknown): string {
  const choices = (body as { choices?: unknown })?.choices;
  const message = Array.isArray(choices) ? (choices[0] as { message?: { content?: unknown } })?.message : undefined;
  if (typeof message?.content !== "string") throw new LlmResponseError("no choices[0].message.content string");
  return message.content;
}

/** Sends one user message and returns the assistant's text; retries as described above. */
export async function chatCompletion(options: ChatClientOptions, userMessage: string): Promise<ChatResult> {
  const url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const random = options.random ?? Math.random;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const body = JSON.stringify({
    model: options.model,
    messages: [{ role: "user", content: userMessage }],
    temperature: options.temperature,
    top_p: options.topP,
  });

  for (let retry = 0; ; retry++) {
    if (options.signal?.aborted) throw new RunAbortedError();
    options.budget.reserveRequest();
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let cause: string;
    let serverDelay: number | undefined;
    try {
      const response = await fetch(url, { method: "POST", headers, body, signal });
      const text = await response.text();
      if (response.ok) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new LlmResponseError("body is not JSON");
        }
        const result = { content: readContent(parsed), usage: readUsage(parsed as Record<string, unknown>) };
        options.budget.addUsage(result.usage);
        return result;
      }
      if (!isRetryableStatus(response.status) || retry >= options.maxRetries) {
        throw new LlmHttpError(response.status, text, retry);
      }
      cause = String(response.status);
      serverDelay = retryAfterMs(response.headers);
    } catch (error) {
      if (error instanceof LlmHttpError || error instanceof LlmResponseError) throw error;
      if (options.signal?.aborted) throw new RunAbortedError();
      cause =
        timeout.aborted || (error as Error).name === "TimeoutError"
          ? "timeout"
          : `network: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`;
      if (retry >= options.maxRetries) throw new LlmUnreachableError(cause, retry);
    }
    const backoff = Math.min(options.retryMaxMs, options.retryBaseMs * 2 ** retry) * (0.5 + 0.5 * random());
    const delayMs =
      serverDelay !== undefined ? Math.min(serverDelay, options.retryAfterMaxMs ?? 300_000) : Math.round(backoff);
    options.budget.retries += 1;
    options.onRetry?.({ retry: retry + 1, delayMs, cause, fromRetryAfter: serverDelay !== undefined });
    await sleep(delayMs, options.signal);
  }
}
