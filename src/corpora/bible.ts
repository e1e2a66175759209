import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { BIBLE_BOOKS, BIBLE_BOOKS_BY_NAME, type BibleBook } from "./bible-books.ts";
import { collapseWhitespace } from "./text.ts";
import { type CorpusDocument, CorpusMissingError } from "./types.ts";

/**
 * Bible chapters with each verse in every installed translation. The document (and held-out unit) is a chapter,
 * id = "<OSIS book>.<chapter>" (e.g. "Gen.1", "1John.3"), so every translation of a verse and every verse range
 * of a chapter fall on the same side of the split. Verse references in examples' meta are "<id>.<verse>".
 */
export interface BibleChapter extends CorpusDocument {
  corpus: "bible";
  book: BibleBook;
  chapter: number;
  /** Verses present in at least the first translation, in order. */
  verses: Array<{ verse: number; texts: Partial<Record<BibleTranslation, string>> }>;
}

export type BibleTranslation = "KJV" | "WEB" | "RV1909";

/** Installed SWORD modules (Debian sword-text-kjv, sword-text-web, sword-text-sparv). */
export const BIBLE_TRANSLATIONS: ReadonlyArray<{
  key: BibleTranslation;
  module: string;
  language: string;
  title: string;
}> = [
  { key: "KJV", module: "engKJV2006eb", language: "en", title: "King James Version" },
  { key: "WEB", module: "engWEB2015eb", language: "en", title: "World English Bible" },
  { key: "RV1909", module: "spaRV1909eb", language: "es", title: "Reina-Valera 1909" },
];

export interface ReadBibleOptions {
  swordDir: string;
  /** Called with each chapter id before it is kept. */
  include?: (id: string) => boolean;
}

/**
 * Chapters in canonical order. Each module is dumped once with `mod2imp` and held as plain verse text
 * (~4 MB a translation); deuterocanonical books of some modules are ignored.
 */
export async function* readBible(options: ReadBibleOptions): AsyncGenerator<BibleChapter> {
  const installed = BIBLE_TRANSLATIONS.filter((t) =>
    [t.module, t.module.toLowerCase()].some((name) =>
      existsSync(path.join(options.swordDir, "mods.d", `${name}.conf`)),
    ),
  );
  if (!installed.some((t) => t.key === "KJV")) {
    throw new CorpusMissingError("bible", `no KJV module (engKJV2006eb) under ${options.swordDir}`);
  }
  const texts = new Map<BibleTranslation, Map<string, string>>();
  for (const translation of installed) {
    texts.set(translation.key, await dumpModule(options.swordDir, translation.module));
  }
  const kjv = texts.get("KJV") as Map<string, string>;
  // Group KJV verse keys (insertion order is canonical order) by chapter.
  const chapters = new Map<string, number[]>();
  for (const key of kjv.keys()) {
    const dot = key.lastIndexOf(".");
    const chapterId = key.slice(0, dot);
    const verses = chapters.get(chapterId) ?? [];
    chapters.set(chapterId, verses);
    verses.push(Number(key.slice(dot + 1)));
  }
  const byOsis = new Map(BIBLE_BOOKS.map((b) => [b.osis, b]));
  for (const [id, verseNumbers] of chapters) {
    if (!(options.include?.(id) ?? true)) continue;
    const [osis = "", chapter = "0"] = id.split(".");
    yield {
      corpus: "bible",
      id,
      book: byOsis.get(osis) as BibleBook,
      chapter: Number(chapter),
      verses: verseNumbers.map((verse) => {
        const verseTexts: Partial<Record<BibleTranslation, string>> = {};
        for (const [key, map] of texts) {
          const text = map.get(`${id}.${verse}`);
          if (text !== undefined && text !== "") verseTexts[key] = text;
        }
        return { verse, texts: verseTexts };
      }),
    };
  }
}

/** "Genesis 1:1" keyed verse text of one module → Map "Gen.1.1" → plain text. */
async function dumpModule(swordDir: string, moduleName: string): Promise<Map<string, string>> {
  const child = spawn("mod2imp", [moduleName], {
    env: { ...process.env, SWORD_PATH: swordDir },
    stdio: ["ignore", "pipe", "ignore"],
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT"
          ? new CorpusMissingError("bible", "mod2imp is not installed (Debian libsword-utils)")
          : error,
      ),
    );
    child.on("close", () => resolve());
  });
  const verses = new Map<string, string>();
  let key: string | null = null;
  let markup: string[] = [];
  const flush = () => {
    if (key !== null) {
      const text = osisToText(markup.join(" "));
      if (text !== "") verses.set(key, text);
    }
    markup = [];
  };
  const lines = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (line.startsWith("$$$")) {
      flush();
      const match = /^\$\$\$(.+) (\d+):(\d+)$/.exec(line);
      const book = match === null ? undefined : BIBLE_BOOKS_BY_NAME.get(match[1] ?? "");
      key = book === undefined || match === null || match[3] === "0" ? null : `${book.osis}.${match[2]}.${match[3]}`;
    } else if (key !== null) {
      markup.push(line);
    }
  }
  flush();
  await exited;
  return verses;
}

/** OSIS verse markup → reading text: notes and headings dropped, tags removed, entities decoded. */
export function osisToText(markup: string): string {
  const text = markup
    .replace(/<note\b[^>]*>[\s\S]*?<\/note>/g, " ")
    .replace(/<title\b[^>]*>[\s\S]*?<\/title>/g, " ")
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/¶/g, "");
  return collapseWhitespace(text).replace(/\s+([,.;:!?’”])/g, "$1");
}
