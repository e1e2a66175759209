/**
 * Tokenisation per REFERENCE.md §1, independent of the ONNX graph: exact ids written literally (so a mistake
 * shared by fixture builder and runtime — a dropped BOS or EOS — cannot pass), parity with Python `tokenizers`
 * on the multilingual sample, prefix-only tokenisation of long texts, EOS never twice, and input validation.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { formatQuery, TASK_INSTRUCTIONS } from "../../src/instructions/index.ts";
import { InvalidInputError } from "../../src/model/errors.ts";
import { ModelTokenizer, validateText } from "../../src/model/tokenize.ts";
import { fixtureDir, readReference } from "./fixtures.ts";

const mistralTokens = { bos_id: 1, eos_id: 2, pad_id: null };
const qwenTokens = { bos_id: null, eos_id: 151643, pad_id: 151643 };
const mistral = ModelTokenizer.load(fixtureDir("tiny-mistral"), mistralTokens);
const qwen3 = ModelTokenizer.load(fixtureDir("tiny-qwen3"), qwenTokens);
const QUERY = "what is the capital of Australia?";

describe("exact token ids (computed once with Python tokenizers 0.23 and pasted here)", () => {
  test("Mistral: BOS first, EOS (2) appended once", () => {
    const text = formatQuery("Instruct: {task}\nQuery: {query}", TASK_INSTRUCTIONS.web_search, QUERY);
    assert.deepEqual(
      mistral.encode(text, 512).ids,
      [
        1, 560, 1356, 28747, 12628, 264, 4686, 3472, 5709, 28725, 20132, 8598, 1455, 1291, 369, 4372, 272, 5709, 13,
        3294, 28747, 767, 349, 272, 5565, 302, 6664, 28804, 2,
      ],
    );
  });

  test("Qwen3: no BOS, no space after 'Query:', <|endoftext|> (151643) appended once", () => {
    const text = formatQuery("Instruct: {task}\nQuery:{query}", TASK_INSTRUCTIONS.web_search, QUERY);
    assert.deepEqual(
      qwen3.encode(text, 512).ids,
      [
        641, 1235, 25, 16246, 264, 3482, 2711, 3239, 11, 17179, 9760, 46769, 429, 4226, 279, 3239, 198, 2859, 25, 12555,
        374, 279, 6722, 315, 8330, 30, 151643,
      ],
    );
  });
});

for (const [name, tokenizer] of [
  ["tiny-mistral", mistral],
  ["tiny-qwen3", qwen3],
] as const) {
  describe(`tokenizer parity with Python tokenizers: ${name}`, () => {
    const { lines } = readReference(name).tokenizer_parity;

    test(`every line of the multilingual sample (${lines.length} lines) tokenises identically`, () => {
      assert.ok(lines.length >= 15);
      for (const line of lines) {
        const content = tokenizer.contentPrefix(line.text, 1_000_000).ids;
        assert.deepEqual(content, line.ids_without_special, line.text);
        assert.deepEqual(
          [...tokenizer.prefixIds, ...content, ...tokenizer.suffixIds],
          line.ids_with_special,
          line.text,
        );
      }
    });

    test("remembered word pieces give the ids of tokenising them (warm pass, and past the cache's bound)", () => {
      const fresh = () => ModelTokenizer.load(fixtureDir(name), name === "tiny-mistral" ? mistralTokens : qwenTokens);
      const warm = fresh();
      for (const pass of [1, 2]) {
        for (const line of lines)
          assert.deepEqual(warm.contentIds(line.text), line.ids_without_special, `pass ${pass}`);
      }
      // 70,000 distinct pieces overflow the 65,536-entry cache: it starts over and the ids stay those of each
      // piece tokenised by a tokenizer that has seen nothing.
      const words = Array.from({ length: 70_000 }, (_, i) => `w${i.toString(36)}`);
      const tokenizer = fresh();
      const first = tokenizer.contentPieces(words.join(" "));
      assert.deepEqual(tokenizer.contentIds(words.join(" ")), first.ids);
      // Qwen's tokenizer is not space-additive: one piece, tokenised whole, nothing cached.
      if (name === "tiny-mistral") assert.equal(first.pieces.length, words.length);
      for (const i of first.pieces.length === 1 ? [] : [0, 1, 65_535, 65_536, 69_999]) {
        const piece = first.pieces[i];
        assert.ok(piece !== undefined);
        const next = first.pieces[i + 1]?.firstId ?? first.ids.length;
        assert.deepEqual(first.ids.slice(piece.firstId, next), fresh().contentIds(words[i] as string), `piece ${i}`);
      }
    });

    test("a long text is tokenised by prefix and gives the first ids of the whole text", () => {
      const sample = lines.map((l) => l.text).join("\n");
      // ~150k characters: whole-text tokenisation happens once here, as the oracle.
      const long = Array.from({ length: 40 }, (_, i) => `${i} ${sample}`).join("\n\n");
      const whole = tokenizer.contentPrefix(long, Number.MAX_SAFE_INTEGER).ids;
      for (const maxLength of [64, 512, 2048]) {
        const encoded = tokenizer.encode(long, maxLength);
        const expected = [...tokenizer.prefixIds, ...whole.slice(0, maxLength - 1 - tokenizer.prefixIds.length)];
        assert.deepEqual(encoded.ids.slice(0, -1), expected, `maxLength ${maxLength}`);
        assert.equal(encoded.ids.length, maxLength);
        assert.equal(encoded.ids.at(-1), tokenizer.eosId);
        assert.equal(encoded.truncated, true);
      }
    });

    test("texts without spaces (CJK), emoji (surrogate pairs at every cut) and whitespace runs match whole-text ids", () => {
      for (const long of [
        "人人生而自由，在尊严和权利上一律平等。".repeat(800),
        "😀👍🏽".repeat(3000),
        `a${" ".repeat(20000)}b c d`.repeat(3),
      ]) {
        const whole = tokenizer.contentPrefix(long, Number.MAX_SAFE_INTEGER).ids;
        const encoded = tokenizer.encode(long, 300);
        assert.deepEqual(
          encoded.ids.slice(tokenizer.prefixIds.length, -1),
          whole.slice(0, encoded.ids.length - 1 - tokenizer.prefixIds.length),
        );
        assert.equal(encoded.truncated, whole.length > 299 - tokenizer.prefixIds.length);
      }
    });
  });
}

describe("EOS is appended exactly once", () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "lance-e5-tok-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test("a post-processor that already ends with EOS does not get a second one", () => {
    cpSync(path.join(fixtureDir("tiny-mistral"), "tokenizer_config.json"), path.join(tmp, "tokenizer_config.json"));
    const json = JSON.parse(readFileSync(path.join(fixtureDir("tiny-mistral"), "tokenizer.json"), "utf8"));
    // As some released tokenizers do: TemplateProcessing "<s> $A </s>".
    json.post_processor.single.push({ SpecialToken: { id: "</s>", type_id: 0 } });
    json.post_processor.special_tokens["</s>"] = { id: "</s>", ids: [2], tokens: ["</s>"] };
    writeFileSync(path.join(tmp, "tokenizer.json"), JSON.stringify(json));
    const withEos = ModelTokenizer.load(tmp, mistralTokens);
    assert.deepEqual(withEos.suffixIds, [2]);
    assert.deepEqual(withEos.encode("hello world", 512).ids, mistral.encode("hello world", 512).ids);
    const cut = withEos.encode("hello world ".repeat(100), 16);
    assert.equal(cut.ids.length, 15, "at most max_length - 1 tokens when the tokenizer itself ends with EOS");
    assert.equal(cut.ids.filter((id) => id === 2).length, 1);
    assert.equal(cut.ids.at(-1), 2);
  });

  test("a text ending in the literal EOS string still gets the EOS appended by us", () => {
    // "</s>" typed by a user is parsed as the special token by both Python and JS tokenizers; the appended
    // EOS is then the pooled position either way.
    const ids = mistral.encode("hello </s>", 512).ids;
    assert.equal(ids.at(-1), 2);
  });
});

describe("input validation", () => {
  const cases: Array<[unknown, RegExp]> = [
    ["", /empty or whitespace/],
    [" \t\n\u00a0", /empty or whitespace/],
    ["bad \ud800 surrogate", /lone UTF-16 surrogate/],
    ["trailing high \ud83d", /lone UTF-16 surrogate/],
    ["nul \u0000 byte", /NUL/],
    [42, /expected a string, got number/],
    [null, /expected a string, got null/],
    [undefined, /expected a string, got undefined/],
    [["a"], /expected a string, got an array/],
  ];
  for (const [value, pattern] of cases) {
    test(`rejects ${JSON.stringify(value) ?? "undefined"} with the index`, () => {
      assert.throws(
        () => validateText(value, 7),
        (error: unknown) => error instanceof InvalidInputError && error.index === 7 && pattern.test(error.message),
      );
    });
  }

  test("accepts real text including emoji pairs and accents", () => {
    for (const text of ["👩‍👩‍👧 family", "e\u0301", "日本語", "x"]) validateText(text, 0);
  });
});
