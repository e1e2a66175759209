import * as lancedb from "@lancedb/lancedb";
import type { Embedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/index.ts";
import { type AppOptions, createApp, type LanceE5App } from "../../src/server/app.ts";
import { buildTable, TINY_MISTRAL, tempDir } from "../search/helpers.ts";

/** One real model and one real ingested table for a test file; apps with different options are cheap on top. */
export interface ServerFixture {
  embedder: Embedder;
  dir: string;
  db: lancedb.Connection;
  app(options?: Partial<AppOptions>): Promise<LanceE5App>;
  cleanup(): Promise<void>;
}

export async function serverFixture(): Promise<ServerFixture> {
  const embedder = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
  const { dir, cleanup } = await tempDir("lance-e5-server-");
  await buildTable(dir, embedder);
  const db = await lancedb.connect(dir);
  return {
    embedder,
    dir,
    db,
    async app(options = {}) {
      const app = createApp({ embedder, db, defaultTable: "docs", log: () => {}, ...options });
      await app.warmUp();
      return app;
    },
    async cleanup() {
      await cleanup();
    },
  };
}

/** POST JSON through app.request() (in-process, no socket). */
export function postJson(
  lanceE5: LanceE5App,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return Promise.resolve(
    lanceE5.app.request(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}

export async function errorOf(response: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return { status: response.status, code: body.error.code, message: body.error.message };
}

/** Decodes an OpenAI base64 embedding (little-endian float32). */
export function decodeBase64Floats(text: string): Float32Array {
  const bytes = Buffer.from(text, "base64");
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
