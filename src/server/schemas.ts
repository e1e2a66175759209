import { createRequire } from "node:module";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { HttpError } from "./errors.ts";

/**
 * The HTTP API's JSON Schemas (schemas/api/*.json): the one source for request validation here and for
 * GET /openapi.json (src/server/openapi.ts), so the documented API and the enforced one cannot drift.
 */
const requireJson = createRequire(import.meta.url);
type JsonSchema = Record<string, unknown>;

export const API_SCHEMAS = {
  SearchRequest: requireJson("../../schemas/api/search-request.schema.json") as JsonSchema,
  SearchResponse: requireJson("../../schemas/api/search-response.schema.json") as JsonSchema,
  EmbeddingsRequest: requireJson("../../schemas/api/embeddings-request.schema.json") as JsonSchema,
  EmbeddingsResponse: requireJson("../../schemas/api/embeddings-response.schema.json") as JsonSchema,
  Error: requireJson("../../schemas/api/error.schema.json") as JsonSchema,
  HealthResponse: requireJson("../../schemas/api/health-response.schema.json") as JsonSchema,
} as const;

export type ApiSchemaName = keyof typeof API_SCHEMAS;

const ajv = new Ajv2020({ allErrors: false, strict: true });
const validators = new Map<ApiSchemaName, ValidateFunction>();

function validatorOf(name: ApiSchemaName): ValidateFunction {
  let validate = validators.get(name);
  if (!validate) {
    validate = ajv.compile(API_SCHEMAS[name]);
    validators.set(name, validate);
  }
  return validate;
}

/** Checks a parsed body against a request schema; 400 `invalid_request` naming the field and the rule broken. */
export function validateBody<T>(name: ApiSchemaName, body: unknown): T {
  const validate = validatorOf(name);
  if (!validate(body)) {
    // A failed oneOf also reports each branch's own error first; the oneOf one says what was expected.
    const errors = validate.errors ?? [];
    throw new HttpError(400, "invalid_request", describeError(errors.find((e) => e.keyword === "oneOf") ?? errors[0]));
  }
  return body as T;
}

/** For tests and the OpenAPI check: does a value satisfy a schema? (errors as text, empty when valid) */
export function schemaErrors(name: ApiSchemaName, value: unknown): string[] {
  const validate = validatorOf(name);
  return validate(value) ? [] : (validate.errors ?? []).map(describeError);
}

function describeError(error: ErrorObject | undefined): string {
  if (!error) return "invalid request body";
  const at = error.instancePath === "" ? "body" : error.instancePath.slice(1).replaceAll("/", ".");
  if (error.keyword === "additionalProperties") {
    return `${at}: unknown field "${(error.params as { additionalProperty: string }).additionalProperty}"`;
  }
  if (error.keyword === "enum") {
    return `${at}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  if (error.keyword === "oneOf" && at === "input") return "input: must be a string or a non-empty array of strings";
  return `${at}: ${error.message ?? "is invalid"}`;
}
