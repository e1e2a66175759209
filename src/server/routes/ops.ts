import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../app.ts";
import { buildOpenApi } from "../openapi.ts";

/** GET /health (liveness), /ready (readiness), /metrics (Prometheus), /openapi.json. */
export function opsRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const model = deps.embedder.config.name;

  // The identity lets remote clients (--embedder-url) check they embed with the model their table was built with.
  const identity = deps.embedder.identity;
  routes.get("/health", (c) => c.json({ status: "ok", model, identity }));

  routes.get("/ready", (c) => {
    if (deps.state.draining) return c.json({ status: "shutting_down", model }, 503);
    if (!deps.state.ready) {
      return c.json({ status: "not_ready", model, table: deps.defaultTable, reason: deps.state.notReadyReason }, 503);
    }
    return c.json({ status: "ready", model, table: deps.defaultTable });
  });

  routes.get("/metrics", async (c) => {
    const text = await deps.metrics.registry.metrics();
    return c.body(text, 200, { "Content-Type": deps.metrics.registry.contentType });
  });

  let openapi: Record<string, unknown> | undefined;
  routes.get("/openapi.json", (c) => {
    openapi ??= buildOpenApi(deps.version);
    return c.json(openapi);
  });
  return routes;
}
