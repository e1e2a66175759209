import type { MiddlewareHandler } from "hono";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Prometheus metrics of one app (its own registry, so several apps in one process — tests — do not collide).
 * GET /metrics serves `registry.metrics()` in the text exposition format.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "lance_e5_http_requests_total",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: "lance_e5_http_request_duration_seconds",
    help: "HTTP request latency by method and route",
    labelNames: ["method", "route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: "lance_e5_embed_batch_size",
    help: "Texts per model call (micro-batching puts concurrent requests' texts together)",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  });
  readonly batchTokens = new Histogram({
    name: "lance_e5_embed_batch_tokens",
    help: "Tokens per model call",
    buckets: [16, 64, 256, 1024, 4096, 16384, 65536],
    registers: [this.registry],
  });
  readonly batchSeconds = new Histogram({
    name: "lance_e5_embed_batch_duration_seconds",
    help: "Duration of one model call",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: "lance_e5_http_requests_in_flight",
    help: "Requests being handled now",
    registers: [this.registry],
  });
  readonly queuedTexts: Gauge;

  constructor(queued: () => number, defaultMetrics = true) {
    this.queuedTexts = new Gauge({
      name: "lance_e5_embed_queue_texts",
      help: "Texts waiting for or inside a model call",
      registers: [this.registry],
      collect() {
        this.set(queued());
      },
    });
    // Process metrics (RSS, CPU, event-loop lag) under the usual names, e.g. process_resident_memory_bytes.
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  observeBatch(texts: number, tokens: number, seconds: number): void {
    this.batchSize.observe(texts);
    this.batchTokens.observe(tokens);
    this.batchSeconds.observe(seconds);
  }

  /** Counts and times every request, labelled by the matched route pattern (bounded cardinality). */
  middleware(): MiddlewareHandler {
    const metrics = this;
    return async function metricsMiddleware(c, next) {
      const started = performance.now();
      metrics.inFlight.inc();
      try {
        await next();
      } finally {
        metrics.inFlight.dec();
        const route = c.res.status === 404 && c.req.routePath === "/*" ? "unmatched" : c.req.routePath;
        metrics.requests.inc({ method: c.req.method, route, status: String(c.res.status) });
        metrics.latency.observe({ method: c.req.method, route }, (performance.now() - started) / 1000);
      }
    };
  }
}
