import { type BibleChapter, type BibleTranslation, readBible } from "../../corpora/bible.ts";
import { displayBookName } from "../../corpora/bible-books.ts";
import { Bm25Index } from "../bm25.ts";
import { type SourceBuilder, sameText } from "./builder.ts";
import { sampleTrainingPool } from "./pool.ts";
import type { SynthExample } from "./types.ts";

interface Verse {
  chapter: BibleChapter;
  index: number;
  ref: string;
  texts: Partial<Record<BibleTranslation, string>>;
}

const TITLES: Record<BibleTranslation, string> = {
  KJV: "King James Version",
  WEB: "World English Bible",
  RV1909: "Reina-Valera 1909",
};

/** Bible: the same verses in KJV, WEB and Reina-Valera give parallel passages, paraphrases and bitext for free. */
export const bibleBuilder: SourceBuilder = {
  source: "bible",
  families: { "short-long": 2, "long-short": 2, "long-long": 2, sts: 2, bitext: 1 },
  async prepare(context) {
    // 1,189 chapters: the whole training split is a small pool.
    const chapters = await sampleTrainingPool(readBible({ swordDir: context.roots.swordDir }), 2000, context.seed);
    const verses: Verse[] = chapters.flatMap((chapter) =>
      chapter.verses.map((v, index) => ({ chapter, index, ref: `${chapter.id}.${v.verse}`, texts: v.texts })),
    );
    const byRef = new Map(verses.map((v) => [v.ref, v]));
    const index = await Bm25Index.build(
      verses.filter((v) => v.texts.WEB !== undefined).map((v) => ({ key: v.ref, text: v.texts.WEB as string })),
      { dir: context.workDir, name: "web-verses" },
    );
    const rng = context.rng;
    const order = rng.fork("verses").shuffle([...verses]);
    const passages = rng.fork("passages").shuffle(chapters.flatMap((chapter) => splitPassages(chapter, rng)));
    const meta = (template: string, ids: string[], refs: string[]) => ({
      corpus: "bible" as const,
      doc_ids: [...new Set(ids)],
      template,
      verses: refs,
    });
    const text = (chapter: BibleChapter, from: number, to: number, translation: BibleTranslation) =>
      chapter.verses
        .slice(from, to)
        .map((v) => v.texts[translation] ?? "")
        .join(" ")
        .trim();
    /** The nearest other verse (by BM25 over WEB text), outside the given chapter window. */
    const nearestOther = async (query: string, verse: Verse, accept: (other: Verse) => boolean = () => true) => {
      const [key] = await index.nearest(query, (ref) => {
        const other = byRef.get(ref) as Verse;
        return (other.chapter.id === verse.chapter.id && Math.abs(other.index - verse.index) <= 3) || !accept(other);
      });
      return key === undefined ? undefined : (byRef.get(key) as Verse);
    };

    // Two passes; the direction (archaic verse → modern context or the reverse) alternates, each verse gets both.
    async function* shortLong(): AsyncGenerator<SynthExample> {
      for (const pass of [0, 1])
        for (const [i, verse] of order.entries()) {
          const [from, to] = (pass + i) % 2 === 0 ? (["KJV", "WEB"] as const) : (["WEB", "KJV"] as const);
          const kjv = verse.texts[from];
          if (kjv === undefined) continue;
          const start = Math.max(0, verse.index - 2);
          const positive = text(verse.chapter, start, verse.index + 3, to);
          const other = await nearestOther(kjv, verse);
          if (other === undefined || positive === "") continue;
          const negative = text(other.chapter, Math.max(0, other.index - 2), other.index + 3, to);
          if (negative === "" || sameText(negative, positive)) continue;
          yield {
            task_family: "short-long",
            instruction:
              from === "KJV"
                ? `Given a verse from ${displayBookName(verse.chapter.book)} in the King James Version, retrieve the surrounding passage in a modern English translation`
                : `Given a verse from ${displayBookName(verse.chapter.book)} in modern English, retrieve the surrounding passage in the King James Version`,
            query: kjv,
            positive,
            negative,
            language: "en",
            source: "offline:bible",
            meta: meta(
              `bible.verse-to-context.${verse.chapter.book.osis}.${from}`,
              [verse.chapter.id, other.chapter.id],
              [verse.ref, other.ref],
            ),
          };
        }
    }

    // Three passes over the passages; the label kind (book, testament, translation) rotates so that every pass
    // mixes all three and every passage gets each kind once.
    async function* longShort(): AsyncGenerator<SynthExample> {
      for (const pass of [0, 1, 2])
        for (const [i, p] of passages.entries()) {
          const kind = (pass + i) % 3;
          const translation: BibleTranslation = rng.next() < 0.5 ? "KJV" : "WEB";
          const query = text(p.chapter, p.from, p.to, translation);
          if (query === "") continue;
          const first = byRef.get(`${p.chapter.id}.${p.chapter.verses[p.from]?.verse}`) as Verse;
          let instruction: string;
          let positive: string;
          let negative: string;
          let otherId = p.chapter.id;
          if (kind === 0) {
            const other = await nearestOther(query, first, (o) => o.chapter.book.osis !== p.chapter.book.osis);
            if (other === undefined) continue;
            instruction = "Identify the book of the Bible that a passage comes from";
            positive = displayBookName(p.chapter.book);
            negative = displayBookName(other.chapter.book);
            otherId = other.chapter.id;
          } else if (kind === 1) {
            instruction = "Classify a Bible passage as belonging to the Old Testament or the New Testament";
            positive = p.chapter.book.testament;
            negative = positive === "Old Testament" ? "New Testament" : "Old Testament";
          } else {
            instruction = "Given a Bible passage, identify which English translation it is quoted from";
            positive = TITLES[translation];
            negative = TITLES[translation === "KJV" ? "WEB" : "KJV"];
          }
          yield {
            task_family: "long-short",
            instruction,
            query,
            positive,
            negative,
            language: "en",
            source: "offline:bible",
            meta: meta(`bible.label.${kind}`, [p.chapter.id, otherId], [p.range]),
          };
        }
    }

    async function* longLong(): AsyncGenerator<SynthExample> {
      for (const p of passages) {
        const [from, to]: [BibleTranslation, BibleTranslation] = rng.next() < 0.5 ? ["KJV", "WEB"] : ["WEB", "KJV"];
        const query = text(p.chapter, p.from, p.to, from);
        const positive = text(p.chapter, p.from, p.to, to);
        if (query === "" || positive === "" || sameText(query, positive)) continue;
        yield {
          task_family: "long-long",
          instruction: `Given a passage from ${displayBookName(p.chapter.book)} in the ${TITLES[from]}, retrieve the same passage in the ${TITLES[to]}`,
          query,
          positive,
          language: "en",
          source: "offline:bible",
          meta: meta(`bible.parallel-passage.${p.chapter.book.osis}.${from}`, [p.chapter.id], [p.range]),
        };
      }
    }

    async function* sts(): AsyncGenerator<SynthExample> {
      for (const verse of order) {
        const { KJV: kjv, WEB: web } = verse.texts;
        if (kjv === undefined || web === undefined || sameText(kjv, web)) continue;
        const other = await nearestOther(kjv, verse);
        const negative = other?.texts.WEB;
        if (other === undefined || negative === undefined || sameText(negative, web)) continue;
        const swap = rng.next() < 0.5;
        yield {
          task_family: "sts",
          instruction: "Retrieve semantically similar text.",
          query: swap ? web : kjv,
          positive: swap ? kjv : web,
          negative: swap ? (other.texts.KJV ?? negative) : negative,
          language: "en",
          source: "offline:bible",
          meta: meta("bible.verse-paraphrase", [verse.chapter.id, other.chapter.id], [verse.ref, other.ref]),
        };
      }
    }

    async function* bitext(): AsyncGenerator<SynthExample> {
      for (const verse of order) {
        const english = rng.next() < 0.5 ? verse.texts.KJV : verse.texts.WEB;
        const spanish = verse.texts.RV1909;
        if (english === undefined || spanish === undefined) continue;
        const other = await nearestOther(english, verse, (o) => o.texts.RV1909 !== undefined);
        const negative = other?.texts.RV1909;
        if (other === undefined || negative === undefined || sameText(negative, spanish)) continue;
        const toEnglish = rng.next() < 0.3;
        yield {
          task_family: "bitext",
          instruction: "Retrieve parallel sentences.",
          query: toEnglish ? spanish : english,
          positive: toEnglish ? english : spanish,
          negative: toEnglish ? (other.texts.WEB ?? other.texts.KJV ?? "") : negative,
          language: toEnglish ? "es-en" : "en-es",
          source: "offline:bible",
          meta: meta("bible.parallel-verse", [verse.chapter.id, other.chapter.id], [verse.ref, other.ref]),
        };
      }
    }

    return {
      streams: {
        "short-long": shortLong(),
        "long-short": longShort(),
        "long-long": longLong(),
        sts: sts(),
        bitext: bitext(),
      },
      close: () => index.close(),
    };
  },
};

/** Consecutive verse windows of 3–8 verses covering a chapter. */
function splitPassages(chapter: BibleChapter, rng: { int(n: number): number }) {
  const out: Array<{ chapter: BibleChapter; from: number; to: number; range: string }> = [];
  for (let from = 0; from < chapter.verses.length; ) {
    const to = Math.min(chapter.verses.length, from + 3 + rng.int(6));
    if (to - from >= 2) {
      out.push({
        chapter,
        from,
        to,
        range: `${chapter.id}.${chapter.verses[from]?.verse}-${chapter.verses[to - 1]?.verse}`,
      });
    }
    from = to;
  }
  return out;
}
