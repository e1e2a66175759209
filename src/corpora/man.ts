import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { collapseWhitespace } from "./text.ts";
import { type CorpusDocument, CorpusMissingError } from "./types.ts";

/**
 * English man pages rendered by groff (the renderer man-db itself uses), so man(7) and mdoc(7) pages, tbl tables
 * and escapes come out as the text a reader sees. id = "<ext>/<name>" (e.g. "1/ls", "3/printf", "1ssl/CA.pl"):
 * unique per installed page, stable across machines that install the same packages.
 */
export interface ManPage extends CorpusDocument {
  corpus: "man";
  /** File extension after the name: "1", "3pm", "1ssl", ... */
  ext: string;
  /** The manual section digit: "1".."9". */
  section: string;
  name: string;
  /** The NAME line's summary after the dash ("list directory contents"). */
  summary: string;
  /** DESCRIPTION paragraphs (one string per rendered paragraph). */
  description: string[];
  /** OPTIONS paragraphs when the page has such a section. */
  options: string[];
}

/** Section digit → what the manual calls it (man(1)). */
export const MAN_SECTION_NAMES: Readonly<Record<string, string>> = {
  "1": "user command",
  "2": "system call",
  "3": "library function",
  "4": "special file",
  "5": "file format",
  "6": "game",
  "7": "overview or convention",
  "8": "system administration command",
  "9": "kernel routine",
};

export interface ManPageEntry {
  id: string;
  ext: string;
  section: string;
  name: string;
  file: string;
}

/** Every English man page file, sorted by id (cheap: no rendering). */
export async function listManPages(manDir: string): Promise<ManPageEntry[]> {
  if (!existsSync(manDir)) throw new CorpusMissingError("man", `${manDir} does not exist`);
  const entries: ManPageEntry[] = [];
  for (const section of ["1", "2", "3", "4", "5", "6", "7", "8", "9"]) {
    const dir = path.join(manDir, `man${section}`);
    if (!existsSync(dir)) continue;
    for (const fileName of await readdir(dir)) {
      const match = /^(.+)\.(\d[a-z0-9]*)(\.gz)?$/i.exec(fileName);
      const [, name = "", ext = ""] = match ?? [];
      if (match === null || !ext.startsWith(section)) continue;
      entries.push({ id: `${ext}/${name}`, ext, section, name, file: path.join(dir, fileName) });
    }
  }
  entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (entries.length === 0) throw new CorpusMissingError("man", `no pages under ${manDir}/man[1-9]`);
  return entries;
}

export interface ReadManOptions {
  manDir: string;
  /** Called with each page id before rendering; rendering is the expensive part (~30 ms a page). */
  include?: (id: string) => boolean;
  /** groff processes at once (default 2: these machines have two cores). */
  concurrency?: number;
}

/** Pages in id order; alias pages (`.so` redirects) and pages without NAME or DESCRIPTION are skipped. */
export async function* readManPages(options: ReadManOptions): AsyncGenerator<ManPage> {
  const entries = (await listManPages(options.manDir)).filter((e) => options.include?.(e.id) ?? true);
  const concurrency = Math.max(1, options.concurrency ?? 2);
  for (let start = 0; start < entries.length; start += concurrency) {
    const batch = entries.slice(start, start + concurrency);
    const pages = await Promise.all(batch.map((entry) => renderManPage(entry)));
    for (const page of pages) if (page !== null) yield page;
  }
}

export async function renderManPage(entry: ManPageEntry): Promise<ManPage | null> {
  let source = await readFile(entry.file);
  if (entry.file.endsWith(".gz")) source = gunzipSync(source);
  const head = source.subarray(0, 200).toString("latin1");
  if (/^\.so\s/m.test(head) && source.length < 200) return null; // an alias of another page
  const rendered = await groff(source);
  const sections = splitRenderedSections(rendered);
  const nameLine = collapseWhitespace((sections.get("NAME") ?? []).join(" "));
  const dash = /\s[-\u2013\u2014]+\s/.exec(nameLine);
  const description = sections.get("DESCRIPTION") ?? [];
  if (dash === null || description.length === 0) return null;
  const summary = nameLine.slice(dash.index + dash[0].length).trim();
  if (summary === "") return null;
  return {
    corpus: "man",
    id: entry.id,
    ext: entry.ext,
    section: entry.section,
    name: entry.name,
    summary,
    description,
    options: sections.get("OPTIONS") ?? [],
  };
}

function groff(source: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    // -rLL: one rendered line per paragraph (no wrapping); -rHY=0: no hyphenation; -P-cbou: plain text, no
    // overstrike bold/underline; -k: preconv for non-ASCII input; -t: tbl tables.
    const child = execFile(
      "groff",
      ["-mandoc", "-Tutf8", "-k", "-t", "-P-cbou", "-rLL=4000n", "-rHY=0"],
      { maxBuffer: 64 * 1024 * 1024, timeout: 30_000, encoding: "utf8" },
      (error, stdout) => {
        // groff exits non-zero on some warnings but still renders; only a missing binary is fatal.
        if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
          reject(new CorpusMissingError("man", "groff is not installed (Debian groff-base, pulled in by man-db)"));
        } else resolve(stdout ?? "");
      },
    );
    child.stdin?.on("error", () => {}); // groff may exit before reading everything
    child.stdin?.end(source);
  });
}

/** Rendered page → section heading → paragraphs. Headings are unindented lines; body lines are indented. */
export function splitRenderedSections(rendered: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | null = null;
  const lines = rendered.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").replace(/\s+$/, "");
    if (i === 0 || line === "") continue; // header line, blank lines
    if (!/^\s/.test(line)) {
      // A heading; the page footer (last non-empty line) is also unindented but is never a known heading.
      current = [];
      sections.set(line.trim().toUpperCase(), current);
      continue;
    }
    if (current === null) continue;
    const paragraph = collapseWhitespace(line);
    if (paragraph !== "") current.push(paragraph);
  }
  return sections;
}
