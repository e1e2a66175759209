import { existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { collapseWhitespace } from "./text.ts";
import { type CorpusDocument, CorpusMissingError } from "./types.ts";

/**
 * Package documentation under /usr/share/doc: README*, FAQ*, *.md, *.txt (gzipped or not), split into sections at
 * their headings. id = the path under the doc directory, e.g. "zstd/README.md.gz". Copyright and changelog files
 * are skipped (licences and release notes repeat across packages).
 */
export interface DocFile extends CorpusDocument {
  corpus: "docs";
  /** The package directory name. */
  packageName: string;
  /** Sections with a heading and at least a few sentences of body text. */
  sections: Array<{ heading: string; body: string }>;
}

const DOC_NAME = /^(readme|faq)|\.(md|markdown|txt)(\.gz)?$/i;
const SKIPPED = /^(copyright|changelog|news)/i;
const MAX_BYTES = 512 * 1024;

export interface ReadDocsOptions {
  docDir: string;
  include?: (id: string) => boolean;
}

export async function* readDocs(options: ReadDocsOptions): AsyncGenerator<DocFile> {
  if (!existsSync(options.docDir)) throw new CorpusMissingError("docs", `${options.docDir} does not exist`);
  for (const packageName of (await readdir(options.docDir)).sort()) {
    const dir = path.join(options.docDir, packageName);
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      continue; // not a directory
    }
    for (const name of names) {
      if (!DOC_NAME.test(name) || SKIPPED.test(name)) continue;
      const id = `${packageName}/${name}`;
      if (!(options.include?.(id) ?? true)) continue;
      const file = path.join(dir, name);
      const info = await stat(file).catch(() => null);
      if (info === null || !info.isFile() || info.size > MAX_BYTES) continue;
      let bytes = await readFile(file);
      if (name.endsWith(".gz")) bytes = gunzipSync(bytes);
      if (bytes.includes(0)) continue; // binary
      const sections = splitDocSections(bytes.toString("utf8"));
      if (sections.length > 0) yield { corpus: "docs", id, packageName, sections };
    }
  }
}

/**
 * Headings: Markdown "#" lines, setext/RST underlines (=== / --- / ~~~), or short all-caps lines. A section keeps
 * its body when it has at least 150 characters of text.
 */
export function splitDocSections(text: string): Array<{ heading: string; body: string }> {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const sections: Array<{ heading: string; body: string }> = [];
  let heading: string | null = null;
  let body: string[] = [];
  const flush = () => {
    const cleaned = collapseWhitespace(body.join(" ").replace(/[`*_]{1,3}|\[([^\]]*)\]\([^)]*\)/g, "$1"));
    if (heading !== null && heading.length >= 3 && cleaned.length >= 150) sections.push({ heading, body: cleaned });
    body = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const next = lines[i + 1] ?? "";
    const markdown = /^#{1,4}\s+(.+?)\s*#*$/.exec(line);
    const underlined = line.trim() !== "" && /^(={3,}|-{3,}|~{3,})\s*$/.test(next) && line.trim().length < 80;
    const caps = /^[A-Z][A-Z0-9 ,&/-]{2,50}$/.test(line.trim()) && /[A-Z]{3}/.test(line);
    if (markdown !== null || underlined || caps) {
      flush();
      heading = collapseWhitespace(markdown?.[1] ?? line)
        .replace(/[:#=*]+$/, "")
        .trim();
      if (underlined) i++;
      continue;
    }
    if (/^(={3,}|-{3,}|~{3,})\s*$/.test(line)) continue;
    body.push(line);
  }
  flush();
  return sections;
}
