import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { Tokenizer } from "@huggingface/tokenizers";
import { chunkText } from "../../src/chunk/index.ts";
import { InvalidInputError, loadEmbedder } from "../../src/model/index.ts";
import { loadModelFiles } from "../../src/model/model-files.ts";
import { FIXTURES_DIR, type Reference } from "./fixtures.ts";

// Ingest tokenises each chunk once: the chunker keeps the content ids it counted, and the embedder adds the
// special tokens itself (embedContentIds). These tests pin that this is the very computation embedDocuments does.

const SOTU = path.resolve(FIXTURES_DIR, "../../../examples/corpus/sotu");
const sample = readFileSync(path.join(SOTU, "1790-george-washington.md"), "utf8").slice(0, 6000);
// Mixed scripts, emoji, code and odd whitespace: where tokenizers differ most between a text and its parts.
const mixed =
  "Grüße aus Köln 🎉 — naïve café. 東京は晴れです。\n\n  def f(x):\n\treturn x ** 2  # square\n" +
  "Ünïcödé   spaces\u00a0and\u2003others. Последний абзац текста.";

describe("space-additive tokenizers are tokenised piece by piece, with identical ids", () => {
  it("Mistral's tokenizer is space-additive, Qwen3's byte-level BPE is not", async () => {
    assert.equal((await loadModelFiles(path.join(FIXTURES_DIR, "tiny-mistral"))).tokenizer.spaceAdditive, true);
    assert.equal((await loadModelFiles(path.join(FIXTURES_DIR, "tiny-qwen3"))).tokenizer.spaceAdditive, false);
  });

  it("contentIds equals one whole-text encode on real and adversarial texts", async () => {
    const dir = path.join(FIXTURES_DIR, "tiny-mistral");
    const { tokenizer } = await loadModelFiles(dir);
    const whole = new Tokenizer(
      JSON.parse(readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
      JSON.parse(readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
    );
    const reference = JSON.parse(readFileSync(path.join(dir, "reference.json"), "utf8")) as Reference;
    const texts = [
      ...readdirSync(SOTU).map((f) => readFileSync(path.join(SOTU, f), "utf8").slice(0, 20_000)),
      ...reference.tokenizer_parity.lines.map((l) => l.text),
      mixed.repeat(8),
      `${"word ".repeat(300)}   spaced  out\ttabs\nand lines ${"x".repeat(400)} end`,
      `a </s> b <s> c ${"token ".repeat(100)}`, // added tokens: left whole
      `${"🎉 ".repeat(150)}тест ${"東京 ".repeat(100)}`,
    ];
    for (const text of texts) {
      assert.deepEqual(
        tokenizer.contentIds(text),
        whole.encode(text, { add_special_tokens: false }).ids,
        JSON.stringify(text.slice(0, 40)),
      );
    }
  });
});

for (const name of ["tiny-mistral", "tiny-qwen3"]) {
  describe(`content ids: ${name}`, () => {
    const dir = path.join(FIXTURES_DIR, name);

    it("fromContentIds(contentIds(text)) equals encode(text), truncated or not", async () => {
      const { tokenizer, config } = await loadModelFiles(dir);
      const texts = [sample, mixed, "a", sample.slice(0, 40), sample.repeat(3)];
      for (const maxLength of [8, 64, config.max_length]) {
        for (const text of texts) {
          assert.deepEqual(
            tokenizer.fromContentIds(tokenizer.contentIds(text), maxLength),
            tokenizer.encode(text, maxLength),
            `${JSON.stringify(text.slice(0, 30))} at ${maxLength}`,
          );
        }
      }
    });

    it("chunk ids the chunker keeps are exactly the content ids of the chunk text; boundaries unchanged", async () => {
      const embedder = await loadEmbedder(dir, { threads: 1 });
      const sotuLong = readFileSync(path.join(SOTU, readdirSync(SOTU).sort()[5]!), "utf8");
      let withIds = 0;
      for (const text of [sample, mixed, sotuLong]) {
        for (const maxTokens of [8, 32, 200]) {
          const countTokens = (t: string) => embedder.countTokens(t);
          const plain = chunkText(text, { maxTokens, countTokens });
          const withEncode = chunkText(text, { maxTokens, countTokens, encode: (t) => embedder.encodeContent!(t) });
          const withPieces = chunkText(text, {
            maxTokens,
            countTokens,
            encodePieces: (t) => embedder.encodeContentPieces!(t),
          });
          const shape = (chunks: typeof plain) =>
            chunks.map(({ text, start, end, tokens }) => ({ text, start, end, tokens }));
          assert.deepEqual(shape(withEncode), shape(plain), "encode changes no chunk");
          assert.deepEqual(shape(withPieces), shape(plain), "encodePieces changes no chunk");
          for (const chunk of [...withEncode, ...withPieces]) {
            if (!chunk.ids) continue;
            withIds++;
            assert.deepEqual(chunk.ids, embedder.encodeContent!(chunk.text), JSON.stringify(chunk.text));
            assert.equal(chunk.tokens, chunk.ids.length);
          }
        }
      }
      assert.ok(withIds > 40, `only ${withIds} chunks carried ids`);
      await embedder.dispose();
    });

    it("embedContentIds gives the same vectors as embedDocuments", async () => {
      const embedder = await loadEmbedder(dir, { threads: 2 });
      const texts = [
        ...chunkText(sample, { maxTokens: 24, countTokens: (t) => embedder.countTokens(t) }).map((c) => c.text),
        mixed,
        sample.repeat(2), // truncated at max_length
      ];
      const fromText = await embedder.embedDocuments(texts);
      const fromIds = await embedder.embedContentIds!(texts.map((t) => embedder.encodeContent!(t)));
      assert.equal(fromIds.length, texts.length);
      for (const [i, vector] of fromIds.entries()) assert.deepEqual(vector, fromText[i], `text ${i}`);
      await embedder.dispose();
    });

    it("bad ids are a typed error naming the input", async () => {
      const embedder = await loadEmbedder(dir, { threads: 1 });
      const bad: Array<[unknown, RegExp]> = [
        [[[]], /input 0.*non-empty/],
        [[[5], [-1]], /input 1.*token id -1/],
        [[[1.5]], /token id 1\.5/],
        [[[10_000_000]], /token id 10000000 is not in the tokenizer's vocabulary/],
        [[["7"]], /token id 7/],
      ];
      for (const [contents, message] of bad) {
        await assert.rejects(embedder.embedContentIds!(contents as number[][]), (error: Error) => {
          assert.ok(error instanceof InvalidInputError, error.message);
          assert.match(error.message, message);
          return true;
        });
      }
      // Over-length ids with truncate: false are refused, as over-length texts are.
      const short = await loadEmbedder(dir, { threads: 1, maxLength: 4 });
      await assert.rejects(short.embedContentIds!([[5, 6, 7, 8, 9, 10]], { truncate: false }), InvalidInputError);
      await short.dispose();
      await embedder.dispose();
    });

    it("embedEncoded of encode()'s ids gives embedRaw's vectors; bad or over-long ids are refused", async () => {
      const embedder = await loadEmbedder(dir, { threads: 1 });
      const texts = [sample, mixed, "x", `${"long ".repeat(600)}end`]; // the last one truncated by encode
      const encoded = texts.map((t) => embedder.encode(t).ids);
      const [fromIds, fromText] = [await embedder.embedEncoded!(encoded), await embedder.embedRaw(texts)];
      for (const [i, vector] of fromIds.entries()) assert.deepEqual(vector, fromText[i], `text ${i}`);
      const tooLong = [Array.from({ length: embedder.maxLength + 1 }, () => 5)];
      await assert.rejects(embedder.embedEncoded!(tooLong), /input 0.*longer than the model's/);
      await assert.rejects(embedder.embedEncoded!([[5], [-1]]), /input 1.*token id -1/);
      await assert.rejects(embedder.embedEncoded!([[]]), InvalidInputError);
      await embedder.dispose();
    });
  });
}
