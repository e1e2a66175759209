import { type GettextMessage, readGettext } from "../../corpora/gettext.ts";
import { Bm25Index } from "../bm25.ts";
import { largestQuota, type SourceBuilder, sameText } from "./builder.ts";
import { sampleTrainingPool } from "./pool.ts";
import type { SynthExample } from "./types.ts";

const languageNames = new Intl.DisplayNames(["en"], { type: "language" });

/** English name of a BCP-47 tag ("pt-BR" → "Brazilian Portuguese"); the tag itself when unknown. */
export function languageName(tag: string): string {
  try {
    return languageNames.of(tag) ?? tag;
  } catch {
    return tag;
  }
}

/**
 * Interface strings carry keyboard-mnemonic markers ("_Open", "&Open", CJK "打开(_O)"); drop them so the texts read
 * as prose. Applied to copies only; the corpus reader returns the catalogue text unchanged.
 */
export function stripMnemonics(text: string): string {
  return text
    .replace(/\s*\([_&]\p{L}\)/gu, "")
    .replace(/(^|[^\p{L}\p{N}_&])[_&](?=\p{L})/gu, "$1")
    .trim();
}

/** The script of a text's first letter, to pick misleading language labels in the same script. */
function scriptOf(text: string): string {
  for (const script of ["Latin", "Cyrillic", "Greek", "Arabic", "Hebrew", "Han", "Hangul", "Devanagari", "Thai"]) {
    if (new RegExp(`\\p{Script=${script}}`, "u").test(text)) return script;
  }
  return "other";
}

const BITEXT_PASSES = 6;

/** gettext catalogues: bitext in 150+ languages, language identification and source-program labels. */
export const gettextBuilder: SourceBuilder = {
  source: "gettext",
  families: { bitext: 3, "long-short": 2 },
  async prepare(context) {
    const size = Math.ceil(largestQuota(context) * 1.3) + 500;
    const pool = (
      await sampleTrainingPool(readGettext({ localeDir: context.roots.localeDir }), size, context.seed, {
        key: (m) => `${m.domain}:${m.id}`,
        accept: (m) => Object.keys(m.translations).length > 0 && m.msgid.length <= 600,
      })
    ).map(
      (m): GettextMessage => ({
        ...m,
        msgid: stripMnemonics(m.msgid),
        translations: Object.fromEntries(Object.entries(m.translations).map(([l, t]) => [l, stripMnemonics(t)])),
      }),
    );
    const keyOf = (m: GettextMessage) => `${m.domain}:${m.id}`;
    const byKey = new Map(pool.map((m) => [keyOf(m), m]));
    const index = await Bm25Index.build(
      pool.map((m) => ({ key: keyOf(m), text: m.msgid })),
      { dir: context.workDir, name: "msgids" },
    );
    const rng = context.rng;
    const meta = (template: string, messages: GettextMessage[], extra: Record<string, unknown>) => ({
      corpus: "gettext" as const,
      doc_ids: messages.map((m) => m.id),
      template,
      domains: messages.map((m) => m.domain),
      ...extra,
    });

    // A message has translations in up to ~170 languages: later passes pick other languages (the orchestrator drops
    // exact repeats), so bitext capacity is far larger than the number of messages.
    async function* bitext(): AsyncGenerator<SynthExample> {
      for (let pass = 0; pass < BITEXT_PASSES; pass++)
        for (const message of pool) {
          const languages = Object.keys(message.translations).filter(
            (l) => !sameText(message.translations[l] as string, message.msgid),
          );
          if (languages.length === 0) continue;
          const language = rng.pick(languages);
          const translation = message.translations[language] as string;
          const neighbours = await index.nearest(
            message.msgid,
            (key) => {
              const other = byKey.get(key) as GettextMessage;
              const otherTranslation = other.translations[language];
              return (
                key === keyOf(message) ||
                other.id === message.id ||
                otherTranslation === undefined ||
                sameText(otherTranslation, translation) ||
                sameText(other.msgid, message.msgid)
              );
            },
            { limit: 1 },
          );
          const other = neighbours[0] === undefined ? undefined : (byKey.get(neighbours[0]) as GettextMessage);
          if (other === undefined) continue;
          const toEnglish = rng.next() < 0.3;
          yield {
            task_family: "bitext",
            instruction: "Retrieve parallel sentences.",
            query: toEnglish ? translation : message.msgid,
            positive: toEnglish ? message.msgid : translation,
            negative: toEnglish ? other.msgid : (other.translations[language] as string),
            language: toEnglish ? `${language}-en` : `en-${language}`,
            source: "offline:gettext",
            meta: meta("gettext.parallel", [message, other], { target_language: language }),
          };
        }
    }

    async function* longShort(): AsyncGenerator<SynthExample> {
      for (const message of pool) {
        if (rng.next() < 0.5) {
          const languages = Object.keys(message.translations);
          const language = rng.pick(languages);
          const text = message.translations[language] as string;
          const script = scriptOf(text);
          const others = languages.filter((l) => languageName(l) !== languageName(language));
          const sameScript = others.filter((l) => scriptOf(message.translations[l] as string) === script);
          const wrongPool = sameScript.length > 0 ? sameScript : others;
          if (wrongPool.length === 0 || sameText(text, message.msgid)) continue;
          yield {
            task_family: "long-short",
            instruction: "Identify the language of a user-interface message",
            query: text,
            positive: languageName(language),
            negative: languageName(rng.pick(wrongPool)),
            language,
            source: "offline:gettext",
            meta: meta("gettext.language-label", [message], { target_language: language }),
          };
        } else {
          const [otherKey] = await index.nearest(message.msgid, (key) => byKey.get(key)?.domain === message.domain);
          if (otherKey === undefined) continue;
          const other = byKey.get(otherKey) as GettextMessage;
          yield {
            task_family: "long-short",
            instruction:
              "Given a message shown by a program's user interface, identify the software package it comes from",
            query: message.msgid,
            positive: message.domain,
            negative: other.domain,
            language: "en",
            source: "offline:gettext",
            meta: meta("gettext.domain-label", [message, other], {}),
          };
        }
      }
    }

    return { streams: { bitext: bitext(), "long-short": longShort() }, close: () => index.close() };
  },
};
