import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { GettextMessage } from "../../src/corpora/gettext.ts";
import type { ManPage } from "../../src/corpora/man.ts";
import type { SotuAddress } from "../../src/corpora/sotu.ts";
import type { Synset } from "../../src/corpora/wordnet.ts";
import { HELD_OUT_PERCENT, isHeldOut } from "../../src/data/split.ts";
import { loadBeirDataset } from "../../src/eval/beir.ts";
import { writeBeirBenchmark } from "../../src/eval/benchmarks/beir-writer.ts";
import {
  bitextRetrievalBenchmark,
  buildGettextBitext,
  buildManBenchmark,
  buildSotuBenchmark,
  buildWordnetBenchmark,
  cleanUiString,
  isStubManPage,
  MAN_BENCHMARK_FAMILY_CAP,
  manPageFamily,
} from "../../src/eval/benchmarks/visible.ts";
import { MAN_FAMILY_CAP, manFamily } from "../../src/synth/offline/man.ts";
import { tempDir } from "./helpers.ts";

/** `count` ids of the form prefix+n on the wanted side of the shared held-out rule. */
function idsOnSide(corpus: string, prefix: string, heldOut: boolean, count: number): string[] {
  const ids: string[] = [];
  for (let n = 0; ids.length < count; n++)
    if (isHeldOut(corpus, `${prefix}${n}`) === heldOut) ids.push(`${prefix}${n}`);
  return ids;
}

const manPage = (id: string, summary: string, description: string): ManPage => ({
  corpus: "man",
  id,
  ext: "1",
  section: "1",
  name: id.slice(2),
  summary,
  description: [description],
  options: [],
});

describe("visible benchmark builders keep only held-out documents", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it("man: summary → description, training-side pages and duplicate descriptions dropped", async () => {
    const held = idsOnSide("man", "1/cmd", true, 3);
    const trained = idsOnSide("man", "1/cmd", false, 2);
    const ls = "List information about the FILEs (the current directory by default), sorted alphabetically.";
    const benchmark = await buildManBenchmark([
      manPage(held[0]!, "list directory contents", ls),
      manPage(trained[0]!, "copy files", "Copy SOURCE to DEST, or multiple SOURCE(s) to DIRECTORY, keeping modes."),
      manPage(held[1]!, "alias of the first", ls),
      manPage(
        held[2]!,
        "remove files",
        "rm removes each specified file. By default, it does not remove directories or their contents.",
      ),
      manPage(trained[1]!, "move files", "Rename SOURCE to DEST, or move SOURCE(s) to DIRECTORY, across filesystems."),
    ]);
    assert.deepEqual(benchmark.corpus.map((d) => d.id).sort(), [held[0]!, held[2]!].sort());
    assert.deepEqual(benchmark.queries.find((q) => q.id === held[0])?.text, "list directory contents");
    assert.deepEqual(
      benchmark.qrels.find(([q]) => q === held[2]),
      [held[2], held[2], 1],
    );

    // Round trip through the BEIR writer and the loader `lance-e5 eval` uses.
    await writeBeirBenchmark(path.join(dir, "man"), benchmark);
    const loaded = await loadBeirDataset(path.join(dir, "man"));
    assert.equal(loaded.corpus.length, 2);
    assert.equal(loaded.qrels.get(held[2]!)?.get(held[2]!), 1);
  });

  it("man: stub pages (description restates the summary) are dropped unless keepStubs", async () => {
    const [stub, real] = idsOnSide("man", "1/tool", true, 2);
    const pages = [
      manPage(stub!, "create a new access level", "Create a new access level in a given access policy."),
      manPage(
        real!,
        "compute checksums",
        "Print or verify checksums. By default use the 32 bit CRC algorithm and read standard input.",
      ),
    ];
    assert.equal(isStubManPage("update a domain mapping", "Updates a domain mapping."), true);
    assert.equal(
      isStubManPage("list nodes", "List nodes of a cluster. The nodes are listed with their state, zone and size."),
      true, // restates the summary with fewer than 80 characters added
    );
    assert.deepEqual(
      (await buildManBenchmark(pages)).corpus.map((d) => d.id),
      [real],
    );
    assert.deepEqual(
      (await buildManBenchmark(pages, { keepStubs: true })).corpus.map((d) => d.id).sort(),
      [stub, real].sort(),
    );
  });

  it("man: each command family is capped; the cap matches the generator's share of held-out pages", async () => {
    const description = (n: number) =>
      `Page ${n} of a large command family, documenting a subcommand with enough words to not be a stub page.`;
    const family = idsOnSide("man", "1/gcloud_sub", true, 7).map((id, n) =>
      manPage(id, `subcommand ${n}`, description(n)),
    );
    const [other] = idsOnSide("man", "1/ls", true, 1);
    const pages = [...family, manPage(other!, "list directory contents", description(99))];
    const capped = await buildManBenchmark(pages, { familyCap: 3 });
    assert.equal(capped.corpus.filter((d) => d.id.startsWith("1/gcloud_sub")).length, 3);
    assert.ok(capped.corpus.some((d) => d.id === other));
    assert.deepEqual(capped.queries.map((q) => q.id).sort(), capped.corpus.map((d) => d.id).sort());
    // Deterministic: the same pages survive whatever the input order.
    const reversed = await buildManBenchmark([...pages].reverse(), { familyCap: 3 });
    assert.deepEqual(reversed.corpus.map((d) => d.id).sort(), capped.corpus.map((d) => d.id).sort());
    assert.equal((await buildManBenchmark(pages, { familyCap: Number.POSITIVE_INFINITY })).corpus.length, 8);

    // Same family rule and the same share as the offline generator's cap over all pages.
    for (const name of ["gcloud_alpha_compute", "git-grep", "pg_dump", "EVP_DigestInit.3ssl", "ls", "x86:io"]) {
      assert.equal(manPageFamily(name), manFamily(name));
    }
    assert.equal(MAN_BENCHMARK_FAMILY_CAP, (MAN_FAMILY_CAP * HELD_OUT_PERCENT) / 100);
  });

  it("wordnet: definition → words; synsets with the same words share one document", async () => {
    const held = idsOnSide("wordnet", "n/0", true, 3);
    const trained = idsOnSide("wordnet", "n/0", false, 1);
    const synset = (id: string, words: string[], definition: string): Synset => ({
      corpus: "wordnet",
      id,
      pos: "n",
      lexFile: "noun.animal",
      words,
      definition,
      examples: [],
      pointers: [],
    });
    const benchmark = await buildWordnetBenchmark([
      synset(held[0]!, ["bank"], "sloping land beside a body of water"),
      synset(held[1]!, ["bank"], "a financial institution"),
      synset(trained[0]!, ["dog", "domestic dog"], "a member of the genus Canis"),
      synset(held[2]!, ["cat", "true cat"], "feline mammal"),
    ]);
    assert.deepEqual(
      benchmark.corpus.map((d) => d.text),
      ["bank", "cat, true cat"],
    );
    assert.equal(benchmark.queries.length, 3);
    const bankDoc = benchmark.corpus[0]!.id;
    assert.deepEqual(
      benchmark.qrels.filter(([, doc]) => doc === bankDoc).map(([q]) => q),
      [held[0], held[1]],
    );
  });

  it("sotu: passages are cut out of the address they are judged against", async () => {
    const [held] = idsOnSide("sotu", "1800-president-", true, 1);
    const [trained] = idsOnSide("sotu", "1800-president-", false, 1);
    const text = Array.from({ length: 60 }, (_, i) => `Sentence number ${i} of the address.`).join(" ");
    const address = (id: string): SotuAddress => ({
      corpus: "sotu",
      id,
      year: 1800,
      president: "A President",
      party: "Federalist",
      text,
    });
    const benchmark = await buildSotuBenchmark([address(held!), address(trained!)], {
      passagesPerAddress: 2,
      sentencesPerPassage: 3,
    });
    assert.equal(benchmark.corpus.length, 1);
    assert.equal(benchmark.queries.length, 2);
    const doc = benchmark.corpus[0]!;
    for (const query of benchmark.queries) {
      assert.equal(query.text.split(". ").length, 3);
      assert.ok(!doc.text.includes(query.text), "the passage must not remain in the document");
      assert.ok(text.includes(query.text));
    }
    assert.equal(doc.text.split(". ").length, 60 - 6);
  });

  it("gettext bitext: held-out, cleaned, unambiguous pairs per language", async () => {
    const held = idsOnSide("gettext", "m", true, 5);
    const [trained] = idsOnSide("gettext", "m", false, 1);
    const message = (id: string, msgid: string, translations: Record<string, string>): GettextMessage => ({
      corpus: "gettext",
      id,
      domain: "demo",
      msgid,
      translations,
    });
    const byLanguage = await buildGettextBitext(
      [
        message(held[0]!, "Save the _current file as…", {
          de: "_Aktuelle Datei speichern unter…",
          ru: "Сохранить файл",
        }),
        message(trained!, "Print the whole document", { de: "Das ganze Dokument drucken" }),
        message(held[1]!, "Open", { de: "Öffnen" }), // too short: ambiguous
        message(held[2]!, "Could not open %s for reading", { de: "Konnte %s nicht öffnen" }), // format directive
        message(held[3]!, "Close all open windows", { de: "Alle Fenster schließen" }),
        message(held[4]!, "Close every open window", { de: "Alle Fenster schließen" }), // duplicate xx text
      ],
      { languages: ["de", "ru"] },
    );
    assert.deepEqual(byLanguage.get("de"), [{ en: "Save the current file as", xx: "Aktuelle Datei speichern unter" }]);
    assert.deepEqual(byLanguage.get("ru"), [{ en: "Save the current file as", xx: "Сохранить файл" }]);
  });

  it("bitext as retrieval: English message -> its translation, read back by lance-e5 eval's BEIR loader", async () => {
    const pairs = [
      { en: "Save the current file as", xx: "Aktuelle Datei speichern unter" },
      { en: "Close all open windows", xx: "Alle Fenster schließen" },
    ];
    const target = path.join(dir, "bitext-retrieval", "de");
    await writeBeirBenchmark(target, bitextRetrievalBenchmark(pairs));
    const dataset = await loadBeirDataset(target);
    assert.deepEqual(
      dataset.queries.map((q) => q.text),
      pairs.map((p) => p.en),
    );
    assert.deepEqual(
      dataset.corpus.map((d) => d.text),
      pairs.map((p) => p.xx),
    );
    // Each English message has exactly its own translation as the relevant document.
    for (const [i, query] of dataset.queries.entries()) {
      assert.deepEqual([...(dataset.qrels.get(query.id)?.entries() ?? [])], [[dataset.corpus[i]?.id, 1]]);
    }
  });

  it("cleanUiString keeps identifiers, drops accelerators and markup", () => {
    assert.equal(cleanUiString("Save _As…"), "Save As");
    assert.equal(cleanUiString("_Datei (_F)"), "Datei");
    assert.equal(
      cleanUiString("defaults to gtk_window_get_default_icon_list()"),
      "defaults to gtk_window_get_default_icon_list()",
    );
    assert.equal(cleanUiString("<b>Bold</b> text"), null);
  });
});
