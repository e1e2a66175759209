import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { ingestDocuments, ingestSources } from "../../src/ingest/index.ts";
import { ModelMismatchError, readTableModelIdentity } from "../../src/lancedb/index.ts";
import { corpusCopy, fixtureEmbedder, maxAbsDiff, readRows, tempDir } from "./helpers.ts";

// The fixture models have random weights, so similarities mean nothing. Every expectation here holds anyway:
// a stored chunk's exact text embedded document-side is its own nearest neighbour; ids, counts and vectors are
// deterministic functions of the text.

const CHUNK_TOKENS = 64;

describe("ingestSources on a real LanceDB directory", () => {
  it("ingests a corpus, finds a chunk by its own text, then re-ingesting changes nothing", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const root = tempDir();
    const corpus = corpusCopy(4, root);
    const db = path.join(root, "db");
    const first = await ingestSources({ sources: [corpus], db, table: "docs", embedder, chunkTokens: CHUNK_TOKENS });
    assert.equal(first.files, 4);
    assert.deepEqual(first.failures, []);
    assert.ok(first.chunks_added > 8, `${first.chunks_added} chunks`);
    assert.equal(first.chunks_updated + first.chunks_unchanged + first.chunks_deleted, 0);
    assert.ok(first.tokens_per_second > 0);

    const rows = await readRows(db);
    assert.equal(rows.length, first.chunks_added);
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, "no duplicate ids");
    const table = await (await lancedb.connect(db)).openTable("docs");
    assert.deepEqual(await readTableModelIdentity(table), embedder.identity);
    const indices = await table.listIndices();
    assert.ok(
      indices.some((i) => i.columns.includes("text")),
      "full-text index on text",
    );

    // Search: the document-side embedding of a stored chunk's text finds that chunk first.
    const target = rows[Math.floor(rows.length / 2)]!;
    const [query] = await embedder.embedDocuments([target.text]);
    const hits = await table.vectorSearch(query!).distanceType("cosine").limit(3).select(["id", "_distance"]).toArray();
    assert.equal(hits[0].id, target.id);
    assert.ok(hits[0]._distance < 1e-5);
    // Full-text search finds it by a phrase of its own words.
    const words = target.text.split(/\s+/).slice(0, 6).join(" ");
    const fts = await table.search(words, "fts").limit(5).select(["id", "_score"]).toArray();
    assert.ok(fts.some((r: { id: string }) => r.id === target.id));

    const again = await ingestSources({ sources: [corpus], db, table: "docs", embedder, chunkTokens: CHUNK_TOKENS });
    assert.deepEqual(
      { added: again.chunks_added, updated: again.chunks_updated, deleted: again.chunks_deleted },
      { added: 0, updated: 0, deleted: 0 },
    );
    assert.equal(again.chunks_unchanged, first.chunks_added);
    const after = await readRows(db);
    assert.deepEqual(
      after.map((r) => r.id),
      rows.map((r) => r.id),
    );
    for (let i = 0; i < rows.length; i++) assert.equal(maxAbsDiff(after[i]!.vector, rows[i]!.vector), 0);
  });

  it("editing one file changes only its chunks; --delete-missing removes a vanished file's chunks", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const root = tempDir();
    const corpus = corpusCopy(3, root);
    const db = path.join(root, "db");
    const options = { db, table: "docs", embedder, chunkTokens: CHUNK_TOKENS, skipOptimize: true };
    await ingestSources({ sources: [corpus], ...options });
    const before = await readRows(db);
    const sources = [...new Set(before.map((r) => r.source!))].sort();
    const [edited, kept, vanished] = sources as [string, string, string];

    appendFileSync(path.join(corpus, edited), "\n\nA new closing paragraph, added by the test.\n");
    const edit = await ingestSources({ sources: [corpus], ...options });
    const after = await readRows(db);
    const idsOf = (rows: typeof before, source: string) =>
      rows
        .filter((r) => r.source === source)
        .map((r) => r.id)
        .sort();
    assert.deepEqual(idsOf(after, kept), idsOf(before, kept), "other files untouched");
    assert.deepEqual(idsOf(after, vanished), idsOf(before, vanished));
    const keptOfEdited = idsOf(before, edited).filter((id) => idsOf(after, edited).includes(id));
    assert.ok(edit.chunks_added >= 1);
    assert.equal(edit.chunks_added, idsOf(after, edited).length - keptOfEdited.length);
    assert.equal(edit.chunks_unchanged, before.length - idsOf(before, edited).length + keptOfEdited.length);
    assert.ok(after.some((r) => r.source === edited && r.text.includes("added by the test")));
    // Old chunks of the edited file that are no longer produced are gone (no duplicates of the document).
    const editedRows = after.filter((r) => r.source === edited);
    assert.deepEqual(
      editedRows.map((r) => r.chunk_index).sort((a, b) => a - b),
      editedRows.map((_, i) => i),
    );
    assert.equal(edit.chunks_deleted, idsOf(before, edited).filter((id) => !idsOf(after, edited).includes(id)).length);

    rmSync(path.join(corpus, vanished));
    const keep = await ingestSources({ sources: [corpus], ...options });
    assert.equal(keep.chunks_deleted, 0, "without --delete-missing nothing is deleted");
    assert.ok((await readRows(db)).some((r) => r.source === vanished));
    const dry = await ingestSources({ sources: [corpus], ...options, deleteMissing: true, dryRun: true });
    assert.equal(dry.chunks_deleted, idsOf(before, vanished).length);
    assert.ok(
      (await readRows(db)).some((r) => r.source === vanished),
      "--dry-run deletes nothing",
    );
    const removed = await ingestSources({ sources: [corpus], ...options, deleteMissing: true });
    assert.equal(removed.chunks_deleted, idsOf(before, vanished).length);
    assert.ok(!(await readRows(db)).some((r) => r.source === vanished));
  });

  it("--dry-run on a new table reports what would be added and creates nothing", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const root = tempDir();
    const corpus = corpusCopy(2, root);
    const db = path.join(root, "db");
    const dry = await ingestSources({
      sources: [corpus],
      db,
      table: "docs",
      embedder,
      chunkTokens: CHUNK_TOKENS,
      dryRun: true,
    });
    assert.ok(dry.chunks_added > 0);
    assert.deepEqual(await (await lancedb.connect(db)).tableNames(), []);
    const real = await ingestSources({
      sources: [corpus],
      db,
      table: "docs",
      embedder,
      chunkTokens: CHUNK_TOKENS,
      skipOptimize: true,
    });
    assert.equal(real.chunks_added, dry.chunks_added);
  });

  it("skips bad files with a reason each, ingests the rest, and keeps what was stored", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const root = tempDir();
    const corpus = corpusCopy(1, root);
    const db = path.join(root, "db");
    const good = await ingestSources({
      sources: [corpus],
      db,
      table: "docs",
      embedder,
      chunkTokens: CHUNK_TOKENS,
      skipOptimize: true,
    });
    const stored = await readRows(db);

    const bad = path.join(root, "bad");
    mkdirSync(bad);
    writeFileSync(path.join(bad, "binary.txt"), Buffer.from([0x48, 0x69, 0x00, 0x01, 0x02]));
    writeFileSync(path.join(bad, "latin1.txt"), Buffer.from("caf\xe9 au lait", "latin1"));
    writeFileSync(path.join(bad, "empty.md"), "");
    writeFileSync(path.join(bad, "blank.txt"), " \n\n\t ");
    writeFileSync(path.join(bad, "big.txt"), "word ".repeat(5000));
    writeFileSync(
      path.join(bad, "records.jsonl"),
      `${JSON.stringify({ id: "ok-1", text: "A fine record about the harvest." })}\n{not json\n${JSON.stringify({ id: "no-text" })}\n${JSON.stringify({ id: "surrogate", text: "bad \ud800 text" })}\n`,
    );
    const report = await ingestSources({
      // /proc/self/mem can be opened but not read at offset 0 (EIO): an unreadable file even for root.
      sources: [corpus, bad, "/proc/self/mem", path.join(root, "missing.txt")],
      db,
      table: "docs",
      embedder,
      chunkTokens: CHUNK_TOKENS,
      maxFileBytes: 10_000,
      skipOptimize: true,
    });
    const reasons = Object.fromEntries(report.failures.map((f) => [f.source, f.reason]));
    assert.match(reasons["binary.txt"]!, /binary/);
    assert.match(reasons["latin1.txt"]!, /invalid UTF-8/);
    assert.match(reasons["empty.md"]!, /empty/);
    assert.match(reasons["blank.txt"]!, /empty/);
    assert.match(reasons["big.txt"]!, /too large/);
    assert.match(reasons.mem!, /unreadable/);
    assert.match(reasons[path.join(root, "missing.txt")]!, /not found/);
    assert.match(reasons["records.jsonl:2"]!, /invalid JSON/);
    assert.match(reasons["records.jsonl:3"]!, /no "text" field/);
    assert.match(reasons["records.jsonl:4"]!, /surrogate/);
    assert.equal(report.failures.length, 10);
    assert.equal(report.chunks_added, 1, "the good JSONL record");
    assert.equal(report.chunks_unchanged, good.chunks_added, "the stored file is untouched");
    const rows = await readRows(db);
    assert.equal(rows.length, stored.length + 1);
    assert.ok(rows.some((r) => r.doc_id === "ok-1"));
  });

  it("refuses a table built with another model, naming both, and --reembed rebuilds it with the new one", async () => {
    const mistral = await fixtureEmbedder("tiny-mistral");
    const qwen = await fixtureEmbedder("tiny-qwen2");
    const root = tempDir();
    const corpus = corpusCopy(2, root);
    const db = path.join(root, "db");
    await ingestSources({
      sources: [corpus],
      db,
      table: "docs",
      embedder: mistral,
      chunkTokens: CHUNK_TOKENS,
      skipOptimize: true,
    });
    const before = await readRows(db);
    await assert.rejects(
      ingestSources({ sources: [corpus], db, table: "docs", embedder: qwen, chunkTokens: CHUNK_TOKENS }),
      (error: unknown) =>
        error instanceof ModelMismatchError &&
        error.message.includes("tiny-mistral") &&
        error.message.includes("tiny-qwen2"),
    );
    assert.equal((await readRows(db)).length, before.length, "nothing stored lost");

    const report = await ingestSources({
      sources: [corpus],
      db,
      table: "docs",
      embedder: qwen,
      chunkTokens: CHUNK_TOKENS,
      reembed: true,
      skipOptimize: true,
    });
    assert.equal(report.chunks_updated, before.length);
    const table = await (await lancedb.connect(db)).openTable("docs");
    assert.deepEqual(await readTableModelIdentity(table), qwen.identity);
    const after = await readRows(db);
    // The stored texts were re-embedded (chunk boundaries differ under the other tokenizer; those are
    // re-chunked and replaced), and every vector is now the Qwen2 document embedding of its text.
    const sample = after.slice(0, 5);
    const expected = await qwen.embedDocuments(sample.map((r) => r.text));
    for (const [i, r] of sample.entries()) assert.ok(maxAbsDiff(r.vector, expected[i]!) < 1e-5);
  });
});

describe("ingestDocuments", () => {
  it("ingests documents whole (one vector each, BEIR-style ids), idempotently", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const db = path.join(tempDir(), "db");
    const corpusText = readFileSync(path.join(corpusCopy(1), "..", "corpus", "1790-george-washington.md"), "utf8");
    const documents = Array.from({ length: 5 }, (_, i) => ({
      id: `doc-${i}`,
      title: `Part ${i}`,
      text: corpusText.slice(i * 300, i * 300 + 900),
      metadata: { lang: "en", part: i },
    }));
    async function* stream() {
      yield* documents;
    }
    const first = await ingestDocuments({
      documents: stream(),
      db,
      table: "beir",
      embedder,
      whole: true,
      skipOptimize: true,
    });
    assert.equal(first.chunks_added, 5);
    const again = await ingestDocuments({ documents, db, table: "beir", embedder, whole: true, skipOptimize: true });
    assert.equal(again.chunks_unchanged, 5);
    assert.equal(again.chunks_added, 0);
    // Same text, new title: the chunk id is unchanged, so it is updated in place with its stored vector.
    const vectorsBefore = await readRows(db, "beir");
    const retitled = documents.map((d, i) => (i === 1 ? { ...d, title: "A new title" } : d));
    const third = await ingestDocuments({
      documents: retitled,
      db,
      table: "beir",
      embedder,
      whole: true,
      skipOptimize: true,
    });
    assert.deepEqual(
      [third.chunks_added, third.chunks_updated, third.chunks_unchanged, third.chunks_deleted],
      [0, 1, 4, 0],
    );
    const vectorsAfter = await readRows(db, "beir");
    assert.deepEqual(
      vectorsAfter.map((r) => r.id),
      vectorsBefore.map((r) => r.id),
    );
    for (const [i, r] of vectorsAfter.entries()) assert.equal(maxAbsDiff(r.vector, vectorsBefore[i]!.vector), 0);
    const table = await (await lancedb.connect(db)).openTable("beir");
    const [titled] = await table.query().where("doc_id = 'doc-1'").select(["title"]).toArray();
    assert.equal(titled.title, "A new title");
    const english = await table
      .query()
      .where("metadata.lang = 'en' AND metadata.part >= 3")
      .select(["doc_id"])
      .toArray();
    assert.deepEqual(english.map((r) => r.doc_id).sort(), ["doc-3", "doc-4"]);
    const rows = await readRows(db, "beir");
    const [expected] = await embedder.embedDocuments([documents[2]!.text]);
    assert.ok(maxAbsDiff(rows.find((r) => r.doc_id === "doc-2")!.vector, expected!) < 1e-5);
  });

  it("keeps metadata keys the table's struct lacks in metadata.extra, filterable, nothing dropped", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const db = path.join(tempDir(), "db");
    const common = { db, table: "meta", embedder, whole: true, skipOptimize: true };
    await ingestDocuments({
      ...common,
      documents: [{ id: "a", text: "First text.", metadata: { lang: "en", year: 1790 } }],
    });
    await ingestDocuments({
      ...common,
      documents: [
        { id: "b", text: "Second text.", metadata: { lang: "fr", author: "Anon" } },
        { id: "c", text: "Third text.", metadata: { lang: 3, year: 1801 } },
      ],
    });
    const table = await (await lancedb.connect(db)).openTable("meta");
    const rows = await table.query().select(["doc_id", "metadata"]).toArray();
    const byId = Object.fromEntries(rows.map((r) => [r.doc_id, { ...r.metadata.toJSON() }]));
    assert.deepEqual(byId.a, { format: null, extra: null, lang: "en", year: 1790 });
    assert.deepEqual(byId.b, { format: null, extra: '{"author":"Anon"}', lang: "fr", year: null });
    assert.deepEqual(byId.c, { format: null, extra: '{"lang":3}', lang: null, year: 1801 }, "wrong type → extra");
    const found = await table.query().where("metadata.extra LIKE '%Anon%'").select(["doc_id"]).toArray();
    assert.deepEqual(
      found.map((r) => r.doc_id),
      ["b"],
    );
  });

  it("--index builds a cosine vector index even on a small table", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const root = tempDir();
    const db = path.join(root, "db");
    await ingestSources({ sources: [corpusCopy(3, root)], db, table: "docs", embedder, chunkTokens: 32, index: true });
    const table = await (await lancedb.connect(db)).openTable("docs");
    const indices = await table.listIndices();
    const vector = indices.find((i) => i.columns.includes("vector"));
    assert.ok(vector, JSON.stringify(indices));
    assert.match(vector.indexType, /IVF/i);
    assert.ok(indices.some((i) => i.columns.includes("id")) && indices.some((i) => i.columns.includes("doc_id")));
    const rows = await readRows(db);
    const [query] = await embedder.embedDocuments([rows[0]!.text]);
    const [hit] = await table.vectorSearch(query!).limit(1).select(["id", "_distance"]).toArray();
    assert.equal(hit.id, rows[0]!.id);
  });
});
