import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { LanceE5Embeddings, LanceE5VectorStore } from "../../plugins/langchain/index.ts";
import type { Embedder, LocalEmbedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { loadRemoteEmbedder } from "../../src/model/remote-embedder.ts";
import { createApp } from "../../src/server/app.ts";
import { listen, type RunningServer } from "../../src/server/serve.ts";
import { maxAbsDiff, tempDir } from "../ingest/helpers.ts";
import { buildTable, CORPUS, TINY_MISTRAL } from "../search/helpers.ts";

// LangChain over the remote embedding backend: the embedding runs in another lance-e5 server (standing in for a
// GPU box), the store reads and writes a table built with the local model. Same model files → same identity, so
// the table accepts the remote embedder and every answer equals the local one.

describe("LanceE5Embeddings / LanceE5VectorStore with a remote Embedder (lance-e5 serve on loopback)", () => {
  let local: LocalEmbedder;
  let remote: Embedder;
  let server: RunningServer;

  before(async () => {
    local = await loadEmbedder(TINY_MISTRAL, { threads: 1 });
    const serverDb = await lancedb.connect(path.join(tempDir("lance-e5-langchain-remote-"), "server-db"));
    server = await listen(createApp({ embedder: local, db: serverDb, defaultTable: "docs", log: () => {} }), {
      port: 0,
    });
    remote = await loadRemoteEmbedder({ url: server.url, source: { kind: "directory", dir: TINY_MISTRAL } });
  });
  after(async () => {
    await remote.dispose();
    await server.shutdown();
    await local.dispose();
  });

  it("vectors equal the local ones; a locally built table is searched and extended through the remote", async () => {
    const viaRemote = new LanceE5Embeddings({ embedder: remote, task: "web_search" });
    const viaLocal = new LanceE5Embeddings({ embedder: local, task: "web_search" });
    const query = "the rights of the people";
    assert.ok(
      maxAbsDiff(
        Float32Array.from(await viaRemote.embedQuery(query)),
        Float32Array.from(await viaLocal.embedQuery(query)),
      ) < 1e-5,
    );
    const texts = CORPUS.slice(0, 3).map((d) => d.text);
    const [a, b] = [await viaRemote.embedDocuments(texts), await viaLocal.embedDocuments(texts)];
    for (const [i, v] of a.entries()) assert.ok(maxAbsDiff(Float32Array.from(v), Float32Array.from(b[i]!)) < 1e-5);

    const db = path.join(tempDir("lance-e5-langchain-remote-"), "db");
    await buildTable(db, local);
    const remoteStore = await LanceE5VectorStore.fromExistingTable(viaRemote, { db, mode: "hybrid" });
    const localStore = await LanceE5VectorStore.fromExistingTable(viaLocal, { db, mode: "hybrid" });
    const remoteHits = await remoteStore.similaritySearchWithScore(query, 5);
    const localHits = await localStore.similaritySearchWithScore(query, 5);
    assert.deepEqual(
      remoteHits.map(([d]) => d.metadata.chunk_id),
      localHits.map(([d]) => d.metadata.chunk_id),
    );

    const platypus = "Platypuses lay eggs and hunt by electroreception.";
    const [id] = await remoteStore.addDocuments([{ pageContent: platypus, metadata: {} }]);
    const [vector] = await viaLocal.embedDocuments([platypus]);
    const [top] = await localStore.similaritySearchVectorWithScore(vector!, 1);
    const [hit, cosine] = top!;
    assert.equal(hit.id, id);
    assert.ok(cosine > 0.9999, `stored by the remote, found by the local vector: ${cosine}`);
  });
});
