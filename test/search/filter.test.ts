import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { arrow } from "../../src/lancedb/arrow.ts";
import { buildTableSchema } from "../../src/lancedb/schema.ts";
import { FilterError } from "../../src/search/errors.ts";
import { compileFilter, type FilterFields, filterFieldsOfSchema } from "../../src/search/filter.ts";

/**
 * The filter compiler against a real LanceDB table with the lance-e5 schema: every hostile value must match
 * exactly the rows whose field equals it in JavaScript (so nothing in a value escaped its literal), and hostile
 * names/operators must be refused before any SQL exists.
 */

const NASTY = [
  "a'b",
  "a''b",
  "'",
  "' OR 1=1 --",
  "x' OR '1'='1",
  "a\\b",
  "a\\'b",
  "`source`",
  "`x` --y",
  "-- comment",
  "/* c */",
  "; DROP TABLE docs; --",
  'double"quote',
  "line\nbreak",
  "tab\there",
  "100%_match",
  "ünïcödé ✓ 日本語 🎉",
  "$in",
  "",
];

const lanceE5Schema = buildTableSchema({
  identity: { name: "filter-test", hash: "0".repeat(64), dim: 3 },
  defaultTask: "web_search",
  metadataFields: [
    { name: "lang", type: "utf8" },
    { name: "year", type: "float64" },
    { name: "ok", type: "bool" },
  ],
});
// Without the embedding-registry entry: this test writes vectors itself and has no plugin registered.
const schema = new arrow.Schema(
  lanceE5Schema.fields,
  new Map([...lanceE5Schema.metadata].filter(([key]) => key !== "embedding_functions")),
);
const fields = filterFieldsOfSchema(schema);

interface Row {
  id: string;
  source: string | null;
  title: string | null;
  doc_id: string;
  lang: string | null;
  year: number | null;
  ok: boolean | null;
}

const rows: Row[] = [
  ...NASTY.map((s, i) => ({
    id: `n${i}`,
    source: s,
    title: `t${i}`,
    doc_id: `d${i}`,
    lang: i % 2 ? "en" : "de",
    year: 1990 + i,
    ok: i % 3 === 0,
  })),
  { id: "plain", source: "a", title: null, doc_id: "dp", lang: null, year: null, ok: null },
  { id: "big", source: "b", title: "Intro to X", doc_id: "db", lang: "fr", year: 1e21, ok: true },
];

let dir: string;
let table: lancedb.Table;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lance-e5-filter-"));
  const db = await lancedb.connect(dir);
  const data = rows.map((r, i) => ({
    id: r.id,
    doc_id: r.doc_id,
    source: r.source,
    title: r.title,
    text: `text ${i}`,
    chunk_index: i % 4,
    char_start: 0,
    char_end: 6,
    parent_id: null,
    metadata: { format: "document", extra: null, lang: r.lang, ok: r.ok, year: r.year },
    vector: [1, 0, 0],
  }));
  table = await db.createTable("t", data, { schema });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function ids(filter: unknown): Promise<string[]> {
  const where = compileFilter(filter, fields);
  const q = table.query().select(["id"]);
  const result = await (where ? q.where(where) : q).toArray();
  return result.map((r) => String(r.id)).sort();
}

function expected(pred: (r: Row) => boolean): string[] {
  return rows
    .filter(pred)
    .map((r) => r.id)
    .sort();
}

describe("filter → LanceDB predicate", () => {
  test("fields come from the table schema (fixed columns + scalar metadata children, not extra)", () => {
    assert.deepEqual([...fields].sort(), [
      ["chunk_index", "number"],
      ["doc_id", "string"],
      ["metadata.format", "string"],
      ["metadata.lang", "string"],
      ["metadata.ok", "boolean"],
      ["metadata.year", "number"],
      ["source", "string"],
      ["title", "string"],
    ]);
  });

  test("absent or empty filter is no predicate", () => {
    assert.equal(compileFilter(undefined, fields), undefined);
    assert.equal(compileFilter({}, fields), undefined);
  });

  test("each hostile string matches exactly itself: equality, $in, $nin, $prefix", async () => {
    for (const value of NASTY) {
      assert.deepEqual(
        await ids({ source: value }),
        expected((r) => r.source === value),
        `eq ${JSON.stringify(value)}`,
      );
      assert.deepEqual(
        await ids({ source: { $in: [value, "a"] } }),
        expected((r) => r.source === value || r.source === "a"),
      );
      assert.deepEqual(
        await ids({ source: { $nin: [value] } }),
        expected((r) => r.source !== null && r.source !== value),
        `nin ${JSON.stringify(value)}`,
      );
      assert.deepEqual(
        await ids({ source: { $prefix: value } }),
        expected((r) => r.source?.startsWith(value) === true),
        `prefix ${JSON.stringify(value)}`,
      );
    }
  });

  test("the emitted SQL keeps values inside literals", () => {
    assert.equal(compileFilter({ source: "' OR 1=1 --" }, fields), "`source` = ''' OR 1=1 --'");
    assert.equal(compileFilter({ "metadata.lang": "en" }, fields), "`metadata`.`lang` = 'en'");
  });

  test("metadata fields, comparisons, null, booleans", async () => {
    assert.deepEqual(
      await ids({ "metadata.lang": "en" }),
      expected((r) => r.lang === "en"),
    );
    assert.deepEqual(
      await ids({ "metadata.year": { $gte: 2000, $lt: 2005 } }),
      expected((r) => r.year !== null && r.year >= 2000 && r.year < 2005),
    );
    assert.deepEqual(await ids({ "metadata.year": { $gt: 1e20 } }), ["big"]);
    assert.deepEqual(await ids({ "metadata.year": { $lte: 1990.5 } }), ["n0"]);
    assert.deepEqual(await ids({ title: null }), ["plain"]);
    assert.deepEqual(
      await ids({ title: { $ne: null } }),
      expected((r) => r.title !== null),
    );
    assert.deepEqual(
      await ids({ "metadata.ok": true }),
      expected((r) => r.ok === true),
    );
    assert.deepEqual(
      await ids({ "metadata.ok": { $ne: true } }),
      expected((r) => r.ok === false),
    );
    assert.deepEqual(await ids({ title: { $prefix: "Intro" } }), ["big"]);
    assert.deepEqual(
      await ids({ chunk_index: 3 }),
      rows
        .filter((_r, i) => i % 4 === 3)
        .map((r) => r.id)
        .sort(),
    );
  });

  test("$and, $or, $not and implicit AND", async () => {
    assert.deepEqual(
      await ids({ $or: [{ source: "a" }, { source: "b" }] }),
      expected((r) => r.source === "a" || r.source === "b"),
    );
    assert.deepEqual(
      await ids({ $and: [{ "metadata.lang": "en" }, { "metadata.ok": true }] }),
      expected((r) => r.lang === "en" && r.ok === true),
    );
    assert.deepEqual(
      await ids({ "metadata.lang": "en", "metadata.ok": true }),
      expected((r) => r.lang === "en" && r.ok === true),
    );
    assert.deepEqual(
      await ids({ $not: { "metadata.lang": "en" } }),
      expected((r) => r.lang !== null && r.lang !== "en"),
    );
    assert.deepEqual(
      await ids({ $or: [{ $and: [{ source: "a'b" }, { "metadata.lang": "de" }] }, { title: { $prefix: "Intro" } }] }),
      expected((r) => (r.source === "a'b" && r.lang === "de") || r.title === "Intro to X"),
    );
  });
});

function rejects(filter: unknown, reason: FilterError["reason"], mentions: string): void {
  assert.throws(
    () => compileFilter(filter, fields as FilterFields),
    (error: unknown) => {
      assert.ok(error instanceof FilterError, `expected FilterError, got ${error}`);
      assert.equal(error.reason, reason);
      assert.ok(error.message.includes(mentions), `"${error.message}" should mention ${mentions}`);
      return true;
    },
  );
}

describe("filter refusals", () => {
  test("raw SQL and non-objects are refused", () => {
    rejects("source = 'a' OR 1=1", "invalid_filter", "JSON object");
    rejects(["source", "a"], "invalid_filter", "JSON object");
    rejects(42, "invalid_filter", "JSON object");
  });

  test("unknown fields, including SQL smuggled into names, are named", () => {
    rejects({ text: "x" }, "unknown_field", '"text"');
    rejects({ "source = 'x' OR 1=1 --": "a" }, "unknown_field", "OR 1=1");
    rejects({ "metadata.lang` = 'en' OR `x": "a" }, "unknown_field", "metadata.lang`");
    rejects({ "metadata.extra": "{}" }, "unknown_field", "metadata.extra");
    rejects({ "metadata.nope": 1 }, "unknown_field", "metadata.nope");
    rejects({ $or: [{ source: "a" }, { vector: 1 }] }, "unknown_field", '"vector"');
  });

  test("unknown operators are named, at field and condition level", () => {
    rejects({ source: { $regex: ".*" } }, "unknown_operator", "$regex");
    rejects({ source: { $like: "%" } }, "unknown_operator", "$like");
    rejects({ $where: "1=1" }, "unknown_operator", "$where");
    rejects({ $and: [{ $sql: "1=1" }] }, "unknown_operator", "$sql");
  });

  test("values of the wrong type or shape", () => {
    rejects({ "metadata.year": "2001" }, "invalid_value", "metadata.year");
    rejects({ "metadata.year": "1 OR 1=1" }, "invalid_value", "numbers");
    rejects({ source: 1 }, "invalid_value", "strings");
    rejects({ source: ["a", "b"] }, "invalid_value", "$in");
    rejects({ source: { $in: [] } }, "invalid_value", "non-empty");
    rejects({ source: { $in: "a" } }, "invalid_value", "non-empty");
    rejects({ source: { $in: ["a", 2] } }, "invalid_value", "/source/$in/1");
    rejects({ "metadata.year": { $prefix: "19" } }, "invalid_value", "$prefix");
    rejects({ "metadata.ok": { $gt: true } }, "invalid_value", "booleans");
    rejects({ source: { $gt: null } }, "invalid_value", "null");
    rejects({ source: { a: 1 } }, "unknown_operator", '"a"');
    rejects({ source: {} }, "invalid_filter", "no operator");
    rejects({ $and: [] }, "invalid_value", "non-empty");
    rejects({ $or: [{}] }, "invalid_filter", "empty");
    rejects({ source: "a\u0000b" }, "invalid_value", "NUL");
    rejects({ source: "a\ud800b" }, "invalid_value", "surrogate");
    rejects({ source: "x".repeat(5000) }, "invalid_value", "longer");
  });

  test("numbers must be finite; nesting is bounded", () => {
    rejects({ "metadata.year": Number.NaN }, "invalid_value", "finite");
    rejects({ "metadata.year": Number.POSITIVE_INFINITY }, "invalid_value", "finite");
    let deep: unknown = { source: "a" };
    for (let i = 0; i < 40; i++) deep = { $not: deep };
    rejects(deep, "invalid_filter", "deeper");
  });
});
