import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { LanceE5App } from "./app.ts";
import { DEFAULT_DRAIN_TIMEOUT_MS } from "./options.ts";

export interface ListenOptions {
  port: number;
  /** Interface to bind (default 127.0.0.1: exposing the server is a deliberate choice). */
  host?: string;
  /** How long shutdown() waits for in-flight requests before cutting their connections. */
  drainTimeoutMs?: number;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 (the real port when 0 was asked). */
  url: string;
  port: number;
  server: Server;
  /**
   * Graceful shutdown: /ready turns 503 and new work is refused, the listener closes, idle keep-alive connections
   * close, and in-flight requests finish (up to drainTimeoutMs, after which their connections are cut).
   */
  shutdown(): Promise<void>;
}

/** Wires the app to a port. All logic lives in the app; this only listens and drains. */
export async function listen(lanceE5: LanceE5App, options: ListenOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: lanceE5.app.fetch, port: options.port, hostname: host }, () => resolve(s as Server));
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    server,
    shutdown() {
      closing ??= new Promise<void>((resolve) => {
        lanceE5.deps.state.draining = true;
        const cut = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
        cut.unref();
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        // Keep-alive connections with no request in flight would hold close() open forever.
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
