/**
 * Token-aware splitting: chunk sizes are counted in the model's tokens, never characters. Text is cut at
 * paragraph, then sentence, then word, then character boundaries — the coarsest level that fits — and the
 * pieces are packed greedily into chunks. Every chunk is an exact slice of the source text, so offsets stay
 * valid (`text.slice(start, end) === chunk.text`). The long-context work extends this module (parent/child
 * chunks); keep it free of embedding and storage.
 */

export interface TextChunk {
  text: string;
  /** Offsets into the source text (UTF-16 code units). */
  start: number;
  end: number;
  /** Token count of `text` without special tokens (from its pieces; exact or an upper bound up to ~1 token). */
  tokens: number;
  /**
   * With `ChunkOptions.encode`: the content ids of exactly `text` when the chunker already tokenised that very
   * string (a chunk of one piece, or one it re-counted), so the embedder need not tokenise it again. Absent
   * otherwise (a chunk packed from several pieces: the ids of a joined text are not the pieces' ids joined).
   */
  ids?: number[];
}

export interface ChunkOptions {
  /** Most tokens per chunk, special tokens excluded. */
  maxTokens: number;
  /** Tokens of the previous chunk's tail repeated at the start of the next (default 0). */
  overlapTokens?: number;
  /** The model's token count of a text without special tokens (Embedder.countTokens). */
  countTokens: (text: string) => number;
  /** The model's content ids of a text (Embedder.encodeContent): used instead of countTokens, and kept. */
  encode?: (text: string) => number[];
  /**
   * Like encode, with the pieces the ids were tokenised in (Embedder.encodeContentPieces): a run of words that
   * is a run of whole pieces of a sentence already tokenised takes its ids from there instead of being tokenised
   * again. Used instead of encode when given.
   */
  encodePieces?: (text: string) => { ids: number[]; pieces: Array<{ start: number; end: number; firstId: number }> };
}

interface Span {
  start: number;
  end: number;
  tokens: number;
  /** The ids of text.slice(counted.start, counted.end), when encode was given. */
  counted?: Counted;
}

interface Counted {
  start: number;
  end: number;
  ids: number[];
  /** With encodePieces: the pieces (absolute offsets) the ids were tokenised in. */
  pieces?: Array<{ start: number; end: number; firstId: number }>;
}

/** Tokenises text[start, end) (trailing whitespace dropped when `trimEnd`) once: count, and ids with `encode`. */
function measure(
  text: string,
  start: number,
  end: number,
  trimEnd: boolean,
  options: ChunkOptions,
): { tokens: number; counted?: Span["counted"] } {
  const piece = trimEnd ? text.slice(start, end).trimEnd() : text.slice(start, end);
  if (options.encodePieces) {
    const { ids, pieces } = options.encodePieces(piece);
    const absolute = pieces.map((p) => ({ start: start + p.start, end: start + p.end, firstId: p.firstId }));
    return { tokens: ids.length, counted: { start, end: start + piece.length, ids, pieces: absolute } };
  }
  if (!options.encode) return { tokens: options.countTokens(piece) };
  const ids = options.encode(piece);
  return { tokens: ids.length, counted: { start, end: start + piece.length, ids } };
}

/**
 * The measure of text[start, end) (trailing whitespace dropped) taken from a sentence already tokenised in pieces,
 * when it is a run of whole pieces; undefined otherwise (the caller tokenises it).
 */
function measureFromPieces(
  text: string,
  start: number,
  end: number,
  sentence: Counted | undefined,
): { tokens: number; counted: Counted } | undefined {
  const pieces = sentence?.pieces;
  if (!sentence || !pieces) return undefined;
  const trimmedEnd = start + text.slice(start, end).trimEnd().length;
  const first = pieces.findIndex((p) => p.start === start);
  const last = pieces.findIndex((p) => p.end === trimmedEnd);
  if (first < 0 || last < first) return undefined;
  const ids = sentence.ids.slice(pieces[first]!.firstId, pieces[last + 1]?.firstId ?? sentence.ids.length);
  return { tokens: ids.length, counted: { start, end: trimmedEnd, ids } };
}

// Cut after these boundaries; each level is tried only when a piece of the previous level is too long.
const PARAGRAPH = /\n[ \t]*\n\s*/g;
const SENTENCE = /[.!?\u2026\u3002\uff01\uff1f]+["'\u201d\u2019)\]]*\s+|[\u3002\uff01\uff1f]+|\n/g;
const WORD = /\s+/g;
const LEVELS = [PARAGRAPH, SENTENCE];

/**
 * Pieces longer than this many characters per allowed token are split before being counted at all: the
 * SentencePiece tokenizers without a pre-tokenizer are super-linear on long strings (ENVIRONMENT.md).
 */
const MAX_CHARS_PER_TOKEN = 16;

function cutPoints(text: string, start: number, end: number, pattern: RegExp): number[] {
  const slice = text.slice(start, end);
  const cuts: number[] = [];
  pattern.lastIndex = 0;
  for (let m = pattern.exec(slice); m !== null; m = pattern.exec(slice)) {
    if (m[0].length === 0) {
      pattern.lastIndex++;
      continue;
    }
    const cut = start + m.index + m[0].length;
    if (cut < end) cuts.push(cut);
  }
  return cuts;
}

/** Largest prefix end of [start, end) whose token count fits (binary search over characters). */
function fittingPrefixEnd(text: string, start: number, end: number, max: number, count: (t: string) => number): number {
  let lo = start + 1;
  let hi = Math.min(end, start + max * MAX_CHARS_PER_TOKEN);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (count(text.slice(start, mid)) <= max) lo = mid;
    else hi = mid - 1;
  }
  // Never split a surrogate pair.
  if (lo < end && isLowSurrogate(text.charCodeAt(lo)) && lo - 1 > start) lo--;
  return lo;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Levels below this are always cut (paragraphs and sentences); deeper ones only when a piece is too long. */
const FORCED_LEVELS = 2;

/**
 * Splits [start, end) into sentence-or-smaller spans of at most `max` tokens each. Levels: 0 paragraphs,
 * 1 sentences (both always cut), 2 a sentence (kept whole when it fits, else runs of words), 3 a single word
 * (cut by characters).
 */
function splitToFit(text: string, start: number, end: number, level: number, options: ChunkOptions, out: Span[]): void {
  const { maxTokens: max, countTokens: count } = options;
  if (level < FORCED_LEVELS) {
    // Packing sentences (not whole paragraphs) fills chunks evenly and lets overlap repeat sentences.
    const cuts = cutPoints(text, start, end, LEVELS[level]!);
    let from = start;
    for (const cut of [...cuts, end]) {
      splitToFit(text, from, cut, level + 1, options, out);
      from = cut;
    }
    return;
  }
  let tokens: number | undefined;
  let sentence: Counted | undefined;
  if (end - start <= max * MAX_CHARS_PER_TOKEN) {
    // Trailing whitespace (the separator we cut after) is dropped when the piece ends a chunk, so it does not
    // count against the fit; joins are accounted for when packing.
    const measured = measure(text, start, end, true, options);
    tokens = measured.tokens;
    if (tokens <= max) {
      out.push({ start, end, tokens, counted: measured.counted });
      return;
    }
    sentence = measured.counted;
  }
  const words = level === FORCED_LEVELS ? cutPoints(text, start, end, WORD) : [];
  if (words.length > 0) {
    splitWordGroups(text, [start, ...words, end], tokens, sentence, options, out);
    return;
  }
  // No boundary left: cut by characters.
  let from = start;
  while (from < end) {
    const to = fittingPrefixEnd(text, from, end, max, count);
    const measured = measure(text, from, to, false, options);
    out.push({ start: from, end: to, tokens: measured.tokens, counted: measured.counted });
    from = to;
  }
}

/**
 * Cuts a too-long sentence into runs of whole words that fit. Counting every word alone would tokenise the
 * sentence word by word (thousands of tokenizer calls per document at small chunk sizes); instead each run's
 * length is guessed from the sentence's characters per token and checked with one count (shrunk if over), so
 * a run costs about one tokenizer call. A single word that does not fit is cut by characters.
 */
function splitWordGroups(
  text: string,
  bounds: number[],
  sentenceTokens: number | undefined,
  sentence: Counted | undefined,
  options: ChunkOptions,
  out: Span[],
): void {
  const measureRun = (from: number, to: number) =>
    measureFromPieces(text, from, to, sentence) ?? measure(text, from, to, true, options);
  const { maxTokens: max } = options;
  const first = bounds[0]!;
  const last = bounds[bounds.length - 1]!;
  const charsPerToken = sentenceTokens ? (last - first) / sentenceTokens : 4;
  const targetChars = Math.max(1, max * charsPerToken * 0.95);
  let from = 0;
  while (from < bounds.length - 1) {
    let to = from + 1;
    while (to < bounds.length - 1 && bounds[to + 1]! - bounds[from]! <= targetChars) to++;
    let measured = measureRun(bounds[from]!, bounds[to]!);
    while (measured.tokens > max && to - from > 1) {
      to = from + Math.max(1, Math.floor(((to - from) * max) / measured.tokens));
      measured = measureRun(bounds[from]!, bounds[to]!);
    }
    if (measured.tokens > max)
      splitToFit(text, bounds[from]!, bounds[to]!, FORCED_LEVELS + 1, options, out); // one long word
    else out.push({ start: bounds[from]!, end: bounds[to]!, tokens: measured.tokens, counted: measured.counted });
    from = to;
  }
}

/** Trims whitespace at both ends of [start, end); null when nothing is left. */
function trimmed(text: string, start: number, end: number): { start: number; end: number } | null {
  let s = start;
  let e = end;
  while (s < e && /\s/.test(text[s]!)) s++;
  while (e > s && /\s/.test(text[e - 1]!)) e--;
  return s < e ? { start: s, end: e } : null;
}

/** Splits a document into token-bounded chunks with exact source offsets. */
export function chunkText(text: string, options: ChunkOptions): TextChunk[] {
  const { maxTokens: max } = options;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxTokens must be a positive integer, got ${max}`);
  const overlap = Math.max(0, Math.min(options.overlapTokens ?? 0, Math.floor(max / 2)));
  const spans: Span[] = [];
  splitToFit(text, 0, text.length, 0, options, spans);

  const chunks: TextChunk[] = [];
  // Pieces are packed on their own counts plus, per join, the whitespace between them: a single space is free
  // (it merges into the next word's token: "▁word" in SentencePiece, "Ġword" in byte-level BPE), any other
  // whitespace costs its length (an upper bound: "\n" is at most one byte token). Measured on SOTU text, a
  // single-space join costs an extra token in 0 of 3,287 word joins for Mistral's tokenizer and 8 of 3,287
  // for Qwen3's, so only chunks packed to within two tokens of the limit are re-counted; the text is otherwise
  // tokenised once here.
  const gapCost = spans.map((span) => {
    const gap = span.end - span.start - text.slice(span.start, span.end).trimEnd().length;
    return gap === 1 && text[span.end - 1] === " " ? 0 : gap;
  });
  let i = 0;
  while (i < spans.length) {
    let j = i + 1; // a single span always fits by construction
    let cost = spans[i]!.tokens;
    let freeJoins = 0;
    while (j < spans.length && cost + gapCost[j - 1]! + spans[j]!.tokens <= max) {
      cost += gapCost[j - 1]! + spans[j]!.tokens;
      if (gapCost[j - 1] === 0) freeJoins++;
      j++;
    }
    let range = trimmed(text, spans[i]!.start, spans[j - 1]!.end);
    let tokens = cost;
    let ids: number[] | undefined;
    const recount = (r: { start: number; end: number }) => {
      const measured = measure(text, r.start, r.end, false, options);
      tokens = measured.tokens;
      ids = measured.counted?.ids;
    };
    if (range && cost + Math.min(freeJoins, 2) > max) {
      recount(range);
      while (range && tokens > max && j - i > 1) {
        j--;
        range = trimmed(text, spans[i]!.start, spans[j - 1]!.end);
        if (range) recount(range);
        else tokens = 0;
      }
    } else if (range && j - i === 1) {
      // One piece: its ids are the chunk's when the piece was tokenised as exactly the chunk's text.
      const counted = spans[i]!.counted;
      if (counted && counted.start === range.start && counted.end === range.end) ids = counted.ids;
    }
    if (range) {
      const chunk: TextChunk = { text: text.slice(range.start, range.end), start: range.start, end: range.end, tokens };
      if (ids) chunk.ids = ids;
      chunks.push(chunk);
    }
    if (j >= spans.length) break;
    // Next chunk starts `overlap` tokens back, but always after this chunk's first span (progress).
    let next = j;
    let back = 0;
    while (overlap > 0 && next - 1 > i && back + spans[next - 1]!.tokens <= overlap) back += spans[--next]!.tokens;
    i = next;
  }
  return chunks;
}
