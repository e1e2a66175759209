import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  paperLanguageDistribution,
  parseLanguageSpec,
  sampleLanguage,
  UnknownLanguageError,
} from "../../src/synth/languages.ts";
import { seededRandom } from "../../src/synth/llm/rng.ts";
import {
  FIXED_TASKS,
  fillTemplate,
  LLM_FAMILIES,
  MissingPlaceholderError,
  PLACEHOLDER_VALUES,
  samplePlaceholders,
} from "../../src/synth/placeholders.ts";
import { brainstormPrompt, examplePromptTemplate } from "../../src/synth/prompts/index.ts";
import {
  DedupIndex,
  FAMILY_KEYS,
  normaliseForDedup,
  parseExampleAnswer,
  parseTaskList,
  schemaErrors,
  stripJsonFence,
} from "../../src/synth/validate.ts";
import { validExample } from "./llm-scripts.ts";

describe("drop rules (parseExampleAnswer)", () => {
  const good = JSON.stringify(validExample("short-long", 1));

  test("maps each family's JSON keys to query/positive/negative as in the paper's table", () => {
    for (const family of LLM_FAMILIES) {
      const raw = validExample(family, 7);
      const result = parseExampleAnswer(family, JSON.stringify(raw));
      assert.ok(result.ok, family);
      const keys = FAMILY_KEYS[family];
      assert.equal(result.triple.query, raw[keys.query]);
      assert.equal(result.triple.positive, raw[keys.positive]);
      assert.equal(result.triple.negative, keys.negative ? raw[keys.negative] : undefined);
    }
    assert.deepEqual(FAMILY_KEYS["long-short"], {
      query: "input_text",
      positive: "label",
      negative: "misleading_label",
    });
    assert.equal(FAMILY_KEYS["short-short"].negative, undefined);
    assert.equal(FAMILY_KEYS["long-long"].negative, undefined);
  });

  test("a ```json fence around valid JSON is tolerated, prose is not", () => {
    assert.ok(parseExampleAnswer("short-long", `\`\`\`json\n${good}\n\`\`\``).ok);
    assert.ok(parseExampleAnswer("short-long", `  \`\`\`\n${good}\n\`\`\`  `).ok);
    assert.equal(stripJsonFence("```json\n[1]\n```"), "[1]");
    const prose = parseExampleAnswer("short-long", `Here is the example: ${good}`);
    assert.deepEqual(prose.ok ? "kept" : prose.reason, "invalid-json");
  });

  const cases: Array<[string, string, string]> = [
    ["truncated JSON", good.slice(0, -5), "invalid-json"],
    ["an array", "[1, 2]", "not-an-object"],
    ["a missing key", JSON.stringify({ user_query: "q", positive_document: "p" }), "missing-keys"],
    ["an extra key", JSON.stringify({ ...validExample("short-long", 1), notes: "x" }), "extra-keys"],
    ["a number field", JSON.stringify({ ...validExample("short-long", 1), user_query: 5 }), "not-a-string"],
    ["a blank field", JSON.stringify({ ...validExample("short-long", 1), positive_document: "  " }), "empty-field"],
    [
      "a positive quoting the query",
      JSON.stringify({ user_query: "tides", positive_document: "All about tides.", hard_negative_document: "Waves." }),
      "query-in-positive",
    ],
    [
      "a negative quoting the query",
      JSON.stringify({
        user_query: "tides",
        positive_document: "Moon pull.",
        hard_negative_document: "No tides here.",
      }),
      "query-in-negative",
    ],
  ];
  for (const [name, answer, reason] of cases) {
    test(`drops ${name} as ${reason}`, () => {
      const result = parseExampleAnswer("short-long", answer);
      assert.equal(result.ok, false);
      if (!result.ok) assert.equal(result.reason, reason);
    });
  }

  test("keys of another family are wrong keys", () => {
    const result = parseExampleAnswer("sts", JSON.stringify(validExample("short-short", 1)));
    assert.equal(result.ok ? "kept" : result.reason, "missing-keys");
  });

  test("brainstorm lists: strings kept, blanks and repeats removed, non-lists rejected", () => {
    assert.deepEqual(parseTaskList('```json\n["a", " b ", "", "a", 3]\n```'), ["a", "b"]);
    assert.equal(parseTaskList('{"tasks": ["a"]}'), undefined);
    assert.equal(parseTaskList("[]"), undefined);
    assert.equal(parseTaskList("not json"), undefined);
  });
});

describe("dedup", () => {
  test("exact duplicates, then case/whitespace/punctuation-folded duplicates", () => {
    const index = new DedupIndex();
    const example = { query: "What is RAM?", positive: "Random-access memory.", negative: "A male sheep." };
    assert.equal(index.check(example), undefined);
    assert.equal(index.check({ ...example }), "duplicate-exact");
    assert.equal(
      index.check({ query: "what is  ram", positive: "random access memory", negative: "A male sheep!" }),
      "duplicate-normalised",
    );
    assert.equal(index.check({ ...example, negative: "Read-only memory." }), undefined);
    assert.equal(index.size, 2);
    assert.equal(normaliseForDedup("  Héllo,\tWORLD!! "), "héllo world");
  });
});

describe("schema", () => {
  test("a generated line validates; a wrong family or bad language does not", () => {
    const line = {
      task_family: "short-long",
      instruction: "Retrieve things.",
      query: "q",
      positive: "p",
      negative: "n",
      language: "en-de",
      source: "llm:fake",
      meta: { attempt: 1 },
    };
    assert.equal(schemaErrors(line), undefined);
    assert.match(schemaErrors({ ...line, task_family: "other" }) ?? "", /task_family/);
    assert.match(schemaErrors({ ...line, language: "English" }) ?? "", /language/);
    assert.match(schemaErrors({ ...line, extra: 1 }) ?? "", /additional/);
  });
});

describe("placeholders and prompts", () => {
  test("every family's sampled values come from the paper's value sets and fill its template completely", () => {
    const languages = parseLanguageSpec("en,de,ja");
    for (const family of LLM_FAMILIES) {
      for (let attempt = 0; attempt < 30; attempt++) {
        const sampled = samplePlaceholders(family, seededRandom("t", family, attempt), languages);
        const text = fillTemplate(examplePromptTemplate(family), { ...sampled.values, task: "Retrieve X." });
        assert.doesNotMatch(text, /\{[a-z_]+\}/, `${family}: unfilled slot`);
        assert.match(sampled.languageCode, family === "bitext" ? /^(en|de|ja)-(en|de|ja)$/ : /^(en|de|ja)$/);
        if (family === "bitext") {
          const [source, target] = sampled.languageCode.split("-");
          assert.notEqual(source, target);
          assert.ok(
            (PLACEHOLDER_VALUES.low_score_bitext as readonly string[]).includes(sampled.values.low_score ?? ""),
          );
        }
        if (family === "sts") {
          assert.ok((PLACEHOLDER_VALUES.low_score_sts as readonly string[]).includes(sampled.values.low_score ?? ""));
          assert.ok(
            (PLACEHOLDER_VALUES.difficulty_symmetric as readonly string[]).includes(sampled.values.difficulty ?? ""),
          );
        }
        if (family === "short-long") {
          assert.ok(
            (PLACEHOLDER_VALUES.num_words_short_long as readonly string[]).includes(sampled.values.num_words ?? ""),
          );
          assert.ok((PLACEHOLDER_VALUES.query_type as readonly string[]).includes(sampled.values.query_type ?? ""));
          assert.ok(
            (PLACEHOLDER_VALUES.difficulty_asymmetric as readonly string[]).includes(sampled.values.difficulty ?? ""),
          );
        }
        if (family === "long-short") {
          assert.ok(
            (PLACEHOLDER_VALUES.num_words_long_short as readonly string[]).includes(sampled.values.num_words ?? ""),
          );
        }
      }
    }
    assert.equal(FIXED_TASKS.sts, "Retrieve semantically similar text.");
    assert.equal(FIXED_TASKS.bitext, "Retrieve parallel sentences.");
  });

  test("the same (seed, attempt) samples the same placeholders", () => {
    const languages = paperLanguageDistribution();
    const a = samplePlaceholders("short-long", seededRandom("s", 3), languages);
    const b = samplePlaceholders("short-long", seededRandom("s", 3), languages);
    assert.deepEqual(a, b);
  });

  test("prompts ask for JSON with the family's keys; a slot without a value is an error", () => {
    for (const family of LLM_FAMILIES) {
      const template = examplePromptTemplate(family);
      const keys = FAMILY_KEYS[family];
      for (const key of [keys.query, keys.positive, keys.negative].filter(Boolean))
        assert.ok(template.includes(`"${key}"`));
    }
    for (const family of ["short-long", "long-short", "short-short", "long-long"] as const) {
      assert.match(brainstormPrompt(family), /JSON array of about 20 strings/);
    }
    assert.throws(() => fillTemplate("write {task} in {language}", { task: "x" }), MissingPlaceholderError);
  });
});

describe("languages", () => {
  test("93 XLM-R languages; English 43%, 13 high-resource at 3%, the rest share what is left", () => {
    const distribution = paperLanguageDistribution();
    assert.equal(distribution.length, 93);
    assert.equal(new Set(distribution.map((l) => l.code)).size, 93);
    assert.ok(Math.abs(distribution.reduce((sum, l) => sum + l.weight, 0) - 1) < 1e-9);
    assert.equal(distribution.find((l) => l.code === "en")?.weight, 0.43);
    assert.equal(distribution.filter((l) => l.weight === 0.03).length, 13);
    const rest = distribution.filter((l) => l.weight < 0.01);
    assert.equal(rest.length, 79);
    for (const language of rest) assert.ok(language.weight > 0.0015 && language.weight < 0.003);
  });

  test("sampling follows the weights (seeded, 20k draws)", () => {
    const distribution = paperLanguageDistribution();
    const random = seededRandom("languages");
    let english = 0;
    for (let i = 0; i < 20_000; i++) if (sampleLanguage(distribution, random()).code === "en") english++;
    assert.ok(Math.abs(english / 20_000 - 0.43) < 0.02, `English share ${english / 20_000}`);
  });

  test("explicit lists get equal weights; unknown codes are named in the error", () => {
    assert.deepEqual(
      parseLanguageSpec("de, fr").map((l) => [l.code, l.weight]),
      [
        ["de", 0.5],
        ["fr", 0.5],
      ],
    );
    assert.throws(
      () => parseLanguageSpec("de,xx,klingon"),
      (error: unknown) => {
        assert.ok(error instanceof UnknownLanguageError);
        assert.deepEqual(error.codes, ["xx", "klingon"]);
        return true;
      },
    );
  });
});
