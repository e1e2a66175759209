import { readDocs } from "../../corpora/docs.ts";
import { truncateWords } from "../../corpora/text.ts";
import { Bm25Index } from "../bm25.ts";
import { foldText, type SourceBuilder, sameText } from "./builder.ts";
import { sampleTrainingPool } from "./pool.ts";
import type { SynthExample } from "./types.ts";

/** /usr/share/doc: section heading → section text, and passage → package labels. */
export const docsBuilder: SourceBuilder = {
  source: "docs",
  families: { "short-long": 1, "long-short": 1 },
  async prepare(context) {
    const files = await sampleTrainingPool(readDocs({ docDir: context.roots.docDir }), 100000, context.seed);
    // Several packages ship the same README (e.g. every gcc runtime library): keep each section text once, and
    // drop sections that are mostly lists of addresses.
    const seenBodies = new Set<string>();
    const sections = files.flatMap((file) =>
      file.sections
        .map((s, i) => ({ key: `${file.id}#${i}`, file, heading: s.heading, body: truncateWords(s.body, 2000) }))
        .filter((s) => {
          const folded = foldText(s.body).slice(0, 400);
          if (!/\p{L}{3}/u.test(s.heading) || (s.body.match(/@/g)?.length ?? 0) > 3 || seenBodies.has(folded))
            return false;
          seenBodies.add(folded);
          return true;
        }),
    );
    const byKey = new Map(sections.map((s) => [s.key, s]));
    const index = await Bm25Index.build(
      sections.map((s) => ({ key: s.key, text: `${s.heading} ${s.body}` })),
      { dir: context.workDir, name: "sections" },
    );
    const order = context.rng.fork("order").shuffle([...sections]);
    const meta = (template: string, ids: string[]) => ({
      corpus: "docs" as const,
      doc_ids: [...new Set(ids)],
      template,
    });

    async function* shortLong(): AsyncGenerator<SynthExample> {
      for (const s of order) {
        const [otherKey] = await index.nearest(
          s.heading,
          (key) => key === s.key || sameText(byKey.get(key)?.body ?? "", s.body),
        );
        if (otherKey === undefined) continue;
        const other = byKey.get(otherKey) as (typeof sections)[number];
        yield {
          task_family: "short-long",
          instruction:
            "Given a section heading from a software package's documentation, retrieve the text of that section",
          query: s.heading,
          positive: s.body,
          negative: other.body,
          language: "en",
          source: "offline:docs",
          meta: meta("docs.heading-to-section", [s.file.id, other.file.id]),
        };
      }
    }

    async function* longShort(): AsyncGenerator<SynthExample> {
      for (const s of order) {
        const [otherKey] = await index.nearest(
          s.body,
          (key) => byKey.get(key)?.file.packageName === s.file.packageName,
        );
        if (otherKey === undefined) continue;
        const other = byKey.get(otherKey) as (typeof sections)[number];
        yield {
          task_family: "long-short",
          instruction: "Given a passage of software documentation, identify the Debian package it documents",
          query: s.body,
          positive: s.file.packageName,
          negative: other.file.packageName,
          language: "en",
          source: "offline:docs",
          meta: meta("docs.package-label", [s.file.id, other.file.id]),
        };
      }
    }

    return { streams: { "short-long": shortLong(), "long-short": longShort() }, close: () => index.close() };
  },
};
