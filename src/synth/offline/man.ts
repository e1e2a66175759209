import { listManPages, MAN_SECTION_NAMES, type ManPage, type ManPageEntry, readManPages } from "../../corpora/man.ts";
import { truncateWords } from "../../corpora/text.ts";
import { Bm25Index } from "../bm25.ts";
import { type BuilderContext, foldText, largestQuota, type SourceBuilder, sameText } from "./builder.ts";
import { selectTrainingIds } from "./pool.ts";
import { seededRank } from "./random.ts";
import type { SynthExample } from "./types.ts";

/** Man pages: NAME summary ↔ DESCRIPTION, section classification, name → summary, DESCRIPTION → OPTIONS. */
export const manBuilder: SourceBuilder = {
  source: "man",
  families: { "short-long": 3, "long-short": 2, "short-short": 1, "long-long": 1 },
  async prepare(context) {
    // Rendering is the cost (~30-60 ms a page), so choose page ids first and render only those; ~25% of pages
    // (aliases, pages without DESCRIPTION) are skipped, hence the margin.
    const entries = capFamilies(await listManPages(context.roots.manDir), context.seed);
    const wanted = selectTrainingIds(
      "man",
      entries.map((e) => e.id),
      Math.ceil(largestQuota(context) * 1.4) + 40,
      context.seed,
    );
    const pages: ManPage[] = [];
    for await (const page of readManPages({ manDir: context.roots.manDir, include: (id) => wanted.has(id) })) {
      if (!restatesSummary(page)) pages.push(page);
    }
    // Alias pages (lastb → last) render the same text: keep one page per description.
    const seen = new Set<string>();
    for (let i = pages.length - 1; i >= 0; i--) {
      const folded = foldText((pages[i] as ManPage).description.join(" ")).slice(0, 400);
      if (seen.has(folded)) pages.splice(i, 1);
      seen.add(folded);
    }
    context.rng.fork("order").shuffle(pages);
    const byId = new Map(pages.map((p) => [p.id, p]));
    const description = (page: ManPage) => truncateWords(page.description.join("\n"), 2000);
    const index = await Bm25Index.build(
      pages.map((p) => ({ key: p.id, text: `${p.summary} ${description(p)}`, group: p.section })),
      { dir: context.workDir, name: "man" },
    );
    const sectionName = (page: ManPage) => MAN_SECTION_NAMES[page.section] ?? "manual page";
    const rng = context.rng;
    const meta = (template: string, ids: string[], extra: Record<string, unknown> = {}) => ({
      corpus: "man" as const,
      doc_ids: ids,
      template,
      ...extra,
    });

    async function* shortLong(): AsyncGenerator<SynthExample> {
      for (const page of pages) {
        const positive = description(page);
        const [other] = await index.nearest(
          page.summary,
          (key) => key === page.id || sameText(description(byId.get(key) as ManPage), positive),
        );
        if (other === undefined) continue;
        yield {
          task_family: "short-long",
          instruction: `Given a one-line summary of a ${sectionName(page)}, retrieve the manual page text that describes it`,
          query: page.summary,
          positive,
          negative: description(byId.get(other) as ManPage),
          language: "en",
          source: "offline:man",
          meta: meta(`man.summary-to-description.${page.section}`, [page.id, other]),
        };
      }
    }

    async function* longShort(): AsyncGenerator<SynthExample> {
      const sections = [...new Set(pages.map(sectionName))];
      for (const page of pages) {
        const query = truncateWords(page.description.join("\n"), 1200);
        const [other] = await index.nearest(query, (key) => byId.get(key)?.section === page.section);
        const wrong =
          other !== undefined
            ? sectionName(byId.get(other) as ManPage)
            : rng.pick(sections.filter((s) => s !== sectionName(page)).concat(["library function"]));
        if (wrong === sectionName(page)) continue;
        const variant = rng.int(2);
        yield {
          task_family: "long-short",
          instruction:
            variant === 0
              ? "Classify a manual page description by the kind of manual entry it documents"
              : "Given an excerpt of a Unix manual page, identify which manual section it belongs to",
          query,
          positive: sectionName(page),
          negative: wrong,
          language: "en",
          source: "offline:man",
          meta: meta(`man.section-label.${variant}`, other === undefined ? [page.id] : [page.id, other]),
        };
      }
    }

    async function* shortShort(): AsyncGenerator<SynthExample> {
      for (const page of pages) {
        if (page.name.length < 2 || sameText(page.name, page.summary)) continue;
        yield {
          task_family: "short-short",
          instruction: `Given the name of a ${sectionName(page)}, retrieve its one-line summary`,
          query: page.name,
          positive: page.summary,
          language: "en",
          source: "offline:man",
          meta: meta(`man.name-to-summary.${page.section}`, [page.id]),
        };
      }
    }

    async function* longLong(): AsyncGenerator<SynthExample> {
      for (const page of pages) {
        if (page.options.length < 2) continue;
        yield {
          task_family: "long-long",
          instruction: "Given the description of a command-line program, retrieve the documentation of its options",
          query: description(page),
          positive: truncateWords(page.options.join("\n"), 2000),
          language: "en",
          source: "offline:man",
          meta: meta("man.description-to-options", [page.id]),
        };
      }
    }

    return {
      streams: {
        "short-long": shortLong(),
        "long-short": longShort(),
        "short-short": shortShort(),
        "long-long": longLong(),
      },
      close: () => index.close(),
    };
  },
};

export type { BuilderContext };

/**
 * At most this many pages per command family ("gcloud_*", "git-*", "llvm-*", ...). The Google Cloud CLI alone
 * installs ~16,600 of the ~22,000 pages here, most one-line stubs: uncapped it would be three quarters of the corpus.
 */
export const MAN_FAMILY_CAP = 600;

export function manFamily(name: string): string {
  return name.split(/[_.:-]/)[0] ?? name;
}

/** Which pages of a large family survive is drawn with its own seed label, independent of the pool sample's ranks. */
function capFamilies(entries: ManPageEntry[], seed: string): ManPageEntry[] {
  const ranked = [...entries].sort(
    (a, b) => seededRank(`${seed}/family-cap`, a.id) - seededRank(`${seed}/family-cap`, b.id) || (a.id < b.id ? -1 : 1),
  );
  const perFamily = new Map<string, number>();
  const kept = new Set<string>();
  for (const entry of ranked) {
    const family = manFamily(entry.name);
    const n = perFamily.get(family) ?? 0;
    if (n >= MAN_FAMILY_CAP) continue;
    perFamily.set(family, n + 1);
    kept.add(entry.id);
  }
  return entries.filter((e) => kept.has(e.id));
}

/** A DESCRIPTION that only repeats the NAME line ("Updates a domain mapping.") teaches nothing. */
function restatesSummary(page: ManPage): boolean {
  const description = foldText(page.description.join(" "));
  const summary = foldText(page.summary);
  return description.length < 80 || (description.length < summary.length + 80 && description.includes(summary));
}
