import { sampleLanguage, type WeightedLanguage } from "./languages.ts";
import { pick, type Random } from "./llm/rng.ts";

/** The task families the LLM generator writes (REFERENCE.md §3); `long-context` comes from the offline generator. */
export const LLM_FAMILIES = ["short-long", "long-short", "short-short", "long-long", "sts", "bitext"] as const;
export type LlmFamily = (typeof LLM_FAMILIES)[number];

export function isLlmFamily(name: string): name is LlmFamily {
  return (LLM_FAMILIES as readonly string[]).includes(name);
}

/** Families whose examples need a brainstormed task definition first. */
export const BRAINSTORM_FAMILIES: ReadonlySet<LlmFamily> = new Set([
  "short-long",
  "long-short",
  "short-short",
  "long-long",
]);

/** Fixed task definitions of the single-step symmetric families. */
export const FIXED_TASKS: Partial<Record<LlmFamily, string>> = {
  sts: "Retrieve semantically similar text.",
  bitext: "Retrieve parallel sentences.",
};

/** The paper's placeholder value sets (REFERENCE.md §3, "Placeholders sampled per example"). */
export const PLACEHOLDER_VALUES = {
  query_type: ["extremely long-tail", "long-tail", "common"],
  query_length: ["less than 5 words", "5 to 15 words", "at least 10 words"],
  clarity: ["clear", "understandable with some effort", "ambiguous"],
  num_words_short_long: ["50", "100", "200", "300", "400", "500"],
  num_words_long_short: ["less than 10", "at least 10", "at least 50", "at least 100", "at least 200"],
  difficulty_asymmetric: ["high school", "college", "PhD"],
  difficulty_symmetric: ["elementary school", "high school", "college"],
  high_score: ["4", "4.5", "5"],
  low_score_sts: ["2.5", "3", "3.5"],
  low_score_bitext: ["1.5", "2", "2.5"],
  unit: ["sentence", "phrase", "passage"],
} as const;

export interface SampledPlaceholders {
  /** Slot name → text, as filled into the prompt and recorded in the example's `meta.placeholders`. */
  values: Record<string, string>;
  /** The example's `language`: a BCP-47 code, `src-tgt` for bitext. */
  languageCode: string;
}

/**
 * Samples one example's placeholders. Bitext draws a source and a different target language from the same
 * distribution, so it needs at least two languages.
 */
export function samplePlaceholders(
  family: LlmFamily,
  random: Random,
  languages: readonly WeightedLanguage[],
): SampledPlaceholders {
  const v = PLACEHOLDER_VALUES;
  if (family === "bitext") {
    if (languages.length < 2) throw new Error("bitext needs at least two languages (--languages)");
    const source = sampleLanguage(languages, random());
    const others = languages.filter((language) => language.code !== source.code);
    const total = others.reduce((sum, language) => sum + language.weight, 0);
    const target = sampleLanguage(
      others.map((language) => ({ ...language, weight: language.weight / total })),
      random(),
    );
    return {
      languageCode: `${source.code}-${target.code}`,
      values: {
        src_language: source.name,
        tgt_language: target.name,
        unit: pick(v.unit, random),
        high_score: pick(v.high_score, random),
        low_score: pick(v.low_score_bitext, random),
        difficulty: pick(v.difficulty_symmetric, random),
      },
    };
  }
  const language = sampleLanguage(languages, random());
  const base = { language: language.name };
  switch (family) {
    case "short-long":
      return {
        languageCode: language.code,
        values: {
          ...base,
          query_type: pick(v.query_type, random),
          query_length: pick(v.query_length, random),
          clarity: pick(v.clarity, random),
          num_words: pick(v.num_words_short_long, random),
          difficulty: pick(v.difficulty_asymmetric, random),
        },
      };
    case "long-short":
      return {
        languageCode: language.code,
        values: {
          ...base,
          num_words: pick(v.num_words_long_short, random),
          clarity: pick(v.clarity, random),
          difficulty: pick(v.difficulty_asymmetric, random),
        },
      };
    case "short-short":
    case "long-long":
      return { languageCode: language.code, values: base };
    case "sts":
      return {
        languageCode: language.code,
        values: {
          ...base,
          unit: pick(v.unit, random),
          high_score: pick(v.high_score, random),
          low_score: pick(v.low_score_sts, random),
          difficulty: pick(v.difficulty_symmetric, random),
        },
      };
  }
}

export class MissingPlaceholderError extends Error {
  constructor(readonly slot: string) {
    super(`prompt template has a slot {${slot}} with no value`);
    this.name = "MissingPlaceholderError";
  }
}

/** Fills `{name}` slots; a slot without a value is a bug in a template, so it throws rather than leaking "{name}". */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([a-z_]+)\}/g, (_match, slot: string) => {
    const value = values[slot];
    if (value === undefined) throw new MissingPlaceholderError(slot);
    return value;
  });
}
