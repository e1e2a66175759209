import { createHash } from "node:crypto";
import { Document, type DocumentInterface } from "@langchain/core/documents";
import { documentTextRejection } from "../../src/ingest/parse.ts";
import type { IngestDocument } from "../../src/ingest/types.ts";
import type { SearchResult } from "../../src/search/index.ts";

/**
 * How LangChain Documents map onto lance-e5 rows, both ways:
 *
 *   Document.id (or options.ids[i])   ↔ doc_id   (else a content hash, so adding the same Document twice is a no-op)
 *   pageContent                        ↔ text     (lance-e5 chunks long texts; each hit is one chunk)
 *   metadata.source / metadata.title   ↔ the `source` / `title` columns (source defaults to the doc id)
 *   other metadata keys                ↔ the `metadata` struct (typed children, else its JSON `extra`)
 *   —                                  → metadata.doc_id, metadata.chunk_id on search results (ignored on input)
 */

/** Metadata keys that search results carry and that are never stored as metadata. */
const RESULT_ONLY_KEYS = ["doc_id", "chunk_id"];

/** A Document (or an `ids` option) that cannot be stored as given; nothing of the batch was written. */
export class DocumentError extends Error {
  constructor(
    /** Position of the document in the call. */
    readonly index: number,
    problem: string,
  ) {
    super(`document ${index}: ${problem}`);
    this.name = "DocumentError";
  }
}

/**
 * Checks a whole batch and turns it into ingest documents before anything is written, so a bad document
 * fails the call with nothing stored. Returns the doc ids in input order (duplicates of an identical derived
 * document share one id and are stored once).
 */
export function toIngestDocuments(
  documents: readonly DocumentInterface[],
  ids: readonly string[] | undefined,
): { ids: string[]; documents: IngestDocument[] } {
  if (ids !== undefined && ids.length !== documents.length) {
    throw new DocumentError(0, `options.ids has ${ids.length} ids for ${documents.length} documents`);
  }
  const out: IngestDocument[] = [];
  const byId = new Map<string, { index: number; explicit: boolean }>();
  const resultIds = documents.map((doc, index) => {
    const rejected = documentTextRejection(doc?.pageContent);
    if (rejected) throw new DocumentError(index, `pageContent: ${rejected}`);
    const { source, title, ...rest } = doc.metadata ?? {};
    for (const [name, value] of [
      ["source", source],
      ["title", title],
    ] as const) {
      if (value !== undefined && value !== null && typeof value !== "string") {
        throw new DocumentError(index, `metadata.${name} must be a string (it is the "${name}" column)`);
      }
    }
    for (const key of RESULT_ONLY_KEYS) delete rest[key];
    const given = ids?.[index] ?? doc.id;
    if (given !== undefined && (typeof given !== "string" || given === "")) {
      throw new DocumentError(index, "id must be a non-empty string");
    }
    const id = given ?? contentId(doc.pageContent, source, title, rest);
    const seen = byId.get(id);
    if (seen) {
      // The same derived id means the same content and metadata: store it once. Two given ids that collide
      // name two documents the caller thinks are different.
      if (given !== undefined || seen.explicit) {
        throw new DocumentError(index, `duplicate id "${id}" (also document ${seen.index})`);
      }
      return id;
    }
    byId.set(id, { index, explicit: given !== undefined });
    out.push({
      id,
      text: doc.pageContent,
      source: typeof source === "string" ? source : undefined,
      title: typeof title === "string" ? title : undefined,
      metadata: rest,
    });
    return id;
  });
  return { ids: resultIds, documents: out };
}

/** A stable id from what a Document is: hex SHA-256 of its text and metadata (keys sorted), 32 chars. */
function contentId(text: string, source: unknown, title: unknown, metadata: Record<string, unknown>): string {
  const sorted = Object.fromEntries(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash("sha256")
    .update(JSON.stringify([text, source ?? null, title ?? null, sorted]), "utf8")
    .digest("hex")
    .slice(0, 32);
}

/** A search hit as a LangChain Document: the chunk's text, its document's id, flat metadata. */
export function toDocument(result: SearchResult): Document {
  const metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(result.metadata)) {
    if (value !== null && value !== undefined) metadata[key] = value; // unset struct children are nulls
  }
  if (result.source !== null) metadata.source = result.source;
  if (result.title !== null) metadata.title = result.title;
  metadata.doc_id = result.doc_id;
  metadata.chunk_id = result.id;
  return new Document({ pageContent: result.text, metadata, id: result.doc_id ?? undefined });
}
