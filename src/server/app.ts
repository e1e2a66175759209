import { getConnInfo } from "@hono/node-server/conninfo";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { timeout } from "hono/timeout";
import type { Connection } from "../lancedb/connection.ts";
import type { Embedder } from "../model/embedder.ts";
import { openSearchTarget, type SearchTarget } from "../search/index.ts";
import { EmbedBatcher, type EmbedCallOptions } from "./batcher.ts";
import { errorBody, errorHandler, HttpError } from "./errors.ts";
import { ServerMetrics } from "./metrics.ts";
import { type AuthVariables, apiKeyAuth } from "./middleware/auth.ts";
import { rateLimit } from "./middleware/rate-limit.ts";
import { type BatchingOptions, DEFAULT_BATCHING, DEFAULT_LIMITS, type ServerLimits } from "./options.ts";
import { embeddingsRoutes } from "./routes/embeddings.ts";
import { opsRoutes } from "./routes/ops.ts";
import { searchRoutes } from "./routes/search.ts";

export interface AppOptions {
  /** Loaded once at start; every request embeds through it (via the batcher). */
  embedder: Embedder;
  db: Connection;
  /** Table searched when a request names none. */
  defaultTable: string;
  /** Bearer keys; empty = no authentication. */
  apiKeys?: readonly string[];
  limits?: Partial<ServerLimits>;
  batching?: Partial<BatchingOptions>;
  /** Reported in /openapi.json. */
  version?: string;
  /** Where unexpected errors are logged (default stderr). */
  log?: (message: string) => void;
  /** Register process-wide default metrics (RSS, CPU); off in tests that build many apps. */
  processMetrics?: boolean;
}

export type AppEnv = { Variables: AuthVariables };

/** Shared by the route modules: what a handler may use. Handlers never call the model directly. */
export interface AppDeps {
  embedder: Embedder;
  limits: ServerLimits;
  batcher: EmbedBatcher;
  metrics: ServerMetrics;
  state: ServerState;
  version: string;
  defaultTable: string;
  /** The checked search target of a table (opened and model-checked once, then cached). */
  target(name: string): Promise<SearchTarget>;
}

export interface ServerState {
  /** Set when the default table was opened and matched the model (warmUp). */
  ready: boolean;
  /** Why not ready, for /ready. */
  notReadyReason?: string;
  /** Set by a graceful shutdown: new work is refused with 503 while in-flight requests finish. */
  draining: boolean;
}

export interface LanceE5App {
  app: Hono<AppEnv>;
  deps: AppDeps;
  /** Opens and checks the default table; /ready answers 200 afterwards. Throws ModelMismatchError on a mismatch. */
  warmUp(): Promise<void>;
}

export function createApp(options: AppOptions): LanceE5App {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const batching: BatchingOptions = { ...DEFAULT_BATCHING, ...options.batching };
  const state: ServerState = { ready: false, draining: false, notReadyReason: "starting" };
  const embedder = options.embedder;

  let batcher: EmbedBatcher | undefined;
  const metrics = new ServerMetrics(() => batcher?.queuedTexts ?? 0, options.processMetrics ?? false);
  // Routes hand over the ids they encoded to check lengths, so a text is tokenised once (embedEncoded).
  const embedTexts = (texts: string[], callOptions: EmbedCallOptions, ids?: number[][]) =>
    ids !== undefined && embedder.embedEncoded !== undefined
      ? embedder.embedEncoded(ids, callOptions)
      : embedder.embedRaw(texts, callOptions);
  batcher = new EmbedBatcher(embedTexts, {
    ...batching,
    // One batch per session the runtime can run at once, so none idles while another batch runs.
    maxBatchesInFlight: batching.maxBatchesInFlight ?? embedder.parallelism ?? 1,
    onBatch: (texts, tokens, seconds) => metrics.observeBatch(texts, tokens, seconds),
  });

  const targets = new Map<string, Promise<SearchTarget>>();
  const target = (name: string): Promise<SearchTarget> => {
    let pending = targets.get(name);
    if (!pending) {
      pending = openSearchTarget({ db: options.db, tableName: name }, embedder.identity);
      targets.set(name, pending);
      // A table that is missing now may be ingested later: do not cache failures.
      pending.catch(() => targets.delete(name));
    }
    return pending;
  };

  const deps: AppDeps = {
    embedder,
    limits,
    batcher,
    metrics,
    state,
    version: options.version ?? "0.0.0",
    defaultTable: options.defaultTable,
    target,
  };

  const app = new Hono<AppEnv>();
  app.onError(errorHandler(options.log));
  app.notFound((c) => c.json(errorBody("not_found", `no route ${c.req.method} ${c.req.path}`), 404));

  app.use("*", metrics.middleware());
  if (limits.corsOrigins.length > 0) {
    const origin = limits.corsOrigins.includes("*") ? "*" : limits.corsOrigins;
    app.use("*", cors({ origin, allowHeaders: ["Authorization", "Content-Type"], allowMethods: ["GET", "POST"] }));
  }

  const work = ["/search", "/v1/*"];
  for (const path of work) {
    app.use(path, async function refuseWhileDraining(c, next) {
      if (state.draining) {
        c.header("Connection", "close");
        throw new HttpError(503, "shutting_down", "the server is shutting down; retry on another instance");
      }
      return next();
    });
    app.use(
      path,
      timeout(
        limits.requestTimeoutMs,
        () => new HttpError(504, "timeout", `request took longer than ${limits.requestTimeoutMs} ms`),
      ),
    );
  }
  for (const path of [...work, "/metrics"]) app.use(path, apiKeyAuth({ keys: options.apiKeys ?? [] }));
  for (const path of work) {
    app.use(
      path,
      rateLimit({
        requestsPerMinute: limits.rateLimitPerMinute,
        burst: limits.rateLimitBurst,
        keyOf: (c) => (c as Context<AppEnv>).get("apiKeyId") ?? clientAddress(c),
      }),
    );
    app.use(
      path,
      bodyLimit({
        maxSize: limits.maxBodyBytes,
        onError: (c) =>
          c.json(errorBody("payload_too_large", `request body is larger than ${limits.maxBodyBytes} bytes`), 413),
      }),
    );
  }

  app.route("/", opsRoutes(deps));
  app.route("/", searchRoutes(deps));
  app.route("/", embeddingsRoutes(deps));

  return {
    app,
    deps,
    async warmUp() {
      try {
        await target(options.defaultTable);
        state.ready = true;
        state.notReadyReason = undefined;
      } catch (error) {
        state.notReadyReason = (error as Error).message;
        throw error;
      }
    },
  };
}

function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "in-process"; // app.request() in tests has no socket
  }
}
