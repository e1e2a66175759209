/**
 * Object storage (s3://, gs://, az://): the storage options LanceDB hands to its object store, where they come
 * from, and errors that name the database URI instead of a bare Rust backtrace.
 *
 * Credentials and endpoints also come from the usual environment variables (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT / AWS_ENDPOINT_URL, AWS_ALLOW_HTTP,
 * GOOGLE_SERVICE_ACCOUNT, AZURE_STORAGE_ACCOUNT_NAME, …): LanceDB's object store reads them itself, so they need
 * no plumbing here. Explicit options win over them.
 */

/** Keys as in LanceDB's storage docs (aws_endpoint, allow_http, region, …); values are strings. */
export type StorageOptions = Record<string, string>;

/** Environment variable holding default storage options: `k=v,k2=v2` or a JSON object. */
export const STORAGE_OPTIONS_ENV = "LANCE_E5_STORAGE_OPTIONS";

/** A malformed storage option (the message names where it came from and what is wrong). */
export class StorageOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StorageOptionError";
  }
}

const URI_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * True for a database given as a URI LanceDB opens through an object store (s3://, s3+ddb://, gs://, az://, …),
 * false for a local path (and file:// URIs). Local-only code (temporary directories, `rm`, lock files) must skip
 * these: there is no directory to make or remove.
 */
export function isObjectStoreUri(db: string): boolean {
  const scheme = URI_SCHEME.exec(db)?.[1];
  return scheme !== undefined && scheme.toLowerCase() !== "file";
}

// Keys are identifiers (allow_http, aws_endpoint, google_service_account_key); anything else is a typo such as
// a missing `=` that swallowed the value into the key.
const OPTION_KEY = /^[A-Za-z][A-Za-z0-9_.-]*$/;

function checkedPair(key: string, value: string, where: string, entry: string): [string, string] {
  if (!OPTION_KEY.test(key)) {
    throw new StorageOptionError(`${where}: "${entry}" is not key=value (key "${key}" is not an option name)`);
  }
  if (value === "") throw new StorageOptionError(`${where}: "${entry}" has an empty value`);
  return [key, value];
}

/** One `key=value` (split at the first `=`, so values may contain `=`). */
export function parseStorageOption(entry: string, where = "--storage-option"): [string, string] {
  const equals = entry.indexOf("=");
  if (equals < 0) throw new StorageOptionError(`${where}: "${entry}" is not key=value`);
  return checkedPair(entry.slice(0, equals).trim(), entry.slice(equals + 1).trim(), where, entry);
}

/**
 * The value of LANCE_E5_STORAGE_OPTIONS: a JSON object (`{"aws_endpoint": "http://…", "allow_http": true}`) when it
 * starts with `{`, else comma-separated `key=value` pairs. Values that contain commas (proxy_excludes) need JSON.
 */
export function parseStorageOptionsText(text: string, where = STORAGE_OPTIONS_ENV): StorageOptions {
  const trimmed = text.trim();
  if (trimmed === "") return {};
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) return parseJsonOptions(trimmed, where);
  const options: StorageOptions = {};
  for (const entry of trimmed.split(",")) {
    if (entry.trim() === "") continue;
    const [key, value] = parseStorageOption(entry.trim(), where);
    options[key] = value;
  }
  return options;
}

function parseJsonOptions(text: string, where: string): StorageOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new StorageOptionError(`${where}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new StorageOptionError(`${where}: JSON must be an object of option names to values`);
  }
  const options: StorageOptions = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new StorageOptionError(`${where}: option "${key}" must be a string, number or boolean`);
    }
    const [k, v] = checkedPair(key, String(value), where, `${key}=${String(value)}`);
    options[k] = v;
  }
  return options;
}

/** Options from LANCE_E5_STORAGE_OPTIONS, then each `--storage-option key=value` (later ones win). */
export function resolveStorageOptions(
  flags: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): StorageOptions {
  const options = parseStorageOptionsText(env[STORAGE_OPTIONS_ENV] ?? "");
  for (const entry of flags) {
    const [key, value] = parseStorageOption(entry);
    options[key] = value;
  }
  return options;
}

/** An object store could not be read or written (unreachable endpoint, missing bucket, refused credentials). */
export class ObjectStoreError extends Error {
  constructor(
    readonly uri: string,
    detail: string,
  ) {
    super(`object store ${uri}: ${detail}`);
    this.name = "ObjectStoreError";
  }
}

// LanceDB's errors carry a Rust cause chain with source locations: "lance error: LanceError(IO): Generic S3 error:
// … , /usr/local/cargo/…/object_store.rs:836:22  Caused by: … Caused by: Connection refused (os error 111)".
const RUST_LOCATION = /,\s*\/\S+\.rs:\d+:\d+/g;
const STORE_ERROR = /Generic \w+ error|object store|os error \d+|NoSuchBucket|AccessDenied|error sending request/i;

/**
 * Turns an object-store failure into an ObjectStoreError naming the database URI: the top-level message and the
 * innermost cause (e.g. "Connection refused (os error 111)" or the server's XML error code), without source
 * locations. Other errors (table not found, schema mismatches) pass through unchanged.
 */
export function describeObjectStoreError(uri: string, error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof ObjectStoreError || !isObjectStoreUri(uri)) return error;
  if (!STORE_ERROR.test(error.message)) return error;
  const parts = error.message
    .replace(RUST_LOCATION, "")
    .split(/\s*Caused by:\s*/)
    .map((part) => part.replace(/\s+/g, " ").trim())
    .filter(Boolean);
  const top = (parts[0] ?? error.message).replace(/^lance error: (LanceError\(\w+\): )?/, "");
  const root = parts.length > 1 ? parts[parts.length - 1]! : "";
  let detail = root && !top.includes(root) ? `${top} (cause: ${root})` : top;
  // object_store refuses http:// endpoints unless told otherwise, with nothing but "builder error".
  if (/builder error/.test(error.message) && /http:\/\//.test(error.message)) {
    detail += "; an http:// endpoint needs allow_http=true (--storage-option allow_http=true or AWS_ALLOW_HTTP=true)";
  }
  const wrapped = new ObjectStoreError(uri, detail);
  wrapped.cause = error;
  return wrapped;
}
