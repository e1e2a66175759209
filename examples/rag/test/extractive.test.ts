import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { extractiveAnswer, highlight, queryTerms } from "../src/extractive.ts";
import { buildGroundedMessages } from "../src/prompt.ts";
import type { Passage } from "../src/retrieve.ts";

const passage = (n: number, text: string, source = `doc-${n}.md`): Passage => ({
  n,
  id: `id-${n}`,
  source,
  title: null,
  text,
  score: 1 / n,
});

const marked = (segments: { text: string; hit: boolean }[]) => segments.filter((s) => s.hit).map((s) => s.text);

describe("extractive answers", () => {
  test("query terms: content words only, plural and possessive endings folded", () => {
    assert.deepEqual(
      [...queryTerms("What are the Nation's four essential freedoms, and why?")],
      ["nation", "four", "essential", "freedom"],
    );
  });

  test("highlight marks whole words in any inflection, and the runs rebuild the text exactly", () => {
    const text = "Freedom of speech; freedoms everywhere. The nation's freedoms, not freedomless.";
    const segments = highlight(text, queryTerms("freedoms of the nation"));
    assert.equal(segments.map((s) => s.text).join(""), text);
    assert.deepEqual(marked(segments), ["Freedom", "freedoms", "nation's", "freedoms"]);
  });

  test("sentences sharing most question words come first; ties go to the better-ranked passage", () => {
    const answer = extractiveAnswer("Which treaty ceded Alaska to the United States?", [
      passage(
        1,
        "# A heading about Alaska treaty\n\nThe treaty with Russia was ratified in the spring. Nothing else here matters much.",
      ),
      passage(2, "Russia ceded Alaska to the United States by a treaty in 1867. Congress paid for it later on."),
      passage(3, "The treaty was a bargain for the United States of America."),
    ]);
    const texts = answer.sentences.map((s) => s.segments.map((x) => x.text).join(""));
    assert.deepEqual(
      answer.sentences.map((s) => s.n),
      [2, 3, 1],
    );
    assert.equal(texts[0], "Russia ceded Alaska to the United States by a treaty in 1867.");
    assert.deepEqual(marked(answer.sentences[0]!.segments), ["ceded", "Alaska", "United", "States", "treaty"]);
    // The markdown heading is not an answer sentence, though it has two of the words.
    assert.ok(!texts.some((t) => t.startsWith("#")));
  });

  test("no word in common (a purely semantic hit): the top passages' opening sentences, cited", () => {
    const answer = extractiveAnswer("zyxwv qwerty", [
      passage(1, "First passage opens with this sentence. Then another one follows it."),
      passage(2, "Second passage starts right here today. And continues below."),
    ]);
    assert.deepEqual(
      answer.sentences.map((s) => [s.n, s.segments.map((x) => x.text).join("")]),
      [
        [1, "First passage opens with this sentence."],
        [2, "Second passage starts right here today."],
      ],
    );
  });

  test("no passages, no sentences", () => {
    assert.deepEqual(extractiveAnswer("anything at all", []), { kind: "extractive", sentences: [] });
  });
});

describe("grounded prompt", () => {
  test("numbers every passage with its source, then asks the question; the rules are in the system message", () => {
    const messages = buildGroundedMessages("  Who bought Alaska? ", [
      passage(1, "Alaska was bought in 1867.", "1867-andrew-johnson.md"),
      { ...passage(2, "Seward negotiated it."), source: null },
    ]);
    assert.equal(messages.length, 2);
    assert.equal(messages[0]!.role, "system");
    assert.match(messages[0]!.content, /only the numbered passages.*\[1\]/);
    assert.equal(
      messages[1]!.content,
      "Passages:\n\n[1] (1867-andrew-johnson.md)\nAlaska was bought in 1867.\n\n[2] (unknown source)\nSeward negotiated it.\n\nQuestion: Who bought Alaska?",
    );
  });
});
