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
 * A pass-through HTTP proxy in front of s3rver that makes it behave like AWS S3 where Lance depends on it:
 * - Conditional write: a PUT with `If-None-Match: *` on a key that exists gets 412 PreconditionFailed.
 * - Atomic PUTs: a reader sees no object or the whole one. s3rver writes the file in place and answers the PUT
 *   before its write stream has flushed (it resolves on its hashing transform's `finish`), so a reader right after
 *   a commit (another process loading the newest manifest) could read it empty or short ("does not have sufficient
 *   data, len: 0"). Every PUT therefore runs under a per-key lock that is released only once the object's stored
 *   length equals the body's, and other requests for that key wait on the lock.
 * - Consistent listings: s3rver lists a file being written with the size it has so far (often 0), and Lance trusts
 *   a listed manifest's size ("Range started at 0 and ended at 0"). A LIST waits until no PUT is in flight, and
 *   PUTs wait to be forwarded while a LIST runs.
 * Requests are forwarded unchanged (Host included: SigV4 stays valid).
 */
async function conditionalPutProxy(upstreamPort: number, counts: { total: number; refused: number }) {
  const locks = new Map<string, Promise<void>>();
  const listings = new Set<Promise<unknown>>();
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer) =>
    new Promise<number>((done, fail) => {
      const request = http.request(
        { host: "127.0.0.1", port: upstreamPort, path: req.url, method: req.method, headers: req.headers },
        (response) => {
          res.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(res);
          response.on("end", () => done(response.statusCode ?? 502));
        },
      );
      request.on("error", fail);
      if (body) request.end(body);
      else req.pipe(request);
    });
  /** The stored length of `key`, or null when there is no such object. */
  const storedLength = (key: string) =>
    new Promise<number | null>((resolve, fail) => {
      http
        .request({ host: "127.0.0.1", port: upstreamPort, path: key, method: "HEAD" }, (response) => {
          response.resume();
          resolve(response.statusCode === 200 ? Number(response.headers["content-length"]) : null);
        })
        .on("error", fail)
        .end();
    });
  const settled = async (key: string, length: number) => {
    for (let waited = 0; waited < 5_000; waited += 5) {
      if ((await storedLength(key)) === length) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`s3rver did not finish writing ${key} (${length} bytes) within 5 s`);
  };

  const proxy = http.createServer(async (req, res) => {
    try {
      const key = (req.url ?? "/").split("?")[0]!;
      if (req.method === "GET" && /[?&]list-type=/.test(req.url ?? "")) {
        while (locks.size > 0) await Promise.all(locks.values());
        const listing = forward(req, res);
        listings.add(listing);
        return void (await listing.finally(() => listings.delete(listing)));
      }
      // A multipart part (`?partNumber=`) is not the object itself: only whole-object PUTs are locked.
      if (req.method !== "PUT" || /[?&](partNumber|uploadId)=/.test(req.url ?? "")) {
        await locks.get(key);
        return void (await forward(req, res));
      }
      const conditional = req.headers["if-none-match"] === "*";
      if (conditional) counts.total++;
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const previous = locks.get(key) ?? Promise.resolve();
      let release = () => {};
      const mine = new Promise<void>((resolve) => (release = resolve));
      const queue = previous.then(() => mine);
      locks.set(key, queue);
      await previous;
      try {
        if (conditional && (await storedLength(key)) !== null) {
          counts.refused++;
          res.writeHead(412, { "content-type": "application/xml" }).end(PRECONDITION_FAILED);
        } else {
          while (listings.size > 0) await Promise.all(listings);
          if ((await forward(req, res, body)) === 200) await settled(key, body.length);
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
