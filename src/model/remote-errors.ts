/**
 * Errors of the remote embedding backend. Each names the endpoint and says what to do; callers (CLI, server)
 * show `message` as is. All extend RemoteEmbedderError so they can be mapped as one class.
 */

export class RemoteEmbedderError extends Error {
  constructor(
    /** The endpoint that was called (no credentials: API keys travel in a header, never in the URL we show). */
    readonly url: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RemoteEmbedderError";
  }
}

/** 401/403: the API key is missing, wrong or not allowed. */
export class RemoteAuthError extends RemoteEmbedderError {
  constructor(
    url: string,
    readonly status: number,
    detail: string,
  ) {
    super(
      url,
      `embedding endpoint ${url} refused the request with HTTP ${status} (${detail}); ` +
        "pass the key's environment variable with --embedder-api-key-env VAR (default LANCE_E5_EMBEDDER_API_KEY)",
    );
    this.name = "RemoteAuthError";
  }
}

/** 404: the endpoint does not exist there, or it does not serve the model named in the request. */
export class RemoteModelNotFoundError extends RemoteEmbedderError {
  constructor(
    url: string,
    readonly model: string,
    detail: string,
  ) {
    super(
      url,
      `embedding endpoint ${url} answered 404 for model "${model}" (${detail}); check --embedder-url ` +
        "(an OpenAI-compatible base such as http://host:8080 or http://host:8080/v1) and --embedder-model",
    );
    this.name = "RemoteModelNotFoundError";
  }
}

/** Any other non-success status, or a retryable one that persisted through every retry. */
export class RemoteHttpError extends RemoteEmbedderError {
  constructor(
    url: string,
    readonly status: number,
    detail: string,
    readonly retries: number,
  ) {
    super(
      url,
      `embedding endpoint ${url} answered HTTP ${status}${retries > 0 ? ` after ${retries} retries` : ""}: ${detail}`,
    );
    this.name = "RemoteHttpError";
  }
}

/** Network failures or timeouts on every try. */
export class RemoteUnreachableError extends RemoteEmbedderError {
  constructor(
    url: string,
    readonly lastCause: string,
    readonly retries: number,
  ) {
    super(url, `embedding endpoint ${url} failed ${retries + 1} time(s); last: ${lastCause}`);
    this.name = "RemoteUnreachableError";
  }
}

/** A 2xx answer that is not a usable embeddings response (not JSON, wrong count, non-numbers, wrong dims). */
export class RemoteResponseError extends RemoteEmbedderError {
  constructor(url: string, detail: string) {
    super(url, `embedding endpoint ${url} sent an unusable response: ${detail}`);
    this.name = "RemoteResponseError";
  }
}

/** A lance-e5 server states (GET /health `identity`) that it serves another model than the one described. */
export class RemoteModelMismatchError extends RemoteEmbedderError {
  constructor(
    url: string,
    readonly served: { name: string; hash: string; dim: number },
    readonly described: { name: string; hash: string; dim: number },
  ) {
    super(
      url,
      `the lance-e5 server at ${url} serves model "${served.name}" (hash ${served.hash.slice(0, 12)}…, dim ` +
        `${served.dim}) but the model description is "${described.name}" (hash ${described.hash.slice(0, 12)}…, dim ` +
        `${described.dim}); give the directory of the model it serves (or run it with --long-context as described)`,
    );
    this.name = "RemoteModelMismatchError";
  }
}

/** The vectors' length differs from the model description's output_dim (wrong model, or wrong descriptor). */
export class RemoteDimensionError extends RemoteResponseError {
  constructor(
    url: string,
    readonly got: number,
    readonly expected: number,
  ) {
    super(
      url,
      `vectors have ${got} dimensions but the model description says ${expected}; ` +
        "the endpoint serves another model than described (check --embedder-model, --model or --embedder-dim)",
    );
    this.name = "RemoteDimensionError";
  }
}
