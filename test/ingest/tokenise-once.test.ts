import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { ingestDocuments } from "../../src/ingest/index.ts";
import type { Embedder } from "../../src/model/embedder.ts";
import { corpusCopy, fixtureEmbedder, readRows, tempDir } from "./helpers.ts";

// Ingest embeds chunks from the ids the chunker already computed (Embedder.embedContentIds) instead of
// tokenising each chunk again. The stored vectors must be exactly those of embedding the stored texts.

/** The real embedder, counting which embedding path ingest takes. */
function counting(embedder: Embedder) {
  const calls = { contentIds: 0, idsEmbedded: 0, documents: 0, textsEmbedded: 0 };
  const spy: Embedder = Object.create(embedder);
  spy.embedContentIds = async (contents, options) => {
    calls.contentIds++;
    calls.idsEmbedded += contents.length;
    return embedder.embedContentIds!(contents, options);
  };
  spy.embedDocuments = async (texts, options) => {
    calls.documents++;
    calls.textsEmbedded += texts.length;
    return embedder.embedDocuments(texts, options);
  };
  return { spy, calls };
}

describe("ingest tokenises each chunk once", () => {
  for (const chunkTokens of [32, 200]) {
    it(`stored vectors equal embedDocuments of the stored texts (${chunkTokens}-token chunks)`, async () => {
      const embedder = await fixtureEmbedder("tiny-mistral");
      const { spy, calls } = counting(embedder);
      const root = tempDir();
      const corpus = corpusCopy(3, root);
      const documents = readdirSync(corpus)
        .sort()
        .map((name) => ({ id: name, text: readFileSync(path.join(corpus, name), "utf8") }));
      const db = path.join(root, "db");
      const report = await ingestDocuments({ documents, db, table: "docs", embedder: spy, chunkTokens });
      assert.deepEqual(report.failures, []);
      assert.ok(calls.idsEmbedded > 0, "some chunks went through embedContentIds");
      assert.equal(calls.idsEmbedded + calls.textsEmbedded, report.chunks_added);

      const rows = await readRows(db);
      assert.equal(rows.length, report.chunks_added);
      const expected = await embedder.embedDocuments(rows.map((r) => r.text));
      for (const [i, row] of rows.entries()) assert.deepEqual(row.vector, expected[i], `chunk ${row.id}`);
    });
  }

  it("a backend without embedContentIds (remote) embeds the texts, same vectors", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const textOnly: Embedder = Object.create(embedder);
    textOnly.embedContentIds = undefined;
    textOnly.encodeContent = undefined;
    const root = tempDir();
    const corpus = corpusCopy(2, root);
    const documents = readdirSync(corpus)
      .sort()
      .map((name) => ({ id: name, text: readFileSync(path.join(corpus, name), "utf8") }));
    const withIds = path.join(root, "a");
    const withText = path.join(root, "b");
    await ingestDocuments({ documents, db: withIds, table: "docs", embedder, chunkTokens: 48 });
    await ingestDocuments({ documents, db: withText, table: "docs", embedder: textOnly, chunkTokens: 48 });
    const [a, b] = [await readRows(withIds), await readRows(withText)];
    assert.deepEqual(
      a.map((r) => r.id),
      b.map((r) => r.id),
    );
    for (const [i, row] of a.entries()) assert.deepEqual(row.vector, b[i]!.vector);
  });
});
