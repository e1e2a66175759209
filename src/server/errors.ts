import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { UnknownTaskError } from "../instructions/index.ts";
import { isStorageFailure, ModelMismatchError, NotALanceE5TableError, TableNotFoundError } from "../lancedb/errors.ts";
import { EmbedOptionsError, InvalidInputError } from "../model/errors.ts";
import { RemoteEmbedderError } from "../model/remote-errors.ts";
import { FilterError, FullTextIndexMissingError, SearchRequestError } from "../search/errors.ts";

/**
 * The server's one error type: a status, a stable `code` (documented in schemas/api/error.schema.json) and a
 * message meant for the client. Everything that is not an HttpError (or a domain error mapped below) becomes a
 * logged 500 `internal_error` whose message says nothing about internals.
 */
export class HttpError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    /** Extra response headers (Retry-After on 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(status, { message });
    this.name = "HttpError";
  }
}

/** Domain errors of the layers below → HTTP. One table, so every route reports the same problem the same way. */
export function toHttpError(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error;
  if (error instanceof FilterError) return new HttpError(400, "invalid_filter", error.message);
  if (error instanceof SearchRequestError) return new HttpError(400, "invalid_request", error.message);
  if (error instanceof UnknownTaskError) return new HttpError(400, "unknown_task", error.message);
  if (error instanceof InvalidInputError) {
    const tooLong = /longer than/.test(error.problem);
    return new HttpError(400, tooLong ? "input_too_long" : "invalid_input", error.message);
  }
  if (error instanceof EmbedOptionsError) return new HttpError(400, "unsupported_dimensions", error.message);
  if (error instanceof TableNotFoundError) return new HttpError(404, "table_not_found", error.message);
  if (error instanceof ModelMismatchError || error instanceof NotALanceE5TableError) {
    return new HttpError(409, "model_mismatch", error.message);
  }
  if (error instanceof FullTextIndexMissingError) return new HttpError(409, "no_fulltext_index", error.message);
  // A gateway server (--embedder-url) whose upstream embedding endpoint failed for good: not our bug, say whose.
  if (error instanceof RemoteEmbedderError) return new HttpError(502, "embedder_unavailable", error.message);
  // The table's storage failed (an object store that stopped answering, after LanceDB's own retries): not the
  // client's fault and not a bug here; the cause goes to the server log only (it names hosts and paths).
  if (isStorageFailure(error)) {
    return new HttpError(503, "storage_unavailable", "the table's storage did not answer; retry shortly", {
      "Retry-After": "5",
    });
  }
  if (error instanceof HTTPException) {
    // Hono's own (e.g. a malformed request it rejected itself): keep its status, give it our shape.
    return new HttpError(error.status as ContentfulStatusCode, "invalid_request", error.message || "bad request");
  }
  return undefined;
}

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** The app's onError: typed errors → their JSON; anything else → a logged 500 with no internals. */
export function errorHandler(log: (message: string) => void = (m) => process.stderr.write(`${m}\n`)) {
  return function handleError(error: Error, c: Context): Response {
    const http = toHttpError(error);
    if (http && http.status >= 500 && http !== error) {
      // A mapped server-side failure (storage, remote embedder): the client gets its code, the operator the cause.
      log(`lance-e5 serve: ${c.req.method} ${c.req.path} failed (${http.code}): ${error.message}`);
    }
    if (http) return c.json(errorBody(http.code, http.message), http.status, http.headers);
    log(`lance-e5 serve: ${c.req.method} ${c.req.path} failed: ${error.stack ?? error.message}`);
    return c.json(errorBody("internal_error", "internal server error"), 500);
  };
}
