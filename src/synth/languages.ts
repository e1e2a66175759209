/**
 * The languages the paper samples from (REFERENCE.md §3): XLM-R's list (Conneau et al., 2020) without its
 * romanised/Zawgyi script variants, with one entry for Chinese — 93 languages. English takes ~43% of the
 * mass, 13 high-resource languages ~3% each, and the other 79 share the rest (~0.23% each).
 *
 * The paper does not name its high-resource set; ours are widely used languages with large CC-100 shares.
 */

export interface Language {
  /** BCP-47 code, as written into `language` of an example. */
  code: string;
  /** English name, as written into prompts ("... written in {language}"). */
  name: string;
}

export const XLMR_LANGUAGES: readonly Language[] = [
  { code: "af", name: "Afrikaans" },
  { code: "am", name: "Amharic" },
  { code: "ar", name: "Arabic" },
  { code: "as", name: "Assamese" },
  { code: "az", name: "Azerbaijani" },
  { code: "be", name: "Belarusian" },
  { code: "bg", name: "Bulgarian" },
  { code: "bn", name: "Bengali" },
  { code: "br", name: "Breton" },
  { code: "bs", name: "Bosnian" },
  { code: "ca", name: "Catalan" },
  { code: "cs", name: "Czech" },
  { code: "cy", name: "Welsh" },
  { code: "da", name: "Danish" },
  { code: "de", name: "German" },
  { code: "el", name: "Greek" },
  { code: "en", name: "English" },
  { code: "eo", name: "Esperanto" },
  { code: "es", name: "Spanish" },
  { code: "et", name: "Estonian" },
  { code: "eu", name: "Basque" },
  { code: "fa", name: "Persian" },
  { code: "fi", name: "Finnish" },
  { code: "fr", name: "French" },
  { code: "fy", name: "Western Frisian" },
  { code: "ga", name: "Irish" },
  { code: "gd", name: "Scottish Gaelic" },
  { code: "gl", name: "Galician" },
  { code: "gu", name: "Gujarati" },
  { code: "ha", name: "Hausa" },
  { code: "he", name: "Hebrew" },
  { code: "hi", name: "Hindi" },
  { code: "hr", name: "Croatian" },
  { code: "hu", name: "Hungarian" },
  { code: "hy", name: "Armenian" },
  { code: "id", name: "Indonesian" },
  { code: "is", name: "Icelandic" },
  { code: "it", name: "Italian" },
  { code: "ja", name: "Japanese" },
  { code: "jv", name: "Javanese" },
  { code: "ka", name: "Georgian" },
  { code: "kk", name: "Kazakh" },
  { code: "km", name: "Khmer" },
  { code: "kn", name: "Kannada" },
  { code: "ko", name: "Korean" },
  { code: "ku", name: "Kurdish" },
  { code: "ky", name: "Kyrgyz" },
  { code: "la", name: "Latin" },
  { code: "lo", name: "Lao" },
  { code: "lt", name: "Lithuanian" },
  { code: "lv", name: "Latvian" },
  { code: "mg", name: "Malagasy" },
  { code: "mk", name: "Macedonian" },
  { code: "ml", name: "Malayalam" },
  { code: "mn", name: "Mongolian" },
  { code: "mr", name: "Marathi" },
  { code: "ms", name: "Malay" },
  { code: "my", name: "Burmese" },
  { code: "ne", name: "Nepali" },
  { code: "nl", name: "Dutch" },
  { code: "no", name: "Norwegian" },
  { code: "om", name: "Oromo" },
  { code: "or", name: "Odia" },
  { code: "pa", name: "Punjabi" },
  { code: "pl", name: "Polish" },
  { code: "ps", name: "Pashto" },
  { code: "pt", name: "Portuguese" },
  { code: "ro", name: "Romanian" },
  { code: "ru", name: "Russian" },
  { code: "sa", name: "Sanskrit" },
  { code: "sd", name: "Sindhi" },
  { code: "si", name: "Sinhala" },
  { code: "sk", name: "Slovak" },
  { code: "sl", name: "Slovenian" },
  { code: "so", name: "Somali" },
  { code: "sq", name: "Albanian" },
  { code: "sr", name: "Serbian" },
  { code: "su", name: "Sundanese" },
  { code: "sv", name: "Swedish" },
  { code: "sw", name: "Swahili" },
  { code: "ta", name: "Tamil" },
  { code: "te", name: "Telugu" },
  { code: "th", name: "Thai" },
  { code: "tl", name: "Filipino" },
  { code: "tr", name: "Turkish" },
  { code: "ug", name: "Uyghur" },
  { code: "uk", name: "Ukrainian" },
  { code: "ur", name: "Urdu" },
  { code: "uz", name: "Uzbek" },
  { code: "vi", name: "Vietnamese" },
  { code: "xh", name: "Xhosa" },
  { code: "yi", name: "Yiddish" },
  { code: "zh", name: "Chinese" },
];

export const ENGLISH_SHARE = 0.43;
export const HIGH_RESOURCE_SHARE = 0.03;
export const HIGH_RESOURCE_LANGUAGES: readonly string[] = [
  "zh",
  "es",
  "fr",
  "de",
  "ru",
  "ja",
  "pt",
  "it",
  "ar",
  "ko",
  "nl",
  "pl",
  "hi",
];

export interface WeightedLanguage extends Language {
  /** Probability of being sampled; the weights of a distribution sum to 1. */
  weight: number;
}

const BY_CODE = new Map(XLMR_LANGUAGES.map((language) => [language.code, language]));

/** The paper's weighting over all 93 languages. */
export function paperLanguageDistribution(): WeightedLanguage[] {
  const highResource = new Set(HIGH_RESOURCE_LANGUAGES);
  const restCount = XLMR_LANGUAGES.length - 1 - highResource.size;
  const restShare = (1 - ENGLISH_SHARE - HIGH_RESOURCE_SHARE * highResource.size) / restCount;
  return XLMR_LANGUAGES.map((language) => ({
    ...language,
    weight: language.code === "en" ? ENGLISH_SHARE : highResource.has(language.code) ? HIGH_RESOURCE_SHARE : restShare,
  }));
}

export class UnknownLanguageError extends Error {
  constructor(readonly codes: string[]) {
    super(
      `unknown language code(s) ${codes.map((c) => `"${c}"`).join(", ")}; ` +
        `use "paper" or codes from XLM-R's list: ${XLMR_LANGUAGES.map((l) => l.code).join(",")}`,
    );
    this.name = "UnknownLanguageError";
  }
}

/**
 * `--languages`: "paper" (the default) gives the paper's weighting; a comma-separated list of codes gives
 * those languages with equal weight.
 */
export function parseLanguageSpec(spec = "paper"): WeightedLanguage[] {
  const trimmed = spec.trim();
  if (trimmed === "paper") return paperLanguageDistribution();
  const codes = [...new Set(trimmed.split(",").map((code) => code.trim()))].filter((code) => code !== "");
  if (codes.length === 0) throw new UnknownLanguageError([spec]);
  const unknown = codes.filter((code) => !BY_CODE.has(code));
  if (unknown.length > 0) throw new UnknownLanguageError(unknown);
  return codes.map((code) => ({ ...(BY_CODE.get(code) as Language), weight: 1 / codes.length }));
}

/** Samples one language; `random` is a uniform number in [0, 1). */
export function sampleLanguage(distribution: readonly WeightedLanguage[], random: number): WeightedLanguage {
  let remaining = random;
  for (const language of distribution) {
    remaining -= language.weight;
    if (remaining < 0) return language;
  }
  return distribution[distribution.length - 1] as WeightedLanguage;
}
