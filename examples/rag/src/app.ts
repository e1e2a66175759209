import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { streamSSE } from "hono/streaming";
import { type Embedder, SEARCH_MODES, type SearchTarget, TASK_INSTRUCTIONS } from "lance-e5";
import { AskRequestError, parseAskRequest } from "./ask-request.ts";
import { extractiveAnswer, highlight, queryTerms } from "./extractive.ts";
import { LlmError, streamChatCompletion } from "./llm.ts";
import { type LlmOptions, MAX_PASSAGES } from "./options.ts";
import { buildGroundedMessages, citationsOf } from "./prompt.ts";
import { type Passage, retrievePassages } from "./retrieve.ts";

export interface RagAppContext {
  target: SearchTarget;
  embedder: Embedder;
  defaults: { task: string; mode: string; k: number };
  llm?: LlmOptions;
  /** Shown on the page: what is being searched. */
  corpus: { name: string; chunks: number };
}

/** Static files of the page: plain HTML, CSS and one module script, no build step. */
const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../public");
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: path.join(PUBLIC_DIR, "index.html"), type: "text/html; charset=utf-8" },
  "/app.js": { file: path.join(PUBLIC_DIR, "app.js"), type: "text/javascript; charset=utf-8" },
  "/style.css": { file: path.join(PUBLIC_DIR, "style.css"), type: "text/css; charset=utf-8" },
  // The page parses the answer stream with the same SSE parser the server uses on the LLM's stream.
  "/vendor/eventsource-parser/stream.js": {
    file: fileURLToPath(import.meta.resolve("eventsource-parser/stream")),
    type: "text/javascript; charset=utf-8",
  },
  "/vendor/eventsource-parser/index.js": {
    file: fileURLToPath(import.meta.resolve("eventsource-parser")),
    type: "text/javascript; charset=utf-8",
  },
};

/** A passage as the page shows it: with the question's words marked. */
function withHighlights(passages: readonly Passage[], terms: ReadonlySet<string>) {
  return passages.map((p) => ({ ...p, segments: highlight(p.text, terms) }));
}

/**
 * The app: `GET /` (the page), `GET /api/config` (tasks, modes, defaults), `POST /api/ask` (retrieve, then
 * answer; server-sent events when the request accepts text/event-stream, else one JSON object).
 */
export function createRagApp(context: RagAppContext): Hono {
  const app = new Hono();
  const pages = Object.fromEntries(
    Object.entries(PAGE_FILES).map(([route, { file, type }]) => [route, { body: readFileSync(file), type }]),
  );
  for (const [route, page] of Object.entries(pages)) {
    app.get(route, (c) => c.body(page.body, 200, { "content-type": page.type, "cache-control": "no-cache" }));
  }

  app.get("/api/config", (c) =>
    c.json({
      tasks: Object.entries(TASK_INSTRUCTIONS).map(([name, instruction]) => ({ name, instruction })),
      modes: SEARCH_MODES,
      defaults: context.defaults,
      max_k: MAX_PASSAGES,
      answerer: context.llm ? { kind: "llm", model: context.llm.model } : { kind: "extractive" },
      corpus: context.corpus,
    }),
  );

  app.post("/api/ask", async (c) => {
    const request = parseAskRequest(await c.req.json().catch(() => undefined), context.defaults);
    const terms = queryTerms(request.question);
    const retrieved = await retrievePassages(context.target, context.embedder, request);
    const passages = withHighlights(retrieved.passages, terms);
    const header = {
      question: request.question,
      task: request.task,
      instruction: retrieved.instruction,
      mode: request.mode,
      retrieval_ms: retrieved.tookMs,
      passages,
    };
    const llm = context.llm;
    const messages = buildGroundedMessages(request.question, retrieved.passages);
    const wantsStream = (c.req.header("accept") ?? "").includes("text/event-stream");

    if (!wantsStream) {
      if (!llm) return c.json({ ...header, answer: extractiveAnswer(request.question, retrieved.passages) });
      try {
        const answer = await streamChatCompletion(llm, messages, () => {}, c.req.raw.signal);
        const citations = citationsOf(answer.text, passages.length);
        return c.json({
          ...header,
          answer: {
            kind: "llm",
            model: llm.model,
            text: answer.text,
            finish_reason: answer.finishReason,
            ...citations,
          },
        });
      } catch (error) {
        if (!(error instanceof LlmError)) throw error;
        // 502: we are a gateway to the LLM here, and it failed; the retrieved passages are still worth having.
        return c.json({ ...header, error: { message: error.message, kind: error.kind, status: error.status } }, 502);
      }
    }

    return streamSSE(c, async (stream) => {
      const send = (event: string, data: unknown) => stream.writeSSE({ event, data: JSON.stringify(data) });
      await send("passages", header);
      if (!llm) {
        await send("answer", extractiveAnswer(request.question, retrieved.passages));
        await send("done", { kind: "extractive" });
        return;
      }
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      let index = 0;
      try {
        const answer = await streamChatCompletion(
          llm,
          messages,
          (text) => send("token", { index: index++, text }),
          abort.signal,
        );
        const citations = citationsOf(answer.text, passages.length);
        await send("done", { kind: "llm", model: llm.model, finish_reason: answer.finishReason, ...citations });
      } catch (error) {
        if (abort.signal.aborted) return; // the page went away
        const message = error instanceof LlmError ? error.message : `answer failed: ${(error as Error).message}`;
        if (!(error instanceof LlmError)) console.error(error);
        await send("error", {
          message,
          kind: error instanceof LlmError ? error.kind : "internal",
          status: error instanceof LlmError ? error.status : undefined,
        });
      }
    });
  });

  app.onError((error, c) => {
    if (error instanceof AskRequestError) return c.json({ error: { message: error.message, field: error.field } }, 400);
    if (error instanceof HTTPException) return c.json({ error: { message: error.message } }, error.status);
    console.error(error);
    return c.json({ error: { message: `internal error: ${error.message}` } }, 500);
  });
  return app;
}
