import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";

/**
 * A fake OpenAI-compatible chat endpoint for tests (the only test double the project allows: a remote LLM).
 * `POST /v1/chat/completions` answers from, in order: a queue of scripted replies (`replies`, `push()`),
 * a function of the request (`respond`), a fallback reply — else a 500 naming the missing script, so a test
 * that under-scripts fails loudly. Replies can be content (JSON or SSE when the request has `stream: true`),
 * an HTTP status with headers such as Retry-After, a delay, or a hang that only ends when the client gives up.
 * Every request is recorded with its arrival time, so tests can observe retries and backoff delays.
 */

export interface RecordedChatRequest {
  /** 0-based arrival order. */
  index: number;
  /** Milliseconds since the epoch, when the request arrived. */
  receivedAt: number;
  body: ChatRequestBody;
  headers: Record<string, string>;
}

export interface ChatRequestBody {
  model?: string;
  messages?: Array<{ role: string; content: string }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  temperature?: number;
  top_p?: number;
  [key: string]: unknown;
}

export type FakeReply =
  | {
      content: string;
      usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
      finishReason?: string;
      /** Wait before answering (headers included). */
      delayMs?: number;
      /** Streaming only: wait between SSE chunks. */
      chunkDelayMs?: number;
    }
  | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  | { hang: true };

export type Responder = (request: RecordedChatRequest) => FakeReply | Promise<FakeReply>;

export interface FakeOpenAIOptions {
  replies?: FakeReply[];
  respond?: Responder;
  fallback?: FakeReply;
  /** Listed by GET /v1/models and echoed in answers when the request names none. */
  model?: string;
}

export interface FakeOpenAI {
  /** e.g. http://127.0.0.1:PORT/v1 — what `--llm-base-url` takes. */
  baseUrl: string;
  requests: RecordedChatRequest[];
  /** Appends scripted replies to the queue. */
  push(...replies: FakeReply[]): void;
  /** Requests that are hanging right now. */
  hanging(): number;
  close(): Promise<void>;
}

/** The user message text of a recorded request (the generator sends exactly one). */
export function userMessage(request: RecordedChatRequest): string {
  const users = (request.body.messages ?? []).filter((message) => message.role === "user");
  return users[users.length - 1]?.content ?? "";
}

const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

export function createFakeOpenAIApp(options: FakeOpenAIOptions = {}) {
  const queue = [...(options.replies ?? [])];
  const requests: RecordedChatRequest[] = [];
  const hangs = new Set<() => void>();
  const model = options.model ?? "fake-model";
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const app = new Hono();
  app.get("/v1/models", (c) => c.json({ object: "list", data: [{ id: model, object: "model", owned_by: "fake" }] }));
  app.post("/v1/chat/completions", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as ChatRequestBody;
    const request: RecordedChatRequest = {
      index: requests.length,
      receivedAt: Date.now(),
      body,
      headers: Object.fromEntries(c.req.raw.headers),
    };
    requests.push(request);
    const reply: FakeReply = queue.shift() ??
      (options.respond ? await options.respond(request) : undefined) ??
      options.fallback ?? {
        status: 500,
        body: { error: { message: `fake-openai: no scripted reply for request ${request.index}` } },
      };

    if ("hang" in reply) {
      // Ends when the client disconnects (its timeout) or the server closes.
      await new Promise<void>((resolve) => {
        const done = () => {
          hangs.delete(done);
          resolve();
        };
        hangs.add(done);
        c.req.raw.signal.addEventListener("abort", done, { once: true });
      });
      return c.body(null, 499 as never);
    }
    if (reply.delayMs) await sleep(reply.delayMs);
    if ("status" in reply) {
      for (const [name, value] of Object.entries(reply.headers ?? {})) c.header(name, value);
      return c.json(reply.body ?? { error: { message: `scripted HTTP ${reply.status}` } }, reply.status as never);
    }

    const promptTokens = reply.usage?.prompt_tokens ?? words(body.messages?.map((m) => m.content).join(" ") ?? "");
    const completionTokens = reply.usage?.completion_tokens ?? words(reply.content);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: reply.usage?.total_tokens ?? promptTokens + completionTokens,
    };
    const id = `chatcmpl-fake-${request.index}`;
    const created = Math.floor(request.receivedAt / 1000);
    const answerModel = body.model ?? model;
    const finishReason = reply.finishReason ?? "stop";

    if (body.stream) {
      return streamSSE(c, async (stream) => {
        const chunk = (delta: Record<string, string>, finish: string | null) => ({
          id,
          object: "chat.completion.chunk",
          created,
          model: answerModel,
          choices: [{ index: 0, delta, finish_reason: finish }],
        });
        await stream.writeSSE({ data: JSON.stringify(chunk({ role: "assistant", content: "" }, null)) });
        for (const piece of reply.content.match(/\S+\s*|\s+/g) ?? []) {
          if (reply.chunkDelayMs) await stream.sleep(reply.chunkDelayMs);
          await stream.writeSSE({ data: JSON.stringify(chunk({ content: piece }, null)) });
        }
        await stream.writeSSE({ data: JSON.stringify(chunk({}, finishReason)) });
        if (body.stream_options?.include_usage) {
          await stream.writeSSE({
            data: JSON.stringify({
              id,
              object: "chat.completion.chunk",
              created,
              model: answerModel,
              choices: [],
              usage,
            }),
          });
        }
        await stream.writeSSE({ data: "[DONE]" });
      });
    }
    return c.json({
      id,
      object: "chat.completion",
      created,
      model: answerModel,
      choices: [{ index: 0, message: { role: "assistant", content: reply.content }, finish_reason: finishReason }],
      usage,
    });
  });

  return {
    app,
    requests,
    push: (...replies: FakeReply[]) => queue.push(...replies),
    hangs,
  };
}

/** Starts the fake on 127.0.0.1 with an ephemeral port. */
export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const { app, requests, push, hangs } = createFakeOpenAIApp(options);
  const { server, port } = await new Promise<{ server: Server; port: number }>((resolve) => {
    const started = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) =>
      resolve({ server: started as Server, port: info.port }),
    );
  });
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    push,
    hanging: () => hangs.size,
    close: async () => {
      for (const release of [...hangs]) release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
