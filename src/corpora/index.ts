/** Offline corpus readers (README.md in this folder documents each corpus, its document ids and its install). */
export { BIBLE_TRANSLATIONS, type BibleChapter, type BibleTranslation, readBible } from "./bible.ts";
export { BIBLE_BOOKS, type BibleBook, displayBookName } from "./bible-books.ts";
export { type DocFile, readDocs } from "./docs.ts";
export { type GettextMessage, gettextMessageId, localeToBcp47, readGettext } from "./gettext.ts";
export { listManPages, MAN_SECTION_NAMES, type ManPage, readManPages } from "./man.ts";
export { defaultCorpusRoots } from "./roots.ts";
export { readSotu, SOTU_PARTIES, type SotuAddress } from "./sotu.ts";
export { type CorpusDocument, CorpusMissingError, type CorpusName, type CorpusRoots } from "./types.ts";
export { readWordnet, type Synset, WORDNET_LEX_FILES, WORDNET_POS_NAMES, type WordnetPos } from "./wordnet.ts";
