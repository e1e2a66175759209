import { API_SCHEMAS } from "./schemas.ts";

/**
 * GET /openapi.json: an OpenAPI 3.1 document assembled from schemas/api/*.json (JSON Schema 2020-12, which
 * OpenAPI 3.1 embeds as is). Paths and status codes are listed here; the shapes come only from the schema files.
 */
export function buildOpenApi(version: string): Record<string, unknown> {
  const ref = (name: keyof typeof API_SCHEMAS) => ({ $ref: `#/components/schemas/${name}` });
  const json = (name: keyof typeof API_SCHEMAS) => ({ "application/json": { schema: ref(name) } });
  const error = (description: string) => ({ description, content: json("Error") });
  const guarded = {
    "400": error("Invalid request (invalid_json, invalid_request, invalid_filter, unknown_task, ...)"),
    "401": error("Missing or invalid API key (unauthorized)"),
    "413": error("Body over the size limit (payload_too_large)"),
    "429": error("Rate limit or queue full (rate_limited, overloaded); see Retry-After"),
    "500": error("Unexpected failure (internal_error)"),
    "503": error("Not ready, shutting down, or the table's storage did not answer (Retry-After)"),
    "504": error("Request took longer than the per-request timeout (timeout)"),
  };
  const components = Object.fromEntries(
    Object.entries(API_SCHEMAS).map(([name, schema]) => {
      const { $schema: _drop, ...rest } = schema;
      return [name, rest];
    }),
  );
  return {
    openapi: "3.1.0",
    info: {
      title: "lance-e5",
      version,
      description:
        "Instructed semantic, full-text and hybrid search over lance-e5 LanceDB tables, and OpenAI-compatible embeddings.",
    },
    components: {
      schemas: components,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "LANCE_E5_API_KEYS / --api-keys-file" },
      },
    },
    paths: {
      "/search": {
        post: {
          summary: "Search a table (vector, fulltext or hybrid)",
          security: [{ bearer: [] }],
          requestBody: { required: true, content: json("SearchRequest") },
          responses: {
            "200": { description: "Ranked results", content: json("SearchResponse") },
            ...guarded,
            "404": error("Unknown table (table_not_found)"),
            "409": error(
              "Table embedded with another model (model_mismatch) or without a full-text index (no_fulltext_index)",
            ),
          },
        },
      },
      "/v1/embeddings": {
        post: {
          summary: "Create embeddings (OpenAI-compatible)",
          security: [{ bearer: [] }],
          requestBody: { required: true, content: json("EmbeddingsRequest") },
          responses: {
            "200": { description: "Embeddings in input order", content: json("EmbeddingsResponse") },
            ...guarded,
            "404": error("Unknown model (model_not_found)"),
          },
        },
      },
      "/health": {
        get: { summary: "Liveness", responses: { "200": { description: "Alive", content: json("HealthResponse") } } },
      },
      "/ready": {
        get: {
          summary: "Readiness",
          responses: {
            "200": { description: "Ready", content: json("HealthResponse") },
            "503": { description: "Not ready or draining", content: json("HealthResponse") },
          },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics (text exposition format)",
          security: [{ bearer: [] }],
          responses: { "200": { description: "Metrics", content: { "text/plain": { schema: { type: "string" } } } } },
        },
      },
      "/openapi.json": {
        get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1 document" } } },
      },
    },
  };
}
