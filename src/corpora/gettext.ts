import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parseMo } from "./mo.ts";
import { type CorpusDocument, CorpusMissingError } from "./types.ts";

/**
 * gettext messages: an English source string (msgid) with its translations in every installed locale.
 * id = first 12 hex digits of SHA-256(msgctxt + "\u0004" + msgid) — the message text, not the domain, so the same
 * English string shipped by two programs (iso_3166 and iso_3166-1, say) falls on the same side of the held-out
 * split. The same id may therefore be yielded once per domain; (domain, id) is unique.
 */
export interface GettextMessage extends CorpusDocument {
  corpus: "gettext";
  /** Text domain = the .mo file's name (usually the program or library). */
  domain: string;
  context?: string;
  msgid: string;
  /** BCP-47 language tag → translation (English variants excluded: the msgid is English). */
  translations: Record<string, string>;
}

export function gettextMessageId(msgid: string, context?: string): string {
  const key = context === undefined ? msgid : `${context}\u0004${msgid}`;
  return createHash("sha256").update(key, "utf8").digest("hex").slice(0, 12);
}

/**
 * Locale directory name → BCP-47 tag, or null for locales that are not a language (en@quot, sr@ije, ...).
 * "pt_BR" → "pt-BR", "sr@latin" → "sr-Latn", "uz@cyrillic" → "uz-Cyrl", "zh_Hans" → "zh-Hans".
 */
export function localeToBcp47(locale: string): string | null {
  const match = /^([a-z]{2,3})(?:_([A-Za-z]{2,4}))?(?:@([a-zA-Z]+))?$/.exec(locale);
  if (match === null) return null;
  const [, language, regionOrScript, modifier] = match;
  const parts = [language];
  if (modifier !== undefined) {
    const script = { latin: "Latn", Latn: "Latn", cyrillic: "Cyrl" }[modifier];
    if (script !== undefined) parts.push(script);
    else if (modifier === "valencia") parts.push("valencia");
    else return null;
  }
  if (regionOrScript !== undefined) {
    parts.splice(
      1,
      0,
      regionOrScript.length === 4
        ? regionOrScript.slice(0, 1).toUpperCase() + regionOrScript.slice(1)
        : regionOrScript.toUpperCase(),
    );
  }
  return parts.join("-");
}

/** Domains whose text is about Debian packaging tools; skipped so nothing near apt's metadata is read. */
const SKIPPED_DOMAINS = /^(apt|libapt|aptitude|debconf|dpkg)/;

export interface ReadGettextOptions {
  localeDir: string;
  /** Called with each domain before its catalogues are parsed. */
  includeDomain?: (domain: string) => boolean;
  /** Called with each message id before it is kept. */
  include?: (id: string) => boolean;
}

/** Messages domain by domain (sorted), each domain's catalogues merged; one domain is in memory at a time. */
export async function* readGettext(options: ReadGettextOptions): AsyncGenerator<GettextMessage> {
  const catalogues = await listCatalogues(options.localeDir);
  for (const [domain, files] of catalogues) {
    if (SKIPPED_DOMAINS.test(domain) || !(options.includeDomain?.(domain) ?? true)) continue;
    const messages = new Map<string, GettextMessage>();
    for (const { language, file } of files) {
      let entries: ReturnType<typeof parseMo>;
      try {
        entries = parseMo(await readFile(file));
      } catch {
        continue; // a damaged catalogue is skipped, not fatal
      }
      for (const entry of entries) {
        const translation = entry.msgstr[0]?.trim() ?? "";
        if (translation === "" || !/\p{L}/u.test(entry.msgid)) continue;
        const id = gettextMessageId(entry.msgid, entry.context);
        if (!(options.include?.(id) ?? true)) continue;
        let message = messages.get(id);
        if (message === undefined) {
          message = { corpus: "gettext", id, domain, context: entry.context, msgid: entry.msgid, translations: {} };
          messages.set(id, message);
        }
        message.translations[language] = translation;
      }
    }
    const ids = [...messages.keys()].sort();
    for (const id of ids) yield messages.get(id) as GettextMessage;
  }
}

/** domain → catalogue files (one per language), both sorted. */
export async function listCatalogues(
  localeDir: string,
): Promise<Map<string, Array<{ language: string; file: string }>>> {
  if (!existsSync(localeDir)) throw new CorpusMissingError("gettext", `${localeDir} does not exist`);
  const byDomain = new Map<string, Array<{ language: string; file: string }>>();
  for (const locale of (await readdir(localeDir)).sort()) {
    const language = localeToBcp47(locale);
    if (language === null || language === "en" || language.startsWith("en-")) continue;
    const dir = path.join(localeDir, locale, "LC_MESSAGES");
    if (!existsSync(dir)) continue;
    for (const fileName of (await readdir(dir)).sort()) {
      if (!fileName.endsWith(".mo")) continue;
      const domain = fileName.slice(0, -3);
      const files = byDomain.get(domain) ?? [];
      byDomain.set(domain, files);
      files.push({ language, file: path.join(dir, fileName) });
    }
  }
  if (byDomain.size === 0) throw new CorpusMissingError("gettext", `no .mo catalogues under ${localeDir}`);
  return new Map([...byDomain.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
