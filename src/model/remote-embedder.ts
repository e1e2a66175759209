import { approximateEncode, approximateTokenCount } from "./approximate-tokens.ts";
import type { ModelDescription, ModelIdentity } from "./config.ts";
import type { Embedder, EmbedOptions, EncodedText } from "./embedder.ts";
import { EmbedOptionsError, InvalidInputError } from "./errors.ts";
import { InstructedEmbedder } from "./instructed-embedder.ts";
import { l2Normalize } from "./pooling.ts";
import {
  RemoteAuthError,
  RemoteDimensionError,
  RemoteHttpError,
  RemoteModelMismatchError,
  RemoteModelNotFoundError,
  RemoteResponseError,
} from "./remote-errors.ts";
import { DEFAULT_RETRY_POLICY, fetchWithRetries, type RetryPolicy } from "./remote-http.ts";
import { type RemoteModelSource, type ResolvedRemoteModel, resolveRemoteModel } from "./remote-model.ts";
import { validateText } from "./tokenize.ts";

export interface LoadRemoteEmbedderOptions {
  /** Base URL of an OpenAI-compatible API: http://host:8080, http://host:8080/v1 or the full …/v1/embeddings. */
  url: string;
  /** Describes the model (template, dim, default task, identity, tokenizer). */
  source: RemoteModelSource;
  /** Model name sent in requests (default: the descriptor's backend.model, else its name). */
  model?: string;
  /** Sent as `Authorization: Bearer …`. */
  apiKey?: string;
  /** With an ONNX model directory: the remote runs its long_context setting (`serve --long-context`). */
  longContext?: boolean;
  /** Most inputs per request (default DEFAULT_REMOTE_BATCH_SIZE). */
  batchSize?: number;
  /** Requests in flight at once (default DEFAULT_REMOTE_CONCURRENCY). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
}

/** Inputs per request: OpenAI accepts up to 2048, TEI's default --max-client-batch-size is 32. */
export const DEFAULT_REMOTE_BATCH_SIZE = 32;
/** Enough to keep a remote GPU busy while the previous answer travels back, without flooding a shared server. */
export const DEFAULT_REMOTE_CONCURRENCY = 4;

/** The endpoints derived from --embedder-url. */
export interface RemoteEndpoints {
  embeddings: string;
  /** lance-e5's GET /health, used to recognise a lance-e5 server. */
  health: string;
}

export function remoteEndpoints(base: string): RemoteEndpoints {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new EmbedOptionsError(`--embedder-url is not a URL: ${JSON.stringify(base)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EmbedOptionsError(`--embedder-url must be http:// or https://, got ${url.protocol}`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new EmbedOptionsError("--embedder-url must not carry credentials; pass the key with --embedder-api-key-env");
  }
  const trimmed = url.pathname.replace(/\/+$/, "");
  const root = trimmed.replace(/\/embeddings$/, "").replace(/\/v1$/, "");
  const embeddingsPath = trimmed.endsWith("/embeddings")
    ? trimmed
    : trimmed.endsWith("/v1")
      ? `${trimmed}/embeddings`
      : `${trimmed}/v1/embeddings`;
  return { embeddings: `${url.origin}${embeddingsPath}`, health: `${url.origin}${root}/health` };
}

/**
 * An Embedder backed by an OpenAI-compatible POST /v1/embeddings (lance-e5 serve, Hugging Face TEI, vLLM, OpenAI).
 * Instruction formatting stays here: queries are formatted with the model's template and sent as plain text, so
 * any server that embeds text as given (last-token pooling, EOS appended) gives e5 query vectors. Checks the
 * endpoint once at load (GET /health tells a lance-e5 server, which then also gets `input_type: "raw"` and
 * `truncate`); nothing is embedded until asked.
 */
export async function loadRemoteEmbedder(options: LoadRemoteEmbedderOptions): Promise<Embedder> {
  const endpoints = remoteEndpoints(options.url);
  const batchSize = options.batchSize ?? DEFAULT_REMOTE_BATCH_SIZE;
  const concurrency = options.concurrency ?? DEFAULT_REMOTE_CONCURRENCY;
  for (const [name, value] of [
    ["--embedder-batch-size", batchSize],
    ["--embedder-concurrency", concurrency],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new EmbedOptionsError(`${name} must be a positive integer`);
  }
  const model = await resolveRemoteModel(options.source, { model: options.model, longContext: options.longContext });
  const retry: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const server = await probeServer(endpoints.health, headers, retry);
  if (server.identity !== undefined) {
    // A lance-e5 server that states its model identity: a vouched-for description must match it exactly; a
    // description derived from names takes it over, so tables built through the server match local ones.
    if (model.identityVouched && server.identity.hash !== model.identity.hash) {
      throw new RemoteModelMismatchError(endpoints.health, server.identity, model.identity);
    }
    if (server.identity.dim !== model.config.output_dim) {
      throw new RemoteDimensionError(endpoints.health, server.identity.dim, model.config.output_dim);
    }
    model.identity = server.identity;
  }
  return new RemoteEmbedder(model, { endpoints, headers, retry, batchSize, concurrency, lanceE5: server.lanceE5 });
}

/**
 * GET /health. lance-e5 answers `{"status": "ok", "model": NAME}` (and, where the server states it, `"identity":
 * {"name", "hash", "dim"}`); TEI and vLLM answer an empty 200, OpenAI 404.
 */
async function probeServer(
  url: string,
  headers: Record<string, string>,
  retry: RetryPolicy,
): Promise<{ lanceE5: boolean; identity?: ModelIdentity }> {
  const answer = await fetchWithRetries(url, { method: "GET", headers }, retry);
  if (answer.status !== 200) return { lanceE5: false };
  let body: { status?: unknown; model?: unknown; identity?: unknown };
  try {
    body = JSON.parse(answer.text) as typeof body;
  } catch {
    return { lanceE5: false };
  }
  if (typeof body?.status !== "string" || typeof body.model !== "string") return { lanceE5: false };
  const identity = body.identity as Partial<ModelIdentity> | undefined;
  const stated =
    typeof identity?.name === "string" &&
    typeof identity.hash === "string" &&
    /^[0-9a-f]{64}$/.test(identity.hash) &&
    Number.isInteger(identity.dim);
  return {
    lanceE5: true,
    ...(stated && { identity: { name: identity.name!, hash: identity.hash!, dim: identity.dim! } }),
  };
}

interface Transport {
  endpoints: RemoteEndpoints;
  headers: Record<string, string>;
  retry: RetryPolicy;
  batchSize: number;
  concurrency: number;
  /** The endpoint is a lance-e5 server: send input_type raw and truncate. */
  lanceE5: boolean;
}

class RemoteEmbedder extends InstructedEmbedder implements Embedder {
  readonly config: ModelDescription;
  readonly identity: ModelIdentity;
  readonly maxLength: number;
  readonly dim: number;
  private disposed = false;

  constructor(
    private readonly model: ResolvedRemoteModel,
    private readonly transport: Transport,
  ) {
    super();
    this.config = model.config;
    this.identity = model.identity;
    this.maxLength = model.maxLength;
    this.dim = model.config.output_dim;
  }

  encode(text: string, maxLength = this.maxLength): EncodedText {
    validateText(text, 0);
    return this.model.tokenizer ? this.model.tokenizer.encode(text, maxLength) : approximateEncode(text, maxLength);
  }

  countTokens(text: string): number {
    return this.model.tokenizer ? this.model.tokenizer.countTokens(text) : approximateTokenCount(text);
  }

  async dispose(): Promise<void> {
    this.disposed = true; // nothing to release: fetch keeps no per-embedder state
  }

  private outputDims(options: EmbedOptions): number {
    const { dimensions } = options;
    const full = this.config.output_dim;
    if (dimensions === undefined || dimensions === full) return full;
    const allowed = this.config.matryoshka_dims ?? [];
    if (!allowed.includes(dimensions)) {
      throw new EmbedOptionsError(
        allowed.length === 0
          ? `model "${this.config.name}" has no Matryoshka dims; only its full ${full} dimensions are available`
          : `dimensions ${dimensions} is not one of the model's Matryoshka dims: ${[...allowed, full].join(", ")}`,
      );
    }
    return dimensions;
  }

  protected async embedFormatted(texts: string[], options: EmbedOptions): Promise<Float32Array[]> {
    if (this.disposed) throw new Error("this embedder was disposed");
    const dims = this.outputDims(options);
    if (options.truncate === false && this.model.tokenizer) {
      // Only a real tokenizer can say a text is too long; approximate counts leave that to the server.
      texts.forEach((text, index) => {
        if (this.model.tokenizer?.encode(text, this.maxLength).truncated) {
          throw new InvalidInputError(index, `text is longer than ${this.maxLength} tokens and truncate is false`);
        }
      });
    }
    const { batchSize, concurrency } = this.transport;
    // Requests of similar lengths (longest first, as the local runtime batches): a server that pads each request
    // to its longest text wastes less, and the slowest requests start first.
    const order = texts.map((_, i) => i).sort((a, b) => texts[b]!.length - texts[a]!.length || a - b);
    const batches: number[][] = [];
    for (let start = 0; start < order.length; start += batchSize) batches.push(order.slice(start, start + batchSize));
    const results = new Array<Float32Array>(texts.length);
    let next = 0;
    let done = 0;
    let failed = false;
    const worker = async () => {
      // After one request fails for good, the other workers stop taking batches: the call fails anyway.
      while (!failed && next < batches.length) {
        const rows = batches[next++]!;
        const input = rows.map((i) => texts[i]!);
        const vectors = await this.request(input, dims, options.truncate !== false).catch((error: unknown) => {
          failed = true;
          throw error;
        });
        rows.forEach((textIndex, i) => {
          results[textIndex] = vectors[i]!;
        });
        done += rows.length;
        options.onProgress?.(done, texts.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
    return results;
  }

  /** One POST of up to batchSize texts; vectors come back in input order, L2-normalised. */
  private async request(input: string[], dims: number, truncate: boolean): Promise<Float32Array[]> {
    const { endpoints, headers, retry, lanceE5 } = this.transport;
    const url = endpoints.embeddings;
    const body: Record<string, unknown> = { model: this.model.requestModel, input, encoding_format: "float" };
    if (dims !== this.config.output_dim) body.dimensions = dims;
    if (lanceE5) {
      body.input_type = "raw";
      body.truncate = truncate;
    }
    const answer = await fetchWithRetries(url, { method: "POST", headers, body: JSON.stringify(body) }, retry);
    if (answer.status === 401 || answer.status === 403) {
      throw new RemoteAuthError(url, answer.status, errorDetail(answer.text));
    }
    if (answer.status === 404)
      throw new RemoteModelNotFoundError(url, this.model.requestModel, errorDetail(answer.text));
    if (answer.status < 200 || answer.status >= 300) {
      throw new RemoteHttpError(url, answer.status, errorDetail(answer.text), answer.retries);
    }
    return parseEmbeddings(url, answer.text, input.length, dims);
  }
}

/** The message of an error body: OpenAI/lance-e5 `{error: {message}}`, TEI `{error: "…"}`, else the text. */
export function errorDetail(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    const error = body.error;
    if (typeof error === "string") return error;
    if (error !== null && typeof error === "object" && typeof (error as { message?: unknown }).message === "string") {
      return (error as { message: string }).message;
    }
    if (typeof body.message === "string") return body.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  const trimmed = text.trim().slice(0, 300);
  return trimmed === "" ? "empty body" : trimmed;
}

/**
 * Reads `{"data": [{"index": i, "embedding": [...] | base64}, …]}`: one vector per input, each index once,
 * finite numbers, `dims` of them; returned in index order, L2-normalised (the Embedder contract; servers that
 * already normalise are unchanged up to rounding).
 */
export function parseEmbeddings(url: string, text: string, count: number, dims: number): Float32Array[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RemoteResponseError(url, `body is not JSON (${JSON.stringify(text.slice(0, 80))})`);
  }
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new RemoteResponseError(url, 'no "data" array');
  if (data.length !== count) {
    throw new RemoteResponseError(url, `${data.length} embeddings for ${count} inputs`);
  }
  const vectors = new Array<Float32Array | undefined>(count);
  data.forEach((item: unknown, position) => {
    const entry = item as { index?: unknown; embedding?: unknown } | null;
    const index = entry?.index ?? position;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= count) {
      throw new RemoteResponseError(url, `data[${position}].index ${JSON.stringify(index)} is not an input index`);
    }
    if (vectors[index as number] !== undefined) {
      throw new RemoteResponseError(url, `index ${index} appears twice`);
    }
    const vector = readVector(url, entry?.embedding, position);
    if (vector.length !== dims) throw new RemoteDimensionError(url, vector.length, dims);
    vectors[index as number] = l2Normalize(vector);
  });
  return vectors as Float32Array[];
}

function readVector(url: string, embedding: unknown, position: number): Float32Array {
  let vector: Float32Array;
  if (typeof embedding === "string") {
    const bytes = Buffer.from(embedding, "base64");
    if (bytes.length % 4 !== 0) {
      throw new RemoteResponseError(url, `data[${position}].embedding base64 is not whole float32 values`);
    }
    vector = new Float32Array(bytes.length / 4);
    for (let i = 0; i < vector.length; i++) vector[i] = bytes.readFloatLE(i * 4);
  } else if (Array.isArray(embedding)) {
    vector = new Float32Array(embedding.length);
    embedding.forEach((value: unknown, i) => {
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw new RemoteResponseError(url, `data[${position}].embedding[${i}] is not a finite number`);
      }
      vector[i] = value;
    });
  } else {
    throw new RemoteResponseError(url, `data[${position}].embedding is neither a number array nor base64`);
  }
  if (!vector.some((v) => v !== 0) || vector.some((v) => !Number.isFinite(v))) {
    throw new RemoteResponseError(url, `data[${position}].embedding is all zeros or not finite`);
  }
  return vector;
}
