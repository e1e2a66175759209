import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { readBible } from "../../src/corpora/bible.ts";
import { readDocs, splitDocSections } from "../../src/corpora/docs.ts";
import { localeToBcp47, readGettext } from "../../src/corpora/gettext.ts";
import { listManPages, readManPages } from "../../src/corpora/man.ts";
import { MoFormatError, parseMo } from "../../src/corpora/mo.ts";
import { defaultCorpusRoots } from "../../src/corpora/roots.ts";
import { readSotu } from "../../src/corpora/sotu.ts";
import { CorpusMissingError } from "../../src/corpora/types.ts";
import { parseDataLine, readWordnet } from "../../src/corpora/wordnet.ts";

// These read the real corpora installed by scripts/setup.d/corpora.sh (apt) and npm ci (SOTU).
const roots = defaultCorpusRoots();
const tmp = mkdtempSync(path.join(os.tmpdir(), "corpora-test-"));

async function first<T>(iterable: AsyncIterable<T>, predicate: (item: T) => boolean): Promise<T | undefined> {
  for await (const item of iterable) if (predicate(item)) return item;
  return undefined;
}

describe("man pages", () => {
  it("renders ls(1) with groff: id, section, NAME summary, DESCRIPTION, OPTIONS", async () => {
    const page = await first(readManPages({ manDir: roots.manDir, include: (id) => id === "1/ls" }), () => true);
    assert.ok(page);
    assert.equal(page.id, "1/ls");
    assert.equal(page.section, "1");
    assert.equal(page.summary, "list directory contents");
    assert.match(page.description.join(" "), /List information about the FILEs/);
    assert.ok(
      page.description.every((p) => !p.includes("\u2010\n")),
      "no hyphenated line breaks",
    );
  });

  it("lists pages with ids <ext>/<name>, sorted and unique", async () => {
    const entries = await listManPages(roots.manDir);
    assert.ok(entries.length > 1000);
    const ids = entries.map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort());
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.includes("2/open") && ids.includes("3/printf"));
  });

  it("reports a missing man directory with a typed error naming the install script", async () => {
    await assert.rejects(listManPages(path.join(tmp, "no-man")), (error: unknown) => {
      assert.ok(error instanceof CorpusMissingError);
      assert.match(error.message, /man.*scripts\/setup\.d\/corpora\.sh/s);
      return true;
    });
  });
});

describe("WordNet", () => {
  it("parses a synset line: words, lexicographer file, definition, examples, pointers", async () => {
    const dog = await first(readWordnet({ wordnetDir: roots.wordnetDir, pos: ["n"] }), (s) => s.id === "n/02084071");
    assert.ok(dog);
    assert.deepEqual(dog.words.slice(0, 2), ["dog", "domestic dog"]);
    assert.equal(dog.lexFile, "noun.animal");
    assert.match(dog.definition, /^a member of the genus Canis/);
    assert.deepEqual(dog.examples, ["the dog barked all night"]);
    assert.ok(dog.pointers.some((p) => p.symbol === "@" && p.target.startsWith("n/")));
  });

  it("strips adjective markers and maps satellites to the adjective file", () => {
    const line = '00001740 00 s 01 able(p) 0 001 & 00001740 a 0000 | having the means; "able to swim"';
    const synset = parseDataLine("a", line);
    assert.ok(synset);
    assert.deepEqual(synset.words, ["able"]);
    assert.equal(synset.pointers[0]?.target, "a/00001740");
    assert.deepEqual(synset.examples, ["able to swim"]);
    assert.equal(synset.definition, "having the means");
  });

  it("reports a missing database", async () => {
    await assert.rejects(
      first(readWordnet({ wordnetDir: tmp }), () => true),
      CorpusMissingError,
    );
  });
});

describe("gettext", () => {
  it("parses .mo files compiled by msgfmt: context, plural, UTF-8, header skipped", () => {
    const po = path.join(tmp, "x.po");
    const mo = path.join(tmp, "x.mo");
    writeFileSync(
      po,
      [
        'msgid ""',
        'msgstr "Content-Type: text/plain; charset=UTF-8\\n"',
        "",
        'msgctxt "menu"',
        'msgid "Open"',
        'msgstr "Öffnen"',
        "",
        'msgid "%d file"',
        'msgid_plural "%d files"',
        'msgstr[0] "%d Datei"',
        'msgstr[1] "%d Dateien"',
        "",
      ].join("\n"),
    );
    execFileSync("msgfmt", ["-o", mo, po]);
    const entries = parseMo(Buffer.from(execFileSync("cat", [mo])));
    assert.deepEqual(entries, [
      { context: undefined, msgid: "%d file", msgidPlural: "%d files", msgstr: ["%d Datei", "%d Dateien"] },
      { context: "menu", msgid: "Open", msgidPlural: undefined, msgstr: ["Öffnen"] },
    ]);
  });

  it("rejects bytes that are not a catalogue", () => {
    assert.throws(() => parseMo(Buffer.alloc(40, 7)), MoFormatError);
    assert.throws(() => parseMo(Buffer.alloc(4)), MoFormatError);
  });

  it("maps locale directory names to BCP-47 tags", () => {
    assert.equal(localeToBcp47("de"), "de");
    assert.equal(localeToBcp47("pt_BR"), "pt-BR");
    assert.equal(localeToBcp47("zh_CN"), "zh-CN");
    assert.equal(localeToBcp47("sr@latin"), "sr-Latn");
    assert.equal(localeToBcp47("uz@cyrillic"), "uz-Cyrl");
    assert.equal(localeToBcp47("zh_Hant"), "zh-Hant");
    assert.equal(localeToBcp47("ca@valencia"), "ca-valencia");
    assert.equal(localeToBcp47("en@quot"), null);
    assert.equal(localeToBcp47("locale.alias"), null);
  });

  it("merges one domain's catalogues: a message with translations in Latin, Cyrillic and CJK scripts", async () => {
    const message = await first(
      readGettext({ localeDir: roots.localeDir, includeDomain: (d) => d === "coreutils" }),
      (m) => m.msgid === "write error",
    );
    assert.ok(message);
    assert.equal(message.domain, "coreutils");
    assert.match(message.id, /^[0-9a-f]{12}$/);
    const scripts = Object.values(message.translations).join(" ");
    assert.match(scripts, /\p{Script=Latin}/u);
    assert.match(scripts, /\p{Script=Cyrillic}/u);
    assert.match(scripts, /\p{Script=Han}/u);
    assert.ok(!Object.keys(message.translations).some((l) => l === "en" || l.startsWith("en-")));
  });
});

describe("Bible", () => {
  it("yields chapters with every verse in KJV, WEB and Reina-Valera, markup and notes removed", async () => {
    const john3 = await first(readBible({ swordDir: roots.swordDir, include: (id) => id === "John.3" }), () => true);
    assert.ok(john3);
    assert.equal(john3.id, "John.3");
    assert.equal(john3.book.testament, "New Testament");
    const v16 = john3.verses.find((v) => v.verse === 16);
    assert.match(v16?.texts.KJV ?? "", /^For God so loved the world/);
    assert.match(v16?.texts.WEB ?? "", /For God so loved the world/);
    assert.match(v16?.texts.RV1909 ?? "", /amó Dios al mundo/);
    for (const verse of john3.verses) for (const text of Object.values(verse.texts)) assert.doesNotMatch(text, /[<>]/);
  });
});

describe("State of the Union", () => {
  it("ids are <year>-<president slug>, chronological, unique", async () => {
    const ids: string[] = [];
    for await (const address of readSotu({ sotuDir: roots.sotuDir })) ids.push(address.id);
    assert.equal(ids[0], "1790-george-washington");
    assert.ok(ids.length >= 230);
    assert.equal(new Set(ids).size, ids.length);
    const washington = await first(readSotu({ sotuDir: roots.sotuDir }), () => true);
    assert.equal(washington?.party, "no party");
    assert.match(washington?.text ?? "", /^Fellow-Citizens of the Senate/);
  });

  it("reports a missing data set", async () => {
    await assert.rejects(
      first(readSotu({ sotuDir: path.join(tmp, "none") }), () => true),
      CorpusMissingError,
    );
  });
});

describe("package documentation", () => {
  it("splits Markdown, setext and all-caps headings; short sections are dropped", () => {
    const body = "This paragraph explains the feature in enough words to count as a section body. ".repeat(3);
    const sections = splitDocSections(`# Title\n${body}\nUsage\n=====\n${body}\nNOTES\n${body}\n## Tiny\nshort\n`);
    assert.deepEqual(
      sections.map((s) => s.heading),
      ["Title", "Usage", "NOTES"],
    );
  });

  it("reads README files under /usr/share/doc with ids <package>/<file>", async () => {
    const doc = await first(readDocs({ docDir: roots.docDir }), () => true);
    assert.ok(doc);
    assert.match(doc.id, /^[^/]+\/[^/]+$/);
    assert.ok(doc.sections.length > 0);
    assert.ok((await readFile(path.join(roots.docDir, doc.id))).length > 0);
  });
});
