import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { LlmError, streamChatCompletion } from "../src/llm.ts";

/**
 * Broken streams the project's fake endpoint (test/helpers/fake-openai.ts) cannot send, because it always
 * frames its chunks correctly: raw text/event-stream bodies written by hand, one per path.
 */
const BODIES: Record<string, string> = {
  "/not-json/chat/completions": 'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: {oops\n\n',
  "/truncated/chat/completions": 'data: {"choices":[{"delta":{"content":"Roosevelt said"},"finish_reason":null}]}\n\n',
  "/error-event/chat/completions": 'data: {"error":{"message":"context length exceeded"}}\n\n',
  "/done-only/chat/completions": 'data: {"choices":[{"delta":{"content":"Yes [1]."}}]}\n\ndata: [DONE]\n\n',
};

let server: Server;
let base: string;

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const body = BODIES[req.url ?? ""];
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const llm = (prefix: string) => ({ baseUrl: `${base}/${prefix}`, model: "m", timeoutMs: 5000 });
const messages = [{ role: "user" as const, content: "q" }];

describe("streamChatCompletion on broken streams", () => {
  const cases: Array<[string, RegExp]> = [
    ["not-json", /chunk that is not JSON: \{oops/],
    ["truncated", /ended before the answer was finished/],
    ["error-event", /reported an error mid-stream: context length exceeded/],
  ];
  for (const [path, message] of cases) {
    test(path, async () => {
      const tokens: string[] = [];
      await assert.rejects(
        streamChatCompletion(llm(path), messages, (t) => {
          tokens.push(t);
        }),
        (error: unknown) => {
          assert.ok(error instanceof LlmError);
          assert.match(error.message, message);
          assert.equal(error.kind, path === "error-event" ? "endpoint_error" : "bad_stream");
          return true;
        },
      );
      // What arrived before the break was passed on (the page shows it above the error).
      if (path === "truncated") assert.deepEqual(tokens, ["Roosevelt said"]);
    });
  }

  test("a stream ending with [DONE] but no finish_reason is a complete answer", async () => {
    const answer = await streamChatCompletion(llm("done-only"), messages, () => {});
    assert.deepEqual(answer, { text: "Yes [1].", finishReason: null });
  });

  test("a 404 (wrong base URL) is an HTTP error with the status", async () => {
    await assert.rejects(
      streamChatCompletion(llm("nowhere"), messages, () => {}),
      {
        name: "LlmError",
        kind: "http",
        status: 404,
      },
    );
  });
});
