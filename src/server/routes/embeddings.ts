import { Hono } from "hono";
import { InvalidInputError } from "../../model/errors.ts";
import type { AppDeps, AppEnv } from "../app.ts";
import { HttpError } from "../errors.ts";
import { validateBody } from "../schemas.ts";
import { readJson } from "./body.ts";

/** The body of POST /v1/embeddings (schemas/api/embeddings-request.schema.json). */
interface EmbeddingsBody {
  input: string | string[];
  model: string;
  encoding_format?: "float" | "base64";
  dimensions?: number;
  user?: string;
  input_type?: "document" | "query" | "raw";
  task?: string;
  instruction?: string;
  truncate?: boolean;
}

/**
 * POST /v1/embeddings, OpenAI-compatible. `input_type` document (default; OpenAI clients embed content) and raw
 * embed the text as given; query fills the instruction template. Every input is tokenised here first, so
 * over-length, empty or malformed inputs are refused (naming their index) before anything is queued.
 */
export function embeddingsRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const { embedder, limits } = deps;
  const config = embedder.config;

  routes.post("/v1/embeddings", async (c) => {
    const body = validateBody<EmbeddingsBody>("EmbeddingsRequest", await readJson(c));
    if (body.model !== config.name && body.model !== "default") {
      throw new HttpError(
        404,
        "model_not_found",
        `model "${body.model}" is not served here; use "${config.name}" or "default"`,
      );
    }
    const inputs = typeof body.input === "string" ? [body.input] : body.input;
    if (inputs.length > limits.maxInputs) {
      throw new HttpError(
        400,
        "invalid_request",
        `input: ${inputs.length} inputs exceed the limit of ${limits.maxInputs}`,
      );
    }
    const inputType = body.input_type ?? "document";
    if (inputType !== "query" && (body.task !== undefined || body.instruction !== undefined)) {
      throw new HttpError(
        400,
        "invalid_request",
        `task/instruction apply only to input_type "query", not "${inputType}"`,
      );
    }
    if (body.task !== undefined && body.instruction !== undefined) {
      throw new HttpError(400, "invalid_request", "give a task or an instruction, not both");
    }
    checkDimensions(body.dimensions, config.output_dim, config.matryoshka_dims ?? [], config.name);

    const texts = inputs.map((text) =>
      inputType === "query" ? embedder.formatQuery(text, { task: body.task, instruction: body.instruction }) : text,
    );
    let tokens = 0;
    const ids: number[][] = [];
    texts.forEach((text, i) => {
      let encoded: ReturnType<typeof embedder.encode>;
      try {
        encoded = embedder.encode(text);
      } catch (error) {
        if (error instanceof InvalidInputError) throw new InvalidInputError(i, error.problem);
        throw error;
      }
      if (encoded.truncated && body.truncate !== true) {
        throw new HttpError(
          400,
          "input_too_long",
          `input ${i}: longer than the model's ${embedder.maxLength} tokens; send "truncate": true to cut it`,
        );
      }
      tokens += encoded.ids.length;
      ids.push(encoded.ids);
    });
    if (tokens > limits.maxInputTokens) {
      throw new HttpError(
        400,
        "input_too_long",
        `input: ${tokens} tokens exceed the limit of ${limits.maxInputTokens}`,
      );
    }

    const vectors = await deps.batcher.submit(texts, tokens, { dimensions: body.dimensions, truncate: true }, ids);
    const base64 = body.encoding_format === "base64";
    return c.json({
      object: "list",
      data: vectors.map((vector, index) => ({
        object: "embedding",
        index,
        embedding: base64
          ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64")
          : Array.from(vector),
      })),
      model: config.name,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  });
  return routes;
}

function checkDimensions(dimensions: number | undefined, full: number, allowed: number[], model: string): void {
  if (dimensions === undefined || dimensions === full) return;
  if (allowed.length === 0) {
    throw new HttpError(
      400,
      "unsupported_dimensions",
      `model "${model}" has no Matryoshka dims; only ${full} is available`,
    );
  }
  if (!allowed.includes(dimensions)) {
    throw new HttpError(400, "unsupported_dimensions", `dimensions must be one of ${[...allowed, full].join(", ")}`);
  }
}
