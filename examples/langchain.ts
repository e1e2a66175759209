/**
 * lance-e5 from LangChain.js: a vector store over a lance-e5 table, used through LangChain's own interfaces
 * (Documents in, a retriever out). Only public imports: @langchain/core and lance-e5/plugins/langchain.
 *
 *   node --import tsx examples/langchain.ts "Which animal lives on Rottnest Island?"
 *   node --import tsx examples/langchain.ts --existing --table docs "what did presidents say about space?"
 *
 * Without --existing it stores a few documents in table "langchain_demo" (again on every run: nothing is
 * re-embedded, ids are stable) and searches them; with --existing it searches a table made by `lance-e5 ingest`
 * (e.g. `npm run quickstart`). The model comes from LANCE_E5_MODEL, else the shipped default. The shipped model
 * is small and weak on its own, so this searches in hybrid mode (vector + BM25, fused by rank).
 */
import { Document } from "@langchain/core/documents";
import { LanceE5Embeddings, LanceE5VectorStore } from "lance-e5/plugins/langchain";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
};
const has = (name: string): boolean => {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
};
const db = flag("--db") ?? "./data/lancedb";
const existing = has("--existing");
const table = flag("--table") ?? (existing ? "docs" : "langchain_demo");
const lang = flag("--lang"); // filter on metadata.lang (demo documents carry one)
const k = Number(flag("--k") ?? 3);
const json = has("--json");
const query = args.join(" ") || "Which animal lives on Rottnest Island?";

const DEMO = [
  ["The quokka is a small marsupial that lives on Rottnest Island, off Western Australia.", "en", "animals"],
  ["Der Quokka ist ein kleines Beuteltier, das auf der Insel Rottnest lebt.", "de", "animals"],
  ["Wombats are burrowing marsupials whose droppings are cube-shaped.", "en", "animals"],
  ["The Gettysburg Address was delivered by Abraham Lincoln in November 1863.", "en", "history"],
  ["La Marseillaise fut écrite en 1792 par Rouget de Lisle à Strasbourg.", "fr", "history"],
  ["LanceDB stores vectors and their rows in the Lance columnar format.", "en", "software"],
] as const;

// Queries get the task instruction ("Instruct: …\nQuery: …"), documents are embedded as they are.
const embeddings = new LanceE5Embeddings({ task: "web_search" });
try {
  let ids: string[] = [];
  let store: LanceE5VectorStore;
  if (existing) {
    store = await LanceE5VectorStore.fromExistingTable(embeddings, { db, table, mode: "hybrid" });
  } else {
    store = new LanceE5VectorStore(embeddings, { db, table, mode: "hybrid" });
    const documents = DEMO.map(
      ([pageContent, language, topic]) => new Document({ pageContent, metadata: { lang: language, topic } }),
    );
    ids = await store.addDocuments(documents); // idempotent: a second run stores and embeds nothing
  }

  // A LangChain retriever; the filter is lance-e5's JSON filter language (never SQL).
  const filter = lang === undefined ? undefined : { "metadata.lang": lang };
  const retriever = store.asRetriever({ k, filter });
  const hits = await retriever.invoke(query);

  if (json) {
    const out = hits.map((d) => ({ id: d.id, text: d.pageContent, metadata: d.metadata }));
    process.stdout.write(`${JSON.stringify({ table, added: ids, hits: out })}\n`);
  } else {
    console.log(`query: ${query}${filter ? `  (filter ${JSON.stringify(filter)})` : ""}`);
    for (const [i, d] of hits.entries()) {
      const where = d.metadata.title ?? d.metadata.topic ?? d.metadata.source;
      console.log(`${i + 1}. [${where}] ${d.pageContent.replace(/\s+/g, " ").slice(0, 120)}`);
    }
  }
} catch (error) {
  // lance-e5's errors say what is wrong (no such table, another model built it, a bad filter): show just that.
  console.error(`error: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await embeddings.dispose();
}
