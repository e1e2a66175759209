import { chunkText } from "../chunk/index.ts";
import type { Embedder } from "../model/embedder.ts";
import { documentTextRejection } from "./parse.ts";
import { type ChunkRow, chunkId } from "./rows.ts";
import type { IngestDocument, IngestFailure } from "./types.ts";

/** A chunk before it is fitted to the table's metadata struct. */
export interface PendingChunk extends Omit<ChunkRow, "metadata"> {
  rawMetadata: Record<string, unknown> | undefined;
  /** Token count of the text without special tokens (for tokens/s). */
  tokens: number;
  /** Content ids of the text when the chunker already has them (Embedder.encodeContent), so it is not re-tokenised. */
  ids?: number[];
}

export interface ChunkingOptions {
  embedder: Embedder;
  /** One chunk per document (truncated by the model at its max length). */
  whole: boolean;
  chunkTokens: number;
  overlapTokens: number | undefined;
}

/**
 * Validates one document and cuts it into chunks with their ids. Returns a failure instead when the document
 * cannot be embedded (no id, empty, NUL, lone surrogate) or repeats an id seen earlier in this run.
 */
export function prepareDocument(
  doc: IngestDocument,
  seenDocIds: Set<string>,
  options: ChunkingOptions,
): { chunks: PendingChunk[] } | { failure: IngestFailure } {
  if (!doc || typeof doc.id !== "string" || doc.id === "") {
    return { failure: { source: String(doc?.source ?? "(document)"), reason: "document has no string id" } };
  }
  const where = doc.source ?? doc.id;
  const rejected = documentTextRejection(doc.text);
  if (rejected) return { failure: { source: where, reason: rejected } };
  if (seenDocIds.has(doc.id)) return { failure: { source: where, reason: `duplicate document id "${doc.id}"` } };
  seenDocIds.add(doc.id);
  const { embedder } = options;
  const spans = options.whole
    ? [{ text: doc.text, start: 0, end: doc.text.length, tokens: embedder.encode(doc.text).ids.length }]
    : chunkText(doc.text, {
        maxTokens: options.chunkTokens,
        overlapTokens: options.overlapTokens,
        countTokens: (t) => embedder.countTokens(t),
        encode: embedder.encodeContent && embedder.embedContentIds ? (t) => embedder.encodeContent!(t) : undefined,
        encodePieces:
          embedder.encodeContentPieces && embedder.embedContentIds
            ? (t) => embedder.encodeContentPieces!(t)
            : undefined,
      });
  return {
    chunks: spans.map((span, index) => ({
      id: chunkId(doc.id, index, span.text),
      doc_id: doc.id,
      source: doc.source ?? null,
      title: doc.title ?? null,
      text: span.text,
      chunk_index: index,
      char_start: span.start,
      char_end: span.end,
      parent_id: null,
      rawMetadata: doc.metadata,
      tokens: span.tokens,
      ids: "ids" in span ? span.ids : undefined,
    })),
  };
}
