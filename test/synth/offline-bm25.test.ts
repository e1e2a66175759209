import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Bm25Index, queryTerms } from "../../src/synth/bm25.ts";

describe("Bm25Index (LanceDB full-text search over a temporary table)", () => {
  const rows = [
    { key: "ls", text: "list directory contents sorted by name", group: "1" },
    { key: "dir", text: "list directory contents in columns", group: "1" },
    { key: "opendir", text: "open a directory stream", group: "3" },
    { key: "cat", text: "concatenate files and print on the standard output", group: "1" },
  ];

  it("returns the best-ranked document that is not excluded (the positive), best first", async () => {
    const index = await Bm25Index.build(rows);
    try {
      assert.deepEqual(await index.nearest("list directory contents", (key) => key === "ls"), ["dir"]);
      assert.deepEqual(await index.nearest("list directory contents", (key) => key === "dir", { limit: 2 }), [
        "ls",
        "opendir",
      ]);
      // Restricting to a group (e.g. a different label) keeps only that partition.
      assert.deepEqual(await index.nearest("directory", () => false, { group: "3" }), ["opendir"]);
      // Nothing shares a term: no negative rather than a random one.
      assert.deepEqual(await index.nearest("zebra", () => false), []);
    } finally {
      await index.close();
    }
  });

  it("an empty pool gives no neighbours", async () => {
    const index = await Bm25Index.build([]);
    assert.deepEqual(await index.nearest("anything", () => false), []);
    await index.close();
  });

  it("reduces queries to plain terms so text is never parsed as query syntax", () => {
    assert.equal(queryTerms('He said: "AND (OR) NOT" -x +y title:z'), "he said and or not title");
    assert.equal(queryTerms("打开 文件"), "打开 文件");
  });
});
