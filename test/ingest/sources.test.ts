import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { parseSource } from "../../src/ingest/parse.ts";
import { listSources } from "../../src/ingest/sources.ts";
import { isCommitConflict, withCommitRetries } from "../../src/lancedb/retry.ts";
import { tempDir } from "./helpers.ts";

describe("listSources", () => {
  it("gives canonical ids relative to the folder / glob base / --root, walks only text extensions, skips dotfiles", async () => {
    const root = tempDir();
    const docs = path.join(root, "docs");
    mkdirSync(path.join(docs, "guide", ".hidden"), { recursive: true });
    for (const name of [
      "a.md",
      "guide/b.txt",
      "guide/c.html",
      "guide/d.jsonl",
      "image.png",
      ".secret.md",
      "guide/.hidden/e.md",
    ]) {
      writeFileSync(path.join(docs, name), "text");
    }
    const folder = await listSources([docs]);
    assert.deepEqual(
      folder.files.map((f) => f.sourceId),
      ["a.md", "guide/b.txt", "guide/c.html", "guide/d.jsonl"],
    );
    assert.deepEqual(folder.failures, []);

    const globbed = await listSources([path.join(docs, "guide", "*.{txt,html}")]);
    assert.deepEqual(
      globbed.files.map((f) => f.sourceId),
      ["b.txt", "c.html"],
    );
    const explicit = await listSources([path.join(docs, "image.png"), path.join(docs, "guide", "b.txt")], root);
    assert.deepEqual(
      explicit.files.map((f) => f.sourceId),
      ["docs/image.png", "docs/guide/b.txt"],
    );
  });

  it("reports missing paths, empty globs and clashing source ids as failures, and stdin as a flag", async () => {
    const root = tempDir();
    mkdirSync(path.join(root, "one"));
    mkdirSync(path.join(root, "two"));
    writeFileSync(path.join(root, "one", "same.txt"), "1");
    writeFileSync(path.join(root, "two", "same.txt"), "2");
    const listed = await listSources([
      path.join(root, "one"),
      path.join(root, "two"),
      path.join(root, "nope.txt"),
      path.join(root, "*.none"),
      "-",
    ]);
    assert.equal(listed.stdin, true);
    assert.deepEqual(
      listed.files.map((f) => f.sourceId),
      ["same.txt"],
    );
    assert.deepEqual(
      listed.failures.map((f) => f.reason.split(" (")[0]),
      ["duplicate source id", "not found", "glob matched no files"],
    );
  });
});

describe("parseSource", () => {
  it("reads Markdown and HTML titles and converts HTML to text", () => {
    const md = parseSource("notes/a.md", "\ufeff# The Title\n\nBody text.");
    assert.equal(md.documents[0]!.title, "The Title");
    assert.equal(md.documents[0]!.text, "# The Title\n\nBody text.", "BOM dropped, text otherwise unchanged");
    const html = parseSource(
      "page.html",
      "<html><head><title>Page &amp; Co</title><style>p{}</style></head><body><h1>Head</h1><p>One <a href='x'>link</a>.</p><script>evil()</script></body></html>",
    );
    const doc = html.documents[0]!;
    assert.equal(doc.title, "Page & Co");
    assert.match(doc.text, /One link\./);
    assert.doesNotMatch(doc.text, /evil|p\{\}|href/);
    assert.deepEqual(doc.metadata, { format: "html" });
  });

  it("joins BEIR title and text with a newline, and honours JSONL field options", () => {
    const beir = parseSource(
      "scifact/corpus.jsonl",
      `${JSON.stringify({ _id: "d1", title: "Title", text: "Body" })}\n${JSON.stringify({ _id: 7, title: "", text: "No title" })}\n`,
    );
    assert.deepEqual(
      beir.documents.map((d) => [d.id, d.text, d.title]),
      [
        ["d1", "Title\nBody", "Title"],
        ["7", "No title", undefined],
      ],
    );
    const jsonl = parseSource(
      "x.jsonl",
      `${JSON.stringify({ uid: "u1", body: "Hello", heading: "H", metadata: { lang: "en", format: "spoofed" } })}\n\n${JSON.stringify({ body: "No id" })}\n`,
      { textField: "body", idField: "uid", titleField: "heading" },
    );
    assert.deepEqual(
      jsonl.documents.map((d) => [d.id, d.text, d.title, d.metadata]),
      [
        ["u1", "Hello", "H", { lang: "en", format: "jsonl" }],
        ["x.jsonl#3", "No id", undefined, { format: "jsonl" }],
      ],
    );
  });
});

describe("withCommitRetries", () => {
  it("retries commit conflicts and rethrows anything else at once", async () => {
    let calls = 0;
    const value = await withCommitRetries(
      async () => {
        calls++;
        if (calls < 3) throw new Error("Retryable commit conflict for version 4: another writer committed first");
        return "done";
      },
      { baseDelayMs: 1 },
    );
    assert.equal(value, "done");
    assert.equal(calls, 3);

    let other = 0;
    await assert.rejects(
      withCommitRetries(async () => {
        other++;
        throw new Error("schema mismatch");
      }),
      /schema mismatch/,
    );
    assert.equal(other, 1);
    assert.ok(isCommitConflict(new Error("Commit conflict for version 12")));
    assert.ok(!isCommitConflict(new Error("Table already exists")));
  });

  it("gives up after the attempt limit with the last error", async () => {
    let calls = 0;
    await assert.rejects(
      withCommitRetries(
        async () => {
          calls++;
          throw new Error("Commit conflict for version 1");
        },
        { attempts: 4, baseDelayMs: 1 },
      ),
      /Commit conflict/,
    );
    assert.equal(calls, 4);
  });
});
