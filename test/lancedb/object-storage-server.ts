import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import S3rver from "s3rver";

/** A local S3-compatible server (npm s3rver, files under a temp dir) with one bucket, for object-storage tests. */
export interface LocalS3 {
  readonly endpoint: string;
  readonly bucket: string;
  /** `--storage-option` flags that point LanceDB at this server. */
  readonly storageArgs: string[];
  /** The same as storage options (lancedb.connect's `storageOptions`). */
  readonly storageOptions: Record<string, string>;
  /** The same through the usual AWS environment variables instead of flags. */
  readonly awsEnv: Record<string, string>;
  /** Where the server keeps the objects (to check what was written). */
  readonly dir: string;
  /** PUTs with `If-None-Match: *` seen, and how many of them were refused because the object existed. */
  readonly conditionalPuts: { total: number; refused: number };
  close(): Promise<void>;
}

export interface LocalS3Options {
  bucket?: string;
  /**
   * Honour `If-None-Match: *` on PUT as AWS S3 does (default true). s3rver 3.7 ignores the header and overwrites,
   * so without this, concurrent Lance commits silently replace each other (see object-storage.test.ts).
   */
  conditionalPut?: boolean;
}

// s3rver accepts any signature made with its fixed key pair.
const ACCESS_KEY = "S3RVER";
const SECRET_KEY = "S3RVER";

const PRECONDITION_FAILED =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>' +
  "<Message>At least one of the pre-conditions you specified did not hold</Message></Error>";

export async function startLocalS3(options: LocalS3Options = {}): Promise<LocalS3> {
  const bucket = options.bucket ?? "lance-e5-test";
  const dir = mkdtempSync(path.join(os.tmpdir(), "lance-e5-s3-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const upstream = (await server.run()) as AddressInfo;
  const conditionalPuts = { total: 0, refused: 0 };
  const front = options.conditionalPut === false ? null : await conditionalPutProxy(upstream.port, conditionalPuts);
  const endpoint = `http://127.0.0.1:${front ? (front.address() as AddressInfo).port : upstream.port}`;
  const storageOptions = {
    aws_endpoint: endpoint,
    allow_http: "true",
    aws_access_key_id: ACCESS_KEY,
    aws_secret_access_key: SECRET_KEY,
    aws_region: "us-east-1",
  };
  return {
    endpoint,
    bucket,
    dir,
    storageOptions,
    conditionalPuts,
    storageArgs: Object.entries(storageOptions).flatMap(([key, value]) => ["--storage-option", `${key}=${value}`]),
    awsEnv: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ALLOW_HTTP: "true",
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
      AWS_REGION: "us-east-1",
    },
    async close() {
      if (front) {
        front.closeAllConnections(); // LanceDB's client keeps connections alive
        await new Promise((resolve) => front.close(resolve));
      }
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A pass-through HTTP proxy in front of s3rver that adds AWS S3's conditional write: a PUT with `If-None-Match: *`
 * on a key that exists gets 412 PreconditionFailed. Check and write run under a per-key lock, so two racing
 * writers of one key cannot both succeed, and other requests for that key wait until the write is done (S3 PUTs
 * are atomic). Requests are forwarded unchanged (Host included: SigV4 stays valid).
 */
async function conditionalPutProxy(upstreamPort: number, counts: { total: number; refused: number }) {
  const locks = new Map<string, Promise<void>>();
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer) =>
    new Promise<void>((done, fail) => {
      const request = http.request(
        { host: "127.0.0.1", port: upstreamPort, path: req.url, method: req.method, headers: req.headers },
        (response) => {
          res.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(res);
          response.on("end", done);
        },
      );
      request.on("error", fail);
      if (body) request.end(body);
      else req.pipe(request);
    });
  const exists = (key: string) =>
    new Promise<boolean>((resolve, fail) => {
      http
        .request({ host: "127.0.0.1", port: upstreamPort, path: key, method: "HEAD" }, (response) => {
          response.resume();
          resolve(response.statusCode === 200);
        })
        .on("error", fail)
        .end();
    });

  const proxy = http.createServer(async (req, res) => {
    try {
      if (req.method !== "PUT" || req.headers["if-none-match"] !== "*") {
        // AWS S3 PUTs are atomic: a reader sees no object or the whole one. s3rver writes the file in place, so a
        // reader racing a conditional PUT (another process loading the newest manifest) could read it empty:
        // hold requests for a key until its conditional PUT is done.
        await locks.get((req.url ?? "/").split("?")[0]!);
        return await forward(req, res);
      }
      counts.total++;
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const key = (req.url ?? "/").split("?")[0]!;
      const previous = locks.get(key) ?? Promise.resolve();
      let release = () => {};
      const mine = new Promise<void>((resolve) => (release = resolve));
      const queue = previous.then(() => mine);
      locks.set(key, queue);
      await previous;
      try {
        if (await exists(key)) {
          counts.refused++;
          res.writeHead(412, { "content-type": "application/xml" }).end(PRECONDITION_FAILED);
        } else {
          await forward(req, res, Buffer.concat(chunks));
        }
      } finally {
        release();
        if (locks.get(key) === queue) locks.delete(key);
      }
    } catch (error) {
      if (!res.headersSent) res.writeHead(502).end(String(error));
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return proxy;
}
