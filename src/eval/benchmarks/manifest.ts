/**
 * The visible benchmarks and the query instruction each is evaluated with. These are our own one-sentence task
 * definitions in the style of REFERENCE.md §4 (the paper has no man-page or WordNet task); bitext uses the paper's.
 */
export const VISIBLE_BENCHMARKS = {
  man: {
    kind: "beir",
    instruction:
      "Given a one-line summary of what a command, function or file does, retrieve its manual page description",
  },
  wordnet: {
    kind: "beir",
    instruction: "Given a dictionary definition, retrieve the words it defines",
  },
  sotu: {
    kind: "beir",
    instruction: "Given a passage from a State of the Union address, retrieve the address it comes from",
  },
  bitext: { kind: "bitext", instruction: "Retrieve parallel sentences." },
} as const;

export type VisibleBenchmarkName = keyof typeof VISIBLE_BENCHMARKS;
