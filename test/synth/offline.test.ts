import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { before, describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { CorpusMissingError } from "../../src/corpora/types.ts";
import { isHeldOut } from "../../src/data/split.ts";
import {
  generateOffline,
  OfflineOptionsError,
  type OfflineSummary,
  planQuotas,
  type SynthExample,
  TASK_FAMILIES,
  writeOffline,
} from "../../src/synth/offline/index.ts";

// One small dataset from every corpus that scripts/setup.d/corpora.sh installs (~30-50 s on 2 busy cores).
const tmp = mkdtempSync(path.join(os.tmpdir(), "offline-test-"));
const out = path.join(tmp, "offline.jsonl");
const schema = JSON.parse(readFileSync(new URL("../../schemas/synth-example.schema.json", import.meta.url), "utf8"));
let examples: SynthExample[] = [];
let summary: OfflineSummary;
const progress: string[] = [];

describe("offline generator: a dataset from all six corpora", () => {
  before(async () => {
    summary = await writeOffline({
      count: 320,
      seed: 11,
      out,
      onProgress: (p) => progress.push(`${p.phase}:${p.source}`),
    });
    examples = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as SynthExample);
  });

  it("writes exactly the requested count, and the summary agrees with the file", () => {
    assert.equal(examples.length, 320);
    assert.equal(summary.written, 320);
    assert.equal(
      Object.values(summary.perFamily).reduce((a, b) => a + b, 0),
      320,
    );
    assert.ok(!existsSync(`${out}.partial`));
  });

  it("every line validates against schemas/synth-example.schema.json", () => {
    const validate = new Ajv2020({ strict: true }).compile(schema);
    for (const example of examples) assert.ok(validate(example), JSON.stringify(validate.errors));
  });

  it("every task family is present, from the corpora that can build it", () => {
    const families = new Set(examples.map((e) => e.task_family));
    assert.deepEqual([...families].sort(), [...TASK_FAMILIES].sort());
    const sources = new Set(examples.map((e) => e.source));
    for (const corpus of ["man", "wordnet", "gettext", "bible", "sotu", "docs"])
      assert.ok(sources.has(`offline:${corpus}`), corpus);
  });

  it("has at least 50 distinct instructions", () => {
    const distinct = new Set(examples.map((e) => e.instruction));
    assert.ok(distinct.size >= 50, `only ${distinct.size} distinct instructions`);
    assert.equal(summary.distinctInstructions, distinct.size);
  });

  it("negatives differ from positives; families with hard negatives have them, short-short/long-long do not", () => {
    const fold = (s: string) =>
      s
        .toLowerCase()
        .replace(/[^\p{L}\p{N}]+/gu, " ")
        .trim();
    for (const e of examples) {
      if (["short-short", "long-long"].includes(e.task_family)) assert.equal(e.negative, undefined);
      else assert.ok(e.negative !== undefined && e.negative !== "", `${e.task_family} without negative`);
      if (e.negative !== undefined) assert.notEqual(fold(e.negative), fold(e.positive));
    }
  });

  it("no example is derived from a held-out document (meta.doc_ids checked with the shared split rule)", () => {
    let checked = 0;
    for (const e of examples) {
      assert.equal(e.source, `offline:${e.meta.corpus}`);
      assert.ok(e.meta.doc_ids.length > 0);
      for (const id of e.meta.doc_ids) {
        assert.equal(isHeldOut(e.meta.corpus, id), false, `${e.meta.corpus}:${id} is held out`);
        checked++;
      }
    }
    assert.ok(checked >= examples.length);
  });

  it("man pages: no stub page whose DESCRIPTION only restates its NAME line, no single command family dominating", () => {
    const fold = (s: string) =>
      s
        .toLowerCase()
        .replace(/[^\p{L}\p{N}]+/gu, " ")
        .trim();
    const man = examples.filter((e) => e.meta.corpus === "man" && e.task_family === "short-long");
    assert.ok(man.length > 10);
    for (const e of man) assert.ok(fold(e.positive).length >= 80, e.positive);
    const gcloud = man.filter((e) => e.meta.doc_ids[0]?.includes("gcloud")).length;
    assert.ok(gcloud < man.length / 2, `${gcloud} of ${man.length} from gcloud`);
  });

  it("bitext spans several languages and scripts, tagged src-tgt", () => {
    const bitext = examples.filter((e) => e.task_family === "bitext");
    const languages = new Set(bitext.map((e) => e.language));
    assert.ok(languages.size >= 5, [...languages].join(","));
    for (const e of bitext)
      assert.match(e.language, /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*-[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$|^en-[a-z]{2,3}/);
    const text = bitext.map((e) => `${e.query} ${e.positive}`).join(" ");
    assert.match(text, /\p{Script=Latin}/u);
    assert.match(
      text,
      /[\p{Script=Cyrillic}\p{Script=Han}\p{Script=Arabic}\p{Script=Greek}\p{Script=Hangul}\p{Script=Devanagari}]/u,
    );
  });

  it("long-context documents are sized as asked and share no wording with the passkey evaluation", () => {
    const long = examples.filter((e) => e.task_family === "long-context");
    assert.ok(long.length > 0);
    for (const e of long) {
      const target = e.meta.target_tokens as number;
      const approx = e.meta.approx_tokens as number;
      assert.ok(approx <= target * 1.05 && approx >= target * 0.7, `${approx} tokens for target ${target}`);
      // The place named in the question is planted in the positive and absent from the negative.
      const place = e.meta.place as string;
      assert.ok(e.query.includes(place) && e.positive.includes(place), e.query);
      assert.ok(!(e.negative ?? "").includes(place) && (e.negative ?? "").includes(e.meta.negative_place as string));
      for (const text of [e.query, e.positive, e.negative ?? "", e.instruction]) {
        assert.doesNotMatch(text, /pass ?key|grass is green|sky is blue|Remember it/i);
      }
    }
  });

  it("reports progress for every corpus's indexing phase", () => {
    for (const corpus of ["man", "wordnet", "gettext", "bible", "sotu", "docs"])
      assert.ok(progress.includes(`index:${corpus}`));
  });
});

describe("offline generator: determinism, quotas and bad input", () => {
  const collect = async (seed: number, count = 60) => {
    const run = generateOffline({ sources: ["sotu"], count, seed });
    const lines: string[] = [];
    for await (const e of run) lines.push(JSON.stringify(e));
    return lines;
  };

  it("the same seed gives identical output; another seed gives different output", async () => {
    const a = await collect(5);
    const b = await collect(5);
    const c = await collect(6);
    assert.equal(a.length, 60);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it("quotas add up to the count and only name families the chosen sources can build", () => {
    const plan = planQuotas(["sotu", "wordnet"], 1001);
    let total = 0;
    for (const quota of plan.values()) for (const n of Object.values(quota)) total += n ?? 0;
    assert.equal(total, 1001);
    assert.equal(plan.get("sotu")?.bitext, undefined);
    assert.ok((plan.get("wordnet")?.sts ?? 0) > 0);
  });

  it("when a corpus runs dry, the summary's shortfall is exactly what was not produced", async () => {
    // /usr/share/doc yields ~1-2k sections: far fewer than 20k examples.
    const run = generateOffline({ sources: ["docs"], count: 20_000, seed: 1 });
    let written = 0;
    let result = await run.next();
    for (; !result.done; result = await run.next()) written++;
    const summary = result.value;
    assert.ok(written > 100 && written < 20_000, `${written}`);
    assert.equal(summary.written, written);
    assert.equal(
      Object.values(summary.shortfall).reduce((a, b) => a + b, 0),
      20_000 - written,
    );
    assert.deepEqual([...summary.exhausted].sort(), ["docs/long-short", "docs/short-long"]);
  });

  it("rejects unknown sources and non-positive counts with a typed error", async () => {
    await assert.rejects(generateOffline({ sources: ["usenet" as never], count: 5 }).next(), OfflineOptionsError);
    await assert.rejects(generateOffline({ count: 0 }).next(), /count must be a positive integer/);
    await assert.rejects(generateOffline({ count: 2.5 }).next(), OfflineOptionsError);
  });

  it("a missing corpus fails with CorpusMissingError and leaves no output file behind", async () => {
    const target = path.join(tmp, "missing.jsonl");
    await assert.rejects(
      writeOffline({ sources: ["sotu"], count: 5, out: target, roots: { sotuDir: path.join(tmp, "nowhere") } }),
      CorpusMissingError,
    );
    assert.ok(!existsSync(target) && !existsSync(`${target}.partial`));
  });
});
