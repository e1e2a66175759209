import { EventSourceParserStream } from "eventsource-parser/stream";
import type { LlmOptions } from "./options.ts";
import type { ChatMessage } from "./prompt.ts";

/**
 * A streaming client for OpenAI-compatible `POST {baseUrl}/chat/completions` with `stream: true`.
 * (lance-e5's synth client is request/response with retries for batch jobs; a page waiting on an answer wants
 * tokens as they come and a prompt, visible failure instead of retries.)
 */

/** Why an answer failed; the page shows the message, tests and logs can branch on the kind. */
export type LlmFailureKind = "http" | "timeout" | "network" | "bad_stream" | "endpoint_error";

export class LlmError extends Error {
  constructor(
    readonly kind: LlmFailureKind,
    message: string,
    /** The endpoint's HTTP status, when it answered one. */
    readonly status?: number,
  ) {
    super(message);
    this.name = "LlmError";
  }
}

export interface StreamedAnswer {
  text: string;
  /** "stop", "length" (cut off by the endpoint's token limit), …; null when the stream only ended with [DONE]. */
  finishReason: string | null;
}

interface ChatChunk {
  choices?: Array<{ delta?: { content?: unknown }; finish_reason?: unknown }>;
  error?: { message?: unknown } | string;
}

/**
 * Streams one chat completion, calling `onToken` with each piece of text in order. Throws LlmError for HTTP
 * errors, silence longer than `timeoutMs` (before the answer starts or between chunks), network failures, and
 * streams that are not server-sent events of chat chunks or that end before the answer finished.
 */
export async function streamChatCompletion(
  llm: LlmOptions,
  messages: readonly ChatMessage[],
  onToken: (piece: string) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<StreamedAnswer> {
  const url = `${llm.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const controller = new AbortController();
  const stopOnCallerAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener("abort", stopOnCallerAbort, { once: true });
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  // The watchdog restarts on every byte received: a slow but steady stream is fine, a silent one is not.
  const rearm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, llm.timeoutMs);
  };

  const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" };
  if (llm.apiKey) headers.authorization = `Bearer ${llm.apiKey}`;
  try {
    rearm();
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({ model: llm.model, messages, stream: true }),
      signal: controller.signal,
    });
    if (!response.ok) {
      const body = await response.text();
      throw new LlmError("http", `LLM endpoint answered HTTP ${response.status}: ${errorText(body)}`, response.status);
    }
    const contentType = response.headers.get("content-type") ?? "(none)";
    if (!contentType.includes("text/event-stream") || !response.body) {
      const body = await response.text();
      throw new LlmError(
        "bad_stream",
        `LLM endpoint did not stream: asked for server-sent events, got ${contentType}: ${errorText(body)}`,
      );
    }

    let text = "";
    let finishReason: string | null = null;
    let sawDone = false;
    const events = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
    for await (const event of events) {
      rearm();
      if (event.data.trim() === "[DONE]") {
        sawDone = true;
        break;
      }
      let chunk: ChatChunk;
      try {
        chunk = JSON.parse(event.data) as ChatChunk;
      } catch {
        throw new LlmError("bad_stream", `LLM stream sent a chunk that is not JSON: ${event.data.slice(0, 200)}`);
      }
      if (chunk.error !== undefined) {
        const message = typeof chunk.error === "string" ? chunk.error : String(chunk.error.message ?? "");
        throw new LlmError("endpoint_error", `LLM endpoint reported an error mid-stream: ${message.slice(0, 300)}`);
      }
      const choice = chunk.choices?.[0];
      const piece = choice?.delta?.content;
      if (typeof piece === "string" && piece !== "") {
        text += piece;
        await onToken(piece);
      }
      if (typeof choice?.finish_reason === "string") finishReason = choice.finish_reason;
    }
    if (finishReason === null && !sawDone) {
      throw new LlmError("bad_stream", "LLM stream ended before the answer was finished (no finish_reason, no [DONE])");
    }
    if (text.trim() === "") throw new LlmError("bad_stream", "LLM endpoint finished without any answer text");
    return { text, finishReason };
  } catch (error) {
    if (error instanceof LlmError) throw error;
    if (timedOut) throw new LlmError("timeout", `LLM endpoint sent nothing for ${llm.timeoutMs} ms (--llm-timeout-ms)`);
    if (signal?.aborted) throw error; // the caller went away; nobody is left to tell
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    throw new LlmError("network", `could not reach the LLM endpoint ${url}: ${cause ?? (error as Error).message}`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stopOnCallerAbort);
  }
}

/** The `error.message` of an OpenAI-style error body, else the body's first characters. */
function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
    const message = typeof parsed.error === "string" ? parsed.error : (parsed.error?.message ?? parsed.message);
    if (typeof message === "string" && message !== "") return message.slice(0, 300);
  } catch {
    // not JSON: show it as sent
  }
  return body.trim().slice(0, 300) || "(empty body)";
}
