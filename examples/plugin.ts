/**
 * A plain LanceDB program: only @lancedb/lancedb and the lance-e5 plugin. Importing the plugin registers the
 * `lance-e5` embedding function, so a table made by `lance-e5 ingest` embeds text by itself — documents on
 * `add` (no instruction), queries on `search` (with the table's task instruction).
 *
 *   npm run quickstart                                   # makes ./data/lancedb table "docs"
 *   node --import tsx examples/plugin.ts "what did presidents say about space?"
 *   node --import tsx examples/plugin.ts --add "The moon landing of 1969 was watched by millions." "moon landing"
 *
 * The model comes from LANCE_E5_MODEL (else the shipped default) and must be the one that built the table.
 */
import * as lancedb from "@lancedb/lancedb";
import "lance-e5/plugins/lancedb";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
};
const db = flag("--db") ?? "./data/lancedb";
const tableName = flag("--table") ?? "docs";
const added = flag("--add");
const k = Number(flag("--k") ?? 5);
const json = args.includes("--json");
if (json) args.splice(args.indexOf("--json"), 1);
const query = args.join(" ") || "What did the president say about freedom?";

const table = await (await lancedb.connect(db)).openTable(tableName);
if (added !== undefined) await table.add([{ text: added }]); // embedded by the plugin, as a document

const hits = await table.search(query, "vector").limit(k).select(["id", "text", "source", "_distance"]).toArray();
if (json) {
  process.stdout.write(`${JSON.stringify(hits.map((h) => ({ id: h.id, text: h.text, distance: h._distance })))}\n`);
} else {
  console.log(`query: ${query}`);
  hits.forEach((h, i) => {
    console.log(`${i + 1}. [${h.source ?? "added"}] (${h._distance.toFixed(3)}) ${String(h.text).slice(0, 100)}…`);
  });
}
