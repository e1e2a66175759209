import path from "node:path";
import { convert as htmlToText } from "html-to-text";
import type { IngestDocument, IngestFailure } from "./types.ts";

export type SourceFormat = "txt" | "md" | "html" | "jsonl" | "beir";

export interface ParseOptions {
  textField: string;
  idField: string;
  titleField: string;
}

export const DEFAULT_PARSE_OPTIONS: ParseOptions = { textField: "text", idField: "id", titleField: "title" };

/** How a source is read, from its name: BEIR `corpus.jsonl`, other `.jsonl`, Markdown, HTML, else plain text. */
export function formatOf(sourceId: string): SourceFormat {
  const base = path.posix.basename(sourceId).toLowerCase();
  const ext = path.posix.extname(base);
  if (base === "corpus.jsonl") return "beir";
  if (ext === ".jsonl") return "jsonl";
  if (ext === ".md" || ext === ".markdown") return "md";
  if (ext === ".html" || ext === ".htm") return "html";
  return "txt";
}

/** Why a document's text cannot be embedded (the runtime rejects these too), or null. */
export function documentTextRejection(text: unknown): string | null {
  if (typeof text !== "string") return `text is ${text === null ? "null" : typeof text}, not a string`;
  if (text.trim() === "") return "empty";
  if (text.includes("\u0000")) return "binary (contains NUL characters)";
  if (/\p{Cs}/u.test(text)) return "text contains a lone UTF-16 surrogate";
  return null;
}

function markdownTitle(text: string): string | undefined {
  const match = /^#\s+(.+?)\s*#*\s*$/m.exec(text);
  return match?.[1];
}

function htmlTitle(html: string): string | undefined {
  const match = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html);
  const title = match?.[1] ? htmlToText(match[1], { wordwrap: false }).trim() : "";
  return title === "" ? undefined : title;
}

export interface ParsedSource {
  documents: IngestDocument[];
  failures: IngestFailure[];
}

/**
 * Turns one source's text into documents. Files become one document whose id is the canonical source id;
 * JSONL lines become one document each (id from `idField`, else "<source>#<line>"); BEIR `corpus.jsonl` lines
 * are `{_id, title, text}` with title and text joined by a newline when the title is non-empty. A bad line is
 * a failure naming its line; the other lines are still ingested.
 */
export function parseSource(
  sourceId: string,
  text: string,
  options: ParseOptions = DEFAULT_PARSE_OPTIONS,
): ParsedSource {
  const format = formatOf(sourceId);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (format === "jsonl" || format === "beir") return parseJsonl(sourceId, body, format, options);
  if (format === "html") {
    const plain = htmlToText(body, { wordwrap: false, selectors: [{ selector: "a", options: { ignoreHref: true } }] });
    return single(sourceId, plain, htmlTitle(body), format);
  }
  return single(sourceId, body, format === "md" ? markdownTitle(body) : undefined, format);
}

function single(sourceId: string, text: string, title: string | undefined, format: SourceFormat): ParsedSource {
  const rejected = documentTextRejection(text);
  if (rejected) return { documents: [], failures: [{ source: sourceId, reason: rejected }] };
  const doc: IngestDocument = { id: sourceId, text, source: sourceId, metadata: { format } };
  if (title !== undefined) doc.title = title;
  return { documents: [doc], failures: [] };
}

function parseJsonl(sourceId: string, text: string, format: "jsonl" | "beir", options: ParseOptions): ParsedSource {
  const documents: IngestDocument[] = [];
  const failures: IngestFailure[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const where = `${sourceId}:${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      failures.push({ source: where, reason: `invalid JSON: ${(error as Error).message}` });
      continue;
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      failures.push({ source: where, reason: "line is not a JSON object" });
      continue;
    }
    const r = record as Record<string, unknown>;
    const idValue = format === "beir" ? r._id : r[options.idField];
    const id = typeof idValue === "string" || typeof idValue === "number" ? String(idValue) : `${sourceId}#${i + 1}`;
    const titleValue = r[format === "beir" ? "title" : options.titleField];
    const title = typeof titleValue === "string" && titleValue.trim() !== "" ? titleValue : undefined;
    let body = r[format === "beir" ? "text" : options.textField];
    if (format === "beir" && typeof body === "string" && title !== undefined) body = `${title}\n${body}`;
    const rejected = documentTextRejection(body);
    if (rejected) {
      const field = format === "beir" ? "text" : options.textField;
      failures.push({ source: where, reason: body === undefined ? `no "${field}" field` : rejected });
      continue;
    }
    const given = r.metadata && typeof r.metadata === "object" && !Array.isArray(r.metadata) ? r.metadata : {};
    const metadata: Record<string, unknown> = { ...given, format };
    const doc: IngestDocument = { id, text: body as string, source: sourceId, metadata };
    if (title !== undefined) doc.title = title;
    documents.push(doc);
  }
  return { documents, failures };
}
