import { mkdtempSync, rmSync } from "node:fs";
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
  close(): Promise<void>;
}

// s3rver accepts any signature made with its fixed key pair.
const ACCESS_KEY = "S3RVER";
const SECRET_KEY = "S3RVER";

export async function startLocalS3(bucket = "lance-e5-test"): Promise<LocalS3> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lance-e5-s3-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
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
    storageArgs: Object.entries(storageOptions).flatMap(([key, value]) => ["--storage-option", `${key}=${value}`]),
    awsEnv: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ALLOW_HTTP: "true",
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
      AWS_REGION: "us-east-1",
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
