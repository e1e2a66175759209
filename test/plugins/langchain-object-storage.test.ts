import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Document } from "@langchain/core/documents";
import {
  LanceE5Embeddings,
  LanceE5VectorStore,
  ObjectStoreError,
  StorageOptionError,
} from "../../plugins/langchain/index.ts";
import { STORAGE_OPTIONS_ENV } from "../../src/lancedb/storage-options.ts";
import { FIXTURE_MODELS } from "../ingest/helpers.ts";
import { type LocalS3, startLocalS3 } from "../lancedb/object-storage-server.ts";
import { CORPUS } from "../search/helpers.ts";

// The LangChain store on `s3://bucket/prefix` against a local S3-compatible server (npm s3rver): options given to
// the store, or taken from LANCE_E5_STORAGE_OPTIONS as the CLI and server do. Fixture model (random weights):
// the checks use full-text search, document-side self-retrieval and counts.

describe("LanceE5VectorStore on object storage (local s3rver)", () => {
  let s3: LocalS3;
  let embeddings: LanceE5Embeddings;
  const saved = process.env[STORAGE_OPTIONS_ENV];

  before(async () => {
    s3 = await startLocalS3();
    embeddings = new LanceE5Embeddings({ model: path.join(FIXTURE_MODELS, "tiny-mistral"), threads: 1 });
  });
  after(async () => {
    if (saved === undefined) delete process.env[STORAGE_OPTIONS_ENV];
    else process.env[STORAGE_OPTIONS_ENV] = saved;
    await embeddings.dispose();
    await s3.close();
  });

  it("fromDocuments writes a lance-e5 table into the bucket; a second store finds it through the env options", async () => {
    delete process.env[STORAGE_OPTIONS_ENV];
    const db = `s3://${s3.bucket}/langchain`;
    const documents = CORPUS.map((d) => new Document({ id: d.id, pageContent: d.text, metadata: { ...d.metadata } }));
    const store = await LanceE5VectorStore.fromDocuments(documents, embeddings, {
      db,
      storageOptions: s3.storageOptions,
    });
    assert.doesNotMatch(JSON.stringify(store.lc_kwargs), /aws_secret_access_key/, "no credentials kept for tracing");
    const [vector] = await embeddings.embedDocuments([CORPUS[2]!.text]);
    const [[self, cosine]] = (await store.similaritySearchVectorWithScore(vector!, 1)) as [[Document, number]];
    assert.equal(self.id, CORPUS[2]!.id);
    assert.ok(cosine > 0.9999);

    process.env[STORAGE_OPTIONS_ENV] = JSON.stringify(s3.storageOptions);
    const reader = await LanceE5VectorStore.fromExistingTable(embeddings, { db, mode: "fulltext" });
    const [hit] = await reader.similaritySearch("Mancha", 1, { "metadata.lang": "es" });
    assert.equal(hit!.id, "quijote");
    assert.deepEqual(
      await reader.addDocuments(documents),
      CORPUS.map((d) => d.id),
      "idempotent in the bucket too",
    );
    assert.equal((await reader.similaritySearch("light", 20)).length, 1);
  });

  it("a bad option or an unreachable bucket is a clear error naming it", async () => {
    process.env[STORAGE_OPTIONS_ENV] = "allow_http";
    const bad = new LanceE5VectorStore(embeddings, { db: `s3://${s3.bucket}/x` });
    await assert.rejects(bad.similaritySearch("x"), (e: unknown) => e instanceof StorageOptionError);
    delete process.env[STORAGE_OPTIONS_ENV];
    const missing = new LanceE5VectorStore(embeddings, {
      db: "s3://no-such-bucket/x",
      storageOptions: s3.storageOptions,
    });
    await assert.rejects(
      missing.similaritySearch("x"),
      (e: unknown) => e instanceof ObjectStoreError && /no-such-bucket/.test(e.message),
    );
  });
});
