/** The 66 books of the Protestant canon: SWORD's English name (as `mod2imp` prints it), OSIS id, testament. */
export interface BibleBook {
  osis: string;
  name: string;
  testament: "Old Testament" | "New Testament";
}

const OLD: ReadonlyArray<[string, string]> = [
  ["Gen", "Genesis"],
  ["Exod", "Exodus"],
  ["Lev", "Leviticus"],
  ["Num", "Numbers"],
  ["Deut", "Deuteronomy"],
  ["Josh", "Joshua"],
  ["Judg", "Judges"],
  ["Ruth", "Ruth"],
  ["1Sam", "I Samuel"],
  ["2Sam", "II Samuel"],
  ["1Kgs", "I Kings"],
  ["2Kgs", "II Kings"],
  ["1Chr", "I Chronicles"],
  ["2Chr", "II Chronicles"],
  ["Ezra", "Ezra"],
  ["Neh", "Nehemiah"],
  ["Esth", "Esther"],
  ["Job", "Job"],
  ["Ps", "Psalms"],
  ["Prov", "Proverbs"],
  ["Eccl", "Ecclesiastes"],
  ["Song", "Song of Solomon"],
  ["Isa", "Isaiah"],
  ["Jer", "Jeremiah"],
  ["Lam", "Lamentations"],
  ["Ezek", "Ezekiel"],
  ["Dan", "Daniel"],
  ["Hos", "Hosea"],
  ["Joel", "Joel"],
  ["Amos", "Amos"],
  ["Obad", "Obadiah"],
  ["Jonah", "Jonah"],
  ["Mic", "Micah"],
  ["Nah", "Nahum"],
  ["Hab", "Habakkuk"],
  ["Zeph", "Zephaniah"],
  ["Hag", "Haggai"],
  ["Zech", "Zechariah"],
  ["Mal", "Malachi"],
];
const NEW: ReadonlyArray<[string, string]> = [
  ["Matt", "Matthew"],
  ["Mark", "Mark"],
  ["Luke", "Luke"],
  ["John", "John"],
  ["Acts", "Acts"],
  ["Rom", "Romans"],
  ["1Cor", "I Corinthians"],
  ["2Cor", "II Corinthians"],
  ["Gal", "Galatians"],
  ["Eph", "Ephesians"],
  ["Phil", "Philippians"],
  ["Col", "Colossians"],
  ["1Thess", "I Thessalonians"],
  ["2Thess", "II Thessalonians"],
  ["1Tim", "I Timothy"],
  ["2Tim", "II Timothy"],
  ["Titus", "Titus"],
  ["Phlm", "Philemon"],
  ["Heb", "Hebrews"],
  ["Jas", "James"],
  ["1Pet", "I Peter"],
  ["2Pet", "II Peter"],
  ["1John", "I John"],
  ["2John", "II John"],
  ["3John", "III John"],
  ["Jude", "Jude"],
  ["Rev", "Revelation of John"],
];

export const BIBLE_BOOKS: readonly BibleBook[] = [
  ...OLD.map(([osis, name]): BibleBook => ({ osis, name, testament: "Old Testament" })),
  ...NEW.map(([osis, name]): BibleBook => ({ osis, name, testament: "New Testament" })),
];

export const BIBLE_BOOKS_BY_NAME: ReadonlyMap<string, BibleBook> = new Map(BIBLE_BOOKS.map((b) => [b.name, b]));

/** How the book is usually named in prose ("1 Samuel", "Revelation"). */
export function displayBookName(book: BibleBook): string {
  return book.name
    .replace(/^III /, "3 ")
    .replace(/^II /, "2 ")
    .replace(/^I /, "1 ")
    .replace(/^Revelation of John$/, "Revelation");
}
