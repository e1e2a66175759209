import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { HttpError } from "../errors.ts";

export interface ApiKeyAuthOptions {
  /** Accepted keys. Empty: authentication is off and every request passes. */
  keys: readonly string[];
}

/** Context variable holding a stable, non-secret id of the caller's key (for rate limits and logs). */
export type AuthVariables = { apiKeyId: string | undefined };

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * Bearer API keys. Keys are compared as SHA-256 digests with crypto.timingSafeEqual, against every configured key
 * without stopping at a match, so neither a key's content nor its length nor its position leaks through timing.
 */
export function apiKeyAuth(options: ApiKeyAuthOptions): MiddlewareHandler<{ Variables: AuthVariables }> {
  const keyDigests = options.keys.map(digest);
  return async function apiKeyAuthMiddleware(c, next) {
    if (keyDigests.length === 0) {
      c.set("apiKeyId", undefined);
      return next();
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) {
      throw new HttpError(401, "unauthorized", "missing bearer API key (Authorization: Bearer <key>)", {
        "WWW-Authenticate": 'Bearer realm="lance-e5"',
      });
    }
    const given = digest(match[1]!);
    let found = -1;
    keyDigests.forEach((key, i) => {
      if (timingSafeEqual(key, given) && found < 0) found = i;
    });
    if (found < 0) {
      throw new HttpError(401, "unauthorized", "invalid API key", {
        "WWW-Authenticate": 'Bearer realm="lance-e5", error="invalid_token"',
      });
    }
    c.set("apiKeyId", given.subarray(0, 8).toString("hex"));
    return next();
  };
}

/** Keys from a comma-separated list (LANCE_E5_API_KEYS) and/or a file with one key per line (`#` comments). */
export function parseApiKeys(list: string | undefined, fileText: string | undefined): string[] {
  const fromList = (list ?? "").split(",");
  const fromFile = (fileText ?? "").split(/\r?\n/).filter((line) => !line.trimStart().startsWith("#"));
  return [...new Set([...fromList, ...fromFile].map((k) => k.trim()).filter((k) => k !== ""))];
}
