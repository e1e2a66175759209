import { readSotu, type SotuAddress } from "../../corpora/sotu.ts";
import { splitSentences } from "../../corpora/text.ts";
import { Bm25Index } from "../bm25.ts";
import { largestQuota, type SourceBuilder, sameText } from "./builder.ts";
import { longContextExamples } from "./long-context.ts";
import { sampleTrainingPool } from "./pool.ts";
import type { SynthExample } from "./types.ts";

export interface SotuPassage {
  key: string;
  address: SotuAddress;
  /** Position of the passage within its address. */
  position: number;
  sentences: string[];
}

function century(year: number): string {
  const c = Math.floor((year - 1) / 100) + 1;
  const suffix =
    c % 10 === 1 && c !== 11 ? "st" : c % 10 === 2 && c !== 12 ? "nd" : c % 10 === 3 && c !== 13 ? "rd" : "th";
  return `${c}${suffix}-century`;
}

/** State of the Union addresses: continuation retrieval, speaker/party/era labels, next passage, long-context filler. */
export const sotuBuilder: SourceBuilder = {
  source: "sotu",
  families: { "short-long": 2, "long-short": 1, "long-long": 1, "long-context": 1 },
  async prepare(context) {
    // An address gives ~40 passages; sample only as many addresses as the quota needs (sentence splitting costs).
    const size = 12 + Math.ceil(largestQuota(context) / 20);
    const addresses = await sampleTrainingPool(readSotu({ sotuDir: context.roots.sotuDir }), size, context.seed);
    const rng = context.rng;
    const sentencesOf = new Map(addresses.map((a) => [a.id, splitSentences(a.text)]));
    const passages: SotuPassage[] = addresses.flatMap((address) => {
      const sentences = sentencesOf.get(address.id) as string[];
      const out: SotuPassage[] = [];
      for (let at = 0, position = 0; at < sentences.length; position++) {
        const size = 4 + rng.int(5);
        out.push({ key: `${address.id}#${position}`, address, position, sentences: sentences.slice(at, at + size) });
        at += size;
      }
      return out;
    });
    const byKey = new Map(passages.map((p) => [p.key, p]));
    const index = await Bm25Index.build(
      passages.map((p) => ({ key: p.key, text: p.sentences.join(" ") })),
      { dir: context.workDir, name: "passages" },
    );
    const order = rng.fork("order").shuffle([...passages]);
    const rest = (p: SotuPassage) => p.sentences.slice(1).join(" ");
    const meta = (template: string, ids: string[], extra: Record<string, unknown> = {}) => ({
      corpus: "sotu" as const,
      doc_ids: [...new Set(ids)],
      template,
      ...extra,
    });

    async function* shortLong(): AsyncGenerator<SynthExample> {
      for (const p of order) {
        const [first] = p.sentences;
        if (first === undefined || p.sentences.length < 3 || first.length < 40 || first.length > 400) continue;
        const [otherKey] = await index.nearest(
          first,
          (key) => key === p.key || sameText(rest(byKey.get(key) as SotuPassage), rest(p)),
        );
        const other = otherKey === undefined ? undefined : (byKey.get(otherKey) as SotuPassage);
        if (other === undefined || other.sentences.length < 2) continue;
        yield {
          task_family: "short-long",
          instruction: `Given the opening sentence of a paragraph from a ${century(p.address.year)} State of the Union address, retrieve the passage that continues it`,
          query: first,
          positive: rest(p),
          negative: rest(other),
          language: "en",
          source: "offline:sotu",
          meta: meta(`sotu.continuation.${century(p.address.year)}`, [p.address.id, other.address.id], {
            passages: [p.key, other.key],
          }),
        };
      }
    }

    async function* longShort(): AsyncGenerator<SynthExample> {
      const labels: Array<[string, string, (a: SotuAddress) => string]> = [
        [
          "president",
          "Identify the president who delivered a passage of a State of the Union address",
          (a) => a.president,
        ],
        [
          "party",
          "Classify a State of the Union passage by the political party of the president who delivered it",
          (a) => a.party,
        ],
        [
          "era",
          "Given a passage of a State of the Union address, identify the century in which it was delivered",
          (a) => `the ${century(a.year).replace("-century", " century")}`,
        ],
      ];
      // Three passes; the label kind (president, party, century) rotates so every passage gets each once.
      for (const pass of [0, 1, 2])
        for (const [i, p] of order.entries()) {
          const [name, instruction, label] = labels[(pass + i) % 3] as (typeof labels)[number];
          const query = p.sentences.join(" ");
          const [otherKey] = await index.nearest(
            query,
            (key) => label((byKey.get(key) as SotuPassage).address) === label(p.address),
          );
          if (otherKey === undefined) continue;
          const other = byKey.get(otherKey) as SotuPassage;
          yield {
            task_family: "long-short",
            instruction,
            query,
            positive: label(p.address),
            negative: label(other.address),
            language: "en",
            source: "offline:sotu",
            meta: meta(`sotu.label.${name}`, [p.address.id, other.address.id], { passages: [p.key, other.key] }),
          };
        }
    }

    async function* longLong(): AsyncGenerator<SynthExample> {
      for (const p of order) {
        const next = byKey.get(`${p.address.id}#${p.position + 1}`);
        if (next === undefined || next.sentences.length < 2) continue;
        yield {
          task_family: "long-long",
          instruction:
            "Given a passage from a presidential address to Congress, retrieve the passage that immediately follows it",
          query: p.sentences.join(" "),
          positive: next.sentences.join(" "),
          language: "en",
          source: "offline:sotu",
          meta: meta("sotu.next-passage", [p.address.id], { passages: [p.key, next.key] }),
        };
      }
    }

    return {
      streams: {
        "short-long": shortLong(),
        "long-short": longShort(),
        "long-long": longLong(),
        "long-context": longContextExamples(
          addresses.map((a) => ({ id: a.id, sentences: sentencesOf.get(a.id) as string[] })),
          rng.fork("long-context"),
          "sotu",
        ),
      },
      close: () => index.close(),
    };
  },
};
