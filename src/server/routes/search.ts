import { Hono } from "hono";
import { type SearchMode, search } from "../../search/index.ts";
import type { AppDeps, AppEnv } from "../app.ts";
import { HttpError } from "../errors.ts";
import { validateBody } from "../schemas.ts";
import { readJson } from "./body.ts";

/** The body of POST /search (schemas/api/search-request.schema.json). */
interface SearchBody {
  query: string;
  table?: string;
  task?: string;
  instruction?: string;
  k?: number;
  mode?: SearchMode;
  filter?: Record<string, unknown>;
  /** Hybrid mode's vector share in the fusion, 0..1 (src/search/fusion.ts). */
  vector_weight?: number;
}

/** POST /search: validate, then the shared query path, with the query embedded through the micro-batcher. */
export function searchRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.post("/search", async (c) => {
    const body = validateBody<SearchBody>("SearchRequest", await readJson(c));
    if (body.k !== undefined && body.k > deps.limits.maxK) {
      throw new HttpError(400, "invalid_request", `k: must be at most ${deps.limits.maxK}`);
    }
    const { table, ...query } = body;
    const target = await deps.target(table ?? deps.defaultTable);
    const response = await search({
      ...query,
      embedder: deps.embedder,
      target,
      embedQuery: async (formatted) => {
        const { ids } = deps.embedder.encode(formatted);
        if (ids.length > deps.limits.maxInputTokens) {
          throw new HttpError(
            400,
            "input_too_long",
            `query: ${ids.length} tokens exceed ${deps.limits.maxInputTokens}`,
          );
        }
        const [vector] = await deps.batcher.submit([formatted], ids.length, { truncate: true }, [ids]);
        return vector!;
      },
    });
    return c.json(response);
  });
  return routes;
}
