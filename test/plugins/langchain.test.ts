import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { Document } from "@langchain/core/documents";
import { FakeEmbeddings } from "@langchain/core/utils/testing";
import {
  DocumentError,
  FilterError,
  LanceE5Embeddings,
  LanceE5VectorStore,
  ModelMismatchError,
  SearchRequestError,
  TableNotFoundError,
  UnknownTaskError,
} from "../../plugins/langchain/index.ts";
import { SHIPPED_MODEL_DIR } from "../../src/defaults.ts";
import { loadEmbedder } from "../../src/model/index.ts";
import type { SearchResponse } from "../../src/search/index.ts";
import { runCli } from "../helpers/cli.ts";
import { corpusCopy, FIXTURE_MODELS, fixtureEmbedder, maxAbsDiff, tempDir } from "../ingest/helpers.ts";
import { CORPUS } from "../search/helpers.ts";

// Fixture models have random weights: every check compares the plugin with lance-e5's own functions and CLI
// (which holds for any weights), or finds a stored text by its own document-side vector or a word only it has.

const TINY_MISTRAL = path.join(FIXTURE_MODELS, "tiny-mistral");
const TINY_QWEN2 = path.join(FIXTURE_MODELS, "tiny-qwen2");

const embeddingsOf = (options: ConstructorParameters<typeof LanceE5Embeddings>[0] = {}) =>
  new LanceE5Embeddings({ model: TINY_MISTRAL, threads: 1, ...options });

async function rowCount(db: string, table = "docs"): Promise<number> {
  return (await (await lancedb.connect(db)).openTable(table)).countRows();
}

/** CORPUS (real sentences with lang/year metadata) as LangChain Documents. */
function corpusDocuments(): Document[] {
  return CORPUS.map(
    (d) =>
      new Document({ id: d.id, pageContent: d.text, metadata: { source: d.source, title: d.title, ...d.metadata } }),
  );
}

describe("LanceE5Embeddings", () => {
  it("embedQuery equals lance-e5's embedQueries for the model's default task; embedDocuments equals embedDocuments", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const embeddings = embeddingsOf();
    const query = "what did Lincoln say at Gettysburg?";
    const [expectedQuery] = await embedder.embedQueries([query], { task: embedder.config.default_task });
    const viaLangChain = await embeddings.embedQuery(query);
    assert.ok(Array.isArray(viaLangChain) && viaLangChain.length === embedder.dim);
    assert.ok(maxAbsDiff(Float32Array.from(viaLangChain), expectedQuery!) < 1e-6);

    const texts = CORPUS.slice(0, 4).map((d) => d.text);
    const expectedDocs = await embedder.embedDocuments(texts);
    const docs = await embeddings.embedDocuments(texts);
    assert.equal(docs.length, texts.length);
    for (const [i, v] of docs.entries()) {
      assert.ok(maxAbsDiff(Float32Array.from(v), expectedDocs[i]!) < 1e-6, `document ${i}`);
    }
    assert.deepEqual(await embeddings.embedDocuments([]), []);

    // The query side carries the instruction, the document side does not.
    const [asDocument] = await embeddings.embedDocuments([query]);
    assert.ok(maxAbsDiff(Float32Array.from(asDocument!), Float32Array.from(viaLangChain)) > 1e-3);
    await embeddings.dispose();
  });

  it("a configured task or free instruction is the one embedQueries gets; unknown task is a typed error", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const query = "Four score and seven years ago";
    const [sts] = await embedder.embedQueries([query], { task: "sts" });
    const [free] = await embedder.embedQueries([query], { instruction: "Find speeches by American presidents" });
    const [byDefault] = await embedder.embedQueries([query]);
    const viaTask = Float32Array.from(await embeddingsOf({ task: "sts" }).embedQuery(query));
    const viaInstruction = Float32Array.from(
      await embeddingsOf({ instruction: "Find speeches by American presidents" }).embedQuery(query),
    );
    assert.ok(maxAbsDiff(viaTask, sts!) < 1e-6);
    assert.ok(maxAbsDiff(viaInstruction, free!) < 1e-6);
    assert.ok(maxAbsDiff(viaTask, byDefault!) > 1e-3, "the task changes the query vector");

    assert.throws(() => embeddingsOf({ task: "no_such_task" }), UnknownTaskError);
    assert.throws(() => embeddingsOf({ task: "sts", instruction: "x" }), /task or an instruction, not both/);
  });

  it("resolves the model as everywhere else: option, else LANCE_E5_MODEL, else models/default", async () => {
    const saved = process.env.LANCE_E5_MODEL;
    try {
      process.env.LANCE_E5_MODEL = TINY_QWEN2;
      const fromEnv = new LanceE5Embeddings({ threads: 1 });
      assert.equal((await fromEnv.embedder()).identity.hash, (await fixtureEmbedder("tiny-qwen2")).identity.hash);
      const fromOption = new LanceE5Embeddings({ model: TINY_MISTRAL, threads: 1 });
      assert.equal((await fromOption.embedder()).identity.hash, (await fixtureEmbedder("tiny-mistral")).identity.hash);
      delete process.env.LANCE_E5_MODEL;
      const shipped = await loadEmbedder(SHIPPED_MODEL_DIR, { threads: 1 });
      const fromDefault = new LanceE5Embeddings({ threads: 1 });
      assert.equal((await fromDefault.embedder()).identity.hash, shipped.identity.hash);
      await Promise.all([fromEnv.dispose(), fromOption.dispose(), fromDefault.dispose(), shipped.dispose()]);
    } finally {
      if (saved === undefined) delete process.env.LANCE_E5_MODEL;
      else process.env.LANCE_E5_MODEL = saved;
    }
  });
});

describe("LanceE5VectorStore over a table made by `lance-e5 ingest`", () => {
  let db: string;
  let embeddings: LanceE5Embeddings;

  before(async () => {
    const root = tempDir("lance-e5-langchain-");
    db = path.join(root, "db");
    const jsonl = path.join(root, "speeches.jsonl");
    writeFileSync(jsonl, `${CORPUS.map((d) => JSON.stringify(d)).join("\n")}\n`);
    const ingest = await runCli([
      "ingest",
      jsonl,
      corpusCopy(2, root),
      "--db",
      db,
      "--model",
      TINY_MISTRAL,
      "--chunk-tokens",
      "64",
      "--json",
    ]);
    assert.equal(ingest.code, 0, ingest.stderr);
    embeddings = embeddingsOf();
  });
  after(() => embeddings.dispose());

  /** `lance-e5 search --json` in a child process (the real CLI). */
  async function cliSearch(query: string, mode: string, k: number): Promise<SearchResponse> {
    const args = ["search", query, "--db", db, "--model", TINY_MISTRAL, "--mode", mode, "--k", `${k}`, "--json"];
    const json = await runCli(args);
    assert.equal(json.code, 0, json.stderr);
    return JSON.parse(json.stdout) as SearchResponse;
  }

  for (const mode of ["vector", "fulltext", "hybrid"] as const) {
    it(`${mode}: top hits and scores equal \`lance-e5 search --mode ${mode}\``, async () => {
      const store = await LanceE5VectorStore.fromExistingTable(embeddings, { db, mode });
      const query = "And God said, Let there be light";
      const cli = await cliSearch(query, mode, 6);
      const hits = await store.similaritySearchWithScore(query, 6);
      assert.ok(cli.results.length > 0);
      assert.deepEqual(
        hits.map(([doc]) => [doc.pageContent, doc.id, doc.metadata.chunk_id]),
        cli.results.map((r) => [r.text, r.doc_id, r.id]),
      );
      for (const [i, [, score]] of hits.entries()) {
        assert.ok(Math.abs(score - cli.results[i]!.score) < 1e-5, `score ${i}`);
      }
      if (mode === "fulltext") assert.equal(hits[0]![0].id, "genesis-light"); // the only text with "light"
    });
  }

  it("similaritySearchVectorWithScore(embedQuery(q)) equals `lance-e5 search` (same task: the table's default)", async () => {
    const store = await LanceE5VectorStore.fromExistingTable(embeddings, { db });
    const query = "the navy and the commerce of the nation";
    const cli = await cliSearch(query, "vector", 5);
    const hits = await store.similaritySearchVectorWithScore(await embeddings.embedQuery(query), 5);
    assert.deepEqual(
      hits.map(([doc]) => doc.metadata.chunk_id),
      cli.results.map((r) => r.id),
    );
    for (const [i, [, score]] of hits.entries()) assert.ok(Math.abs(score - cli.results[i]!.score) < 1e-5);
  });

  it("a retriever returns Documents with the stored metadata, filtered in lance-e5's JSON filter language", async () => {
    const store = await LanceE5VectorStore.fromExistingTable(embeddings, { db });
    const retriever = store.asRetriever({ k: 5, filter: { "metadata.lang": { $in: ["de", "fr"] } } });
    const docs = await retriever.invoke("a song of the fatherland");
    assert.deepEqual(docs.map((d) => d.id).sort(), ["faust", "marseillaise"]);
    for (const doc of docs) {
      assert.ok(doc instanceof Document);
      const original = CORPUS.find((d) => d.id === doc.id)!;
      assert.equal(doc.pageContent, original.text);
      assert.equal(doc.metadata.lang, original.metadata!.lang);
      assert.equal(doc.metadata.year, original.metadata!.year);
      assert.equal(doc.metadata.title, original.title);
      assert.equal(doc.metadata.source, "speeches.jsonl");
      assert.equal(doc.metadata.doc_id, doc.id);
      assert.match(String(doc.metadata.chunk_id), /^[0-9a-f]{64}$/);
    }
    const numeric = await store.similaritySearch("freedom", 10, { "metadata.year": { $gte: 1800, $lt: 1900 } });
    assert.deepEqual(numeric.map((d) => d.id).sort(), ["emancipation", "faust", "gettysburg"]);
  });

  it("bad filters, k, vectors and a wrong model are clear typed errors", async () => {
    const store = await LanceE5VectorStore.fromExistingTable(embeddings, { db });
    await assert.rejects(
      store.similaritySearch("light", 3, { "metadata.colour": "red" }),
      (e: unknown) => e instanceof FilterError && e.reason === "unknown_field" && /metadata\.colour/.test(e.message),
    );
    await assert.rejects(
      store.asRetriever({ filter: { title: { $regex: "GEN.*" } } }).invoke("light"),
      (e: unknown) => e instanceof FilterError && e.reason === "unknown_operator" && /\$regex/.test(e.message),
    );
    await assert.rejects(
      store.similaritySearch("light", 3, { "metadata.year": "1611" }),
      (e: unknown) => e instanceof FilterError && e.reason === "invalid_value",
    );
    await assert.rejects(store.similaritySearch("light", 0), (e: unknown) => e instanceof SearchRequestError);
    await assert.rejects(
      store.similaritySearchVectorWithScore([0.1, 0.2], 3),
      (e: unknown) => e instanceof SearchRequestError && /64 numbers/.test(e.message),
    );
    await assert.rejects(store.addVectors(), /call addDocuments instead/);

    const qwen = new LanceE5Embeddings({ model: TINY_QWEN2, threads: 1 });
    await assert.rejects(
      LanceE5VectorStore.fromExistingTable(qwen, { db }),
      (e: unknown) => e instanceof ModelMismatchError && /tiny-mistral/.test(e.message) && /tiny-qwen2/.test(e.message),
    );
    await qwen.dispose();
    await assert.rejects(
      LanceE5VectorStore.fromExistingTable(embeddings, { db, table: "nope" }),
      (e: unknown) => e instanceof TableNotFoundError && /nope/.test(e.message),
    );
    assert.throws(() => new LanceE5VectorStore(new FakeEmbeddings(), { db }), /needs a LanceE5Embeddings/);
    assert.throws(
      () => new LanceE5VectorStore(embeddings, { db, mode: "semantic" as "vector" }),
      (e: unknown) => e instanceof SearchRequestError && /semantic/.test(e.message),
    );
  });
});

describe("LanceE5VectorStore writes (fromTexts / addDocuments / delete)", () => {
  it("fromTexts makes a lance-e5 table; each text finds itself by its document vector and by a word only it has", async () => {
    const db = path.join(tempDir("lance-e5-langchain-"), "db");
    const embeddings = embeddingsOf();
    const texts = CORPUS.map((d) => d.text);
    const metadatas: Record<string, unknown>[] = CORPUS.map((d) => ({ ...d.metadata, source: d.source }));
    const store = await LanceE5VectorStore.fromTexts(texts, metadatas, embeddings, { db, table: "speeches" });
    assert.equal(await rowCount(db, "speeches"), texts.length);

    const vectors = await embeddings.embedDocuments(texts);
    for (const [i, text] of texts.entries()) {
      const [[doc, score]] = (await store.similaritySearchVectorWithScore(vectors[i]!, 1)) as [[Document, number]];
      assert.equal(doc.pageContent, text);
      assert.ok(score > 0.9999, `cosine of a text with itself: ${score}`);
      assert.equal(doc.metadata.lang, metadatas[i]!.lang);
      assert.equal(doc.metadata.source, metadatas[i]!.source);
    }
    const fulltext = new LanceE5VectorStore(embeddings, { db, table: "speeches", mode: "fulltext" });
    const [hit] = await fulltext.similaritySearch("Mancha", 1);
    assert.equal(hit!.pageContent, CORPUS.find((d) => d.id === "quijote")!.text);

    // The table is lance-e5's own: the CLI searches it and gets the same answer.
    const cli = await runCli(["search", "Mancha", "--db", db, "--table", "speeches", "--model", TINY_MISTRAL]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /En un lugar de la Mancha/);
    await embeddings.dispose();
  });

  it("addDocuments returns doc ids, is idempotent, and what it adds is searchable at once; delete removes it", async () => {
    const db = path.join(tempDir("lance-e5-langchain-"), "db");
    const embeddings = embeddingsOf();
    const store = new LanceE5VectorStore(embeddings, { db });
    const fulltext = new LanceE5VectorStore(embeddings, { db, mode: "fulltext" });
    const ids = await store.addDocuments(corpusDocuments());
    assert.deepEqual(
      ids,
      CORPUS.map((d) => d.id),
    );
    const rows = await rowCount(db);

    const added = [
      new Document({ pageContent: "The quokka is a small marsupial of Rottnest Island.", metadata: { lang: "en" } }),
      new Document({ pageContent: "Der Quokka lebt auf der Insel Rottnest.", metadata: { lang: "de" } }),
    ];
    const addedIds = await store.addDocuments(added);
    assert.equal(addedIds.length, 2);
    assert.equal(await rowCount(db), rows + 2);
    const [[top]] = (await store.similaritySearchVectorWithScore(
      (
        await embeddings.embedDocuments([added[1]!.pageContent])
      )[0]!,
      1,
    )) as [[Document, number]];
    assert.equal(top.pageContent, added[1]!.pageContent);
    assert.equal(top.id, addedIds[1]);
    const [byWord] = await fulltext.similaritySearch("Rottnest", 1, { "metadata.lang": "en" });
    assert.equal(byWord!.pageContent, added[0]!.pageContent);
    assert.equal(byWord!.id, addedIds[0]);

    // Again, same documents: same ids (content-derived), nothing new stored.
    assert.deepEqual(await store.addDocuments(added), addedIds);
    assert.deepEqual(await store.addDocuments(corpusDocuments()), ids);
    assert.equal(await rowCount(db), rows + 2);

    // Explicit ids win over Document.id; the `source` metadata key is the source column.
    const [explicit] = await store.addDocuments(
      [
        new Document({
          id: "ignored",
          pageContent: "Wombats leave cube-shaped droppings.",
          metadata: { source: "w.md" },
        }),
      ],
      { ids: ["wombat"] },
    );
    assert.equal(explicit, "wombat");
    const [wombat] = await fulltext.similaritySearch("Wombats", 1);
    assert.equal(wombat!.id, "wombat");
    assert.equal(wombat!.metadata.source, "w.md");

    await store.delete({ ids: ["wombat", addedIds[1]!] });
    assert.equal(await rowCount(db), rows + 1);
    const remaining = await fulltext.similaritySearch("Wombats quokka Rottnest", 10);
    assert.deepEqual(
      remaining.map((d) => d.id),
      [addedIds[0]],
    );
    assert.ok(!remaining.some((d) => d.id === "wombat" || d.id === addedIds[1]));
    await store.delete({ filter: { "metadata.lang": "de" } });
    assert.equal(await rowCount(db), rows);
    await embeddings.dispose();
  });

  it("max-marginal-relevance: lambda 1 ranks like similaritySearch; lambda 0 skips an exact duplicate", async () => {
    const db = path.join(tempDir("lance-e5-langchain-"), "db");
    const embeddings = embeddingsOf();
    // Every text twice under two ids: identical vectors, so plain similarity puts each next to its twin.
    const twins = corpusDocuments().flatMap((d) => [d, new Document({ ...d, id: `${d.id}-copy` })]);
    const store = await LanceE5VectorStore.fromDocuments(twins, embeddings, { db });
    const query = "a declaration of rights";
    const similar = await store.similaritySearch(query, 6);
    assert.equal(similar[0]!.pageContent, similar[1]!.pageContent, "the top hit's twin comes second");

    const relevanceOnly = await store.maxMarginalRelevanceSearch(query, { k: 6, fetchK: 20, lambda: 1 });
    assert.deepEqual(
      relevanceOnly.map((d) => d.pageContent),
      similar.map((d) => d.pageContent),
    );
    const diverse = await store
      .asRetriever({ k: 4, searchType: "mmr", searchKwargs: { fetchK: 20, lambda: 0 } })
      .invoke(query);
    assert.equal(diverse.length, 4);
    assert.equal(diverse[0]!.pageContent, similar[0]!.pageContent, "the most relevant hit first");
    assert.equal(new Set(diverse.map((d) => d.pageContent)).size, 4, "no text twice");
    const filtered = await store.maxMarginalRelevanceSearch(query, {
      k: 3,
      fetchK: 10,
      lambda: 0.5,
      filter: { "metadata.lang": "en" },
    });
    assert.ok(filtered.length === 3 && filtered.every((d) => d.metadata.lang === "en"));
    await embeddings.dispose();
  });

  it("bad documents and bad deletes fail with a typed error and leave the table as it was", async () => {
    const db = path.join(tempDir("lance-e5-langchain-"), "db");
    const embeddings = embeddingsOf();
    const store = await LanceE5VectorStore.fromDocuments(corpusDocuments(), embeddings, { db });
    const rows = await rowCount(db);
    const good = new Document({ pageContent: "A perfectly good new document." });
    const cases: Array<[Document[], { ids?: string[] } | undefined, RegExp]> = [
      [[good, new Document({ pageContent: "   " })], undefined, /document 1: pageContent: empty/],
      [[good, new Document({ pageContent: "x", metadata: { source: 7 } })], undefined, /metadata\.source must be/],
      [[good, new Document({ pageContent: "y" })], { ids: ["a", "a"] }, /duplicate id "a"/],
      [[good], { ids: ["a", "b"] }, /2 ids for 1 documents/],
      [[good, new Document({ pageContent: "nul\u0000byte" })], undefined, /NUL/],
    ];
    for (const [documents, options, message] of cases) {
      await assert.rejects(
        store.addDocuments(documents, options),
        (e: unknown) => e instanceof DocumentError && message.test(e.message),
      );
    }
    await assert.rejects(store.delete({ filter: { nope: 1 } }), FilterError);
    await assert.rejects(store.delete({}), (e: unknown) => e instanceof SearchRequestError);
    assert.equal(await rowCount(db), rows);

    // A model that did not build the table cannot write to it either.
    const qwen = new LanceE5Embeddings({ model: TINY_QWEN2, threads: 1 });
    await assert.rejects(new LanceE5VectorStore(qwen, { db }).addDocuments([good]), ModelMismatchError);
    assert.equal(await rowCount(db), rows);
    await Promise.all([qwen.dispose(), embeddings.dispose()]);
  });
});
