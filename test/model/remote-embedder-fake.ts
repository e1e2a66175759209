import { createHash } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";

/**
 * A fake OpenAI-compatible embeddings endpoint for the failure modes a real server will not produce on demand
 * (429 with Retry-After, 503, hangs, malformed answers). Replies come from a queue of scripted ones, else the
 * default: deterministic vectors derived from each input's text (so order and batching are checkable). GET
 * /health is 404, as on OpenAI (not a lance-e5 server). Every request is recorded with its arrival time.
 */

export type FakeEmbeddingsReply =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { raw: string }
  | { hang: true };

export interface RecordedEmbeddingsRequest {
  receivedAt: number;
  body: { model?: string; input?: string[]; [key: string]: unknown };
  headers: Record<string, string>;
}

export interface FakeEmbeddings {
  url: string;
  requests: RecordedEmbeddingsRequest[];
  push(...replies: FakeEmbeddingsReply[]): void;
  close(): Promise<void>;
}

/** The fake's vector for a text: `dim` values from SHA-256 of the text (not normalised; the client normalises). */
export function fakeVector(text: string, dim: number): number[] {
  const digest = createHash("sha256").update(text).digest();
  return Array.from({ length: dim }, (_, i) => (digest[i % digest.length]! - 127.5) / 128);
}

export async function startFakeEmbeddings(
  options: {
    dim?: number /** GET /health answers this (as a lance-e5 server would); default 404. */;
    health?: unknown;
  } = {},
): Promise<FakeEmbeddings> {
  const dim = options.dim ?? 8;
  const queue: FakeEmbeddingsReply[] = [];
  const requests: RecordedEmbeddingsRequest[] = [];
  const hangs = new Set<() => void>();
  const app = new Hono();
  if (options.health !== undefined) app.get("/health", (c) => c.json(options.health as object));
  app.post("/v1/embeddings", async (c) => {
    const body = (await c.req.json()) as RecordedEmbeddingsRequest["body"];
    requests.push({ receivedAt: Date.now(), body, headers: Object.fromEntries(c.req.raw.headers) });
    const reply = queue.shift();
    if (reply === undefined) {
      const input = body.input ?? [];
      return c.json({
        object: "list",
        // Reversed on purpose: clients must place vectors by `index`, not by position.
        data: input.map((text, index) => ({ object: "embedding", index, embedding: fakeVector(text, dim) })).reverse(),
        model: body.model,
        usage: { prompt_tokens: 0, total_tokens: 0 },
      });
    }
    if ("hang" in reply) {
      await new Promise<void>((resolve) => hangs.add(resolve));
      return c.body(null, 500);
    }
    if ("raw" in reply) return c.body(reply.raw, 200, { "content-type": "application/json" });
    return c.json(reply.body ?? { error: { message: `scripted ${reply.status}` } }, reply.status as 400, reply.headers);
  });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s as Server));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    push: (...replies) => queue.push(...replies),
    async close() {
      for (const release of hangs) release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
