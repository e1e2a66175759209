import { Tokenizer } from "@huggingface/tokenizers";
import type { SpecialTokens } from "./config.ts";
import type { EncodedText } from "./embedder.ts";
import { InvalidInputError, ModelDirectoryError } from "./errors.ts";
import { readModelJson, readOptionalModelJson, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from "./model-dir.ts";

/** Texts at most this many characters per wanted token are tokenised whole; longer ones by growing prefixes. */
const WHOLE_TEXT_CHARS_PER_TOKEN = 6;
/** Extra tokens a prefix must yield beyond the wanted ones, so the cut cannot reach the kept ids. */
const PREFIX_MARGIN_TOKENS = 16;
/** Word pieces up to this many characters are remembered with their ids (contentPieces), at most this many. */
const PIECE_CACHE_MAX_CHARS = 48;
const PIECE_CACHE_ENTRIES = 65_536;

/** Content ids of a text and the pieces they were tokenised in (ModelTokenizer.contentPieces). */
export interface ContentPieces {
  ids: number[];
  /** Character ranges of the text, in order; `firstId` indexes the piece's first id in `ids`. */
  pieces: Array<{ start: number; end: number; firstId: number }>;
}

/** The parts of tokenizer.json that decide whether tokens of "A B" are tokens of A then tokens of B. */
interface TokenizerJson {
  normalizer?: { type?: string; normalizers?: Array<Record<string, unknown>> } | null;
  pre_tokenizer?: unknown;
  model?: { type?: string; dropout?: unknown; ignore_merges?: boolean; vocab?: Record<string, number> };
  added_tokens?: Array<{ content: string; lstrip?: boolean; rstrip?: boolean }>;
}

/**
 * True for SentencePiece-style BPE tokenizers (Mistral, Llama) on which tokenising "A B" — A not ending and B
 * not starting with whitespace — gives exactly tokens(A) followed by tokens(B): the normalizer is exactly
 * Prepend("▁") + Replace(" " → "▁") (so B alone gets the "▁" the space becomes), there is no pre-tokenizer, BPE
 * runs without dropout or ignore_merges, and no vocabulary token has a "▁" after a non-"▁" character — so no
 * merge can join a symbol of A with the "▁B…" symbols, and BPE on each side proceeds as it would alone. Added
 * tokens must not contain spaces or strip them (contentIds also leaves texts containing one whole).
 */
export function isSpaceAdditive(json: TokenizerJson): boolean {
  const steps = json.normalizer?.type === "Sequence" ? (json.normalizer.normalizers ?? []) : [];
  const [prepend, replace] = steps;
  const normalizerOk =
    steps.length === 2 &&
    prepend?.type === "Prepend" &&
    prepend.prepend === "▁" &&
    replace?.type === "Replace" &&
    (replace.pattern as { String?: string } | undefined)?.String === " " &&
    replace.content === "▁";
  const model = json.model;
  if (!normalizerOk || json.pre_tokenizer != null || model?.type !== "BPE" || model.dropout != null) return false;
  if (model.ignore_merges === true || !model.vocab) return false;
  for (const token of Object.keys(model.vocab)) if (/[^▁]▁/.test(token)) return false;
  return (json.added_tokens ?? []).every((t) => !/\s/.test(t.content) && !t.lstrip && !t.rstrip);
}

/**
 * Rejects what no tokenizer should see: non-strings, empty or whitespace-only text (its embedding would be the
 * EOS alone), lone UTF-16 surrogates (not encodable as UTF-8, so Python and JS would disagree) and NUL bytes.
 */
export function validateText(text: unknown, index: number): asserts text is string {
  if (typeof text !== "string") throw new InvalidInputError(index, `expected a string, got ${describe(text)}`);
  if (text.trim() === "") throw new InvalidInputError(index, "text is empty or whitespace only");
  if (/\p{Cs}/u.test(text)) throw new InvalidInputError(index, "text contains a lone UTF-16 surrogate");
  if (text.includes("\u0000")) throw new InvalidInputError(index, "text contains a NUL character");
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

/**
 * The model's tokenizer with the e5 recipe on top (REFERENCE.md §1): the tokenizer's own special tokens, right
 * truncation to `maxLength - 1`, EOS appended unless the post-processor already ended with it.
 * @huggingface/tokenizers has no truncation, so the special tokens the post-processor adds are learnt once
 * (by encoding a probe with and without them) and re-applied around truncated content ids.
 */
export class ModelTokenizer {
  /** Special ids the post-processor puts before / after the content (Mistral: [BOS] / []; Qwen: [] / []). */
  readonly prefixIds: readonly number[];
  readonly suffixIds: readonly number[];
  /** Largest id the tokenizer can produce (vocab + added tokens), for the vocab-size check against the model. */
  readonly maxTokenId: number;
  /** Added tokens' texts (a text containing one is tokenised whole: the tokenizer splits it out first). */
  private readonly addedTexts: string[];
  /**
   * Ids of word pieces already tokenised. A piece's ids depend on the piece alone, and most pieces are frequent
   * words: looking them up skips the tokenizer's per-call work (normalising, building an Encoding with tokens and
   * offsets), which its own BPE cache does not. Measured on the bench:embed corpus: tokenising 2,000 man-page texts
   * with a fresh tokenizer, 0.84 s without it, 0.59 s with it.
   */
  private readonly pieceCache = new Map<string, readonly number[]>();

  constructor(
    private readonly tokenizer: Tokenizer,
    readonly eosId: number,
    /** isSpaceAdditive of its tokenizer.json: long texts may then be tokenised piece by piece (contentIds). */
    readonly spaceAdditive = false,
    addedTexts: readonly string[] = [],
  ) {
    this.addedTexts = [...addedTexts];
    const probe = "a";
    const withSpecial = tokenizer.encode(probe).ids;
    const content = tokenizer.encode(probe, { add_special_tokens: false }).ids;
    const at = indexOfSequence(withSpecial, content);
    this.prefixIds = at < 0 ? [] : withSpecial.slice(0, at);
    this.suffixIds = at < 0 ? [] : withSpecial.slice(at + content.length);
    let maxId = 0;
    for (const id of tokenizer.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.maxTokenId = maxId;
  }

  static load(modelDir: string, tokens: SpecialTokens): ModelTokenizer {
    const json = readModelJson(modelDir, TOKENIZER_FILE);
    const config = readOptionalModelJson(modelDir, TOKENIZER_CONFIG_FILE) ?? {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json as object, config as object);
    } catch (error) {
      throw new ModelDirectoryError(modelDir, `${TOKENIZER_FILE} cannot be loaded (${(error as Error).message})`, {
        cause: error,
      });
    }
    const parsed = json as TokenizerJson;
    const modelTokenizer = new ModelTokenizer(
      tokenizer,
      tokens.eos_id,
      isSpaceAdditive(parsed),
      (parsed.added_tokens ?? []).map((t) => t.content),
    );
    if (tokens.eos_id > modelTokenizer.maxTokenId) {
      throw new ModelDirectoryError(
        modelDir,
        `lance-e5.json tokens.eos_id ${tokens.eos_id} is not in ${TOKENIZER_FILE} (largest id ${modelTokenizer.maxTokenId})`,
      );
    }
    return modelTokenizer;
  }

  /** The token string of an id (e.g. "</s>"), for callers that must spell a special token as text. */
  tokenText(id: number): string {
    const token = this.tokenizer.id_to_token(id);
    if (token === undefined) throw new RangeError(`token id ${id} is not in the vocabulary`);
    return token;
  }

  /** Token count of a text without special tokens. */
  countTokens(text: string): number {
    return this.contentIds(text).length;
  }

  /**
   * All ids of a text without special tokens (what countTokens counts; a chunker can keep them).
   * SentencePiece-style tokenizers have no pre-tokenizer, so @huggingface/tokenizers runs BPE over a whole text
   * as one piece, and caches results only for pieces under 256 characters. On space-additive tokenizers the text is
   * instead cut at every single space between non-whitespace characters — word pieces, whose ids joined are
   * exactly the text's ids — so BPE runs on short pieces and frequent words come from its cache: measured (CPU
   * time, fresh tokenizer) ~2× faster on SOTU sentences and 1.7–2.7× on man pages than whole texts.
   */
  contentIds(text: string): number[] {
    return this.contentPieces(text).ids;
  }

  /**
   * contentIds with the pieces it tokenised: the ids of text.slice(pieces[i].start, pieces[j].end) are exactly
   * ids.slice(pieces[i].firstId, pieces[j + 1]?.firstId) — the pieces are cut at single spaces, so a run of
   * whole pieces is tokenised as the same pieces. One piece (the whole text) on tokenizers that are not
   * space-additive.
   */
  contentPieces(text: string): ContentPieces {
    const encode = (s: string) => this.tokenizer.encode(s, { add_special_tokens: false }).ids;
    if (!this.spaceAdditive || this.addedTexts.some((t) => text.includes(t))) {
      return { ids: encode(text), pieces: [{ start: 0, end: text.length, firstId: 0 }] };
    }
    const ids: number[] = [];
    const pieces: ContentPieces["pieces"] = [];
    let from = 0;
    for (;;) {
      const cut = additiveCut(text, from + 1);
      const end = cut < 0 ? text.length : cut;
      pieces.push({ start: from, end, firstId: ids.length });
      for (const id of this.pieceIds(text.slice(from, end))) ids.push(id);
      if (cut < 0) return { ids, pieces };
      from = cut + 1; // the space itself becomes the "▁" that the next piece's Prepend puts back
    }
  }

  private pieceIds(piece: string): readonly number[] {
    const cached = this.pieceCache.get(piece);
    if (cached !== undefined) return cached;
    const ids = this.tokenizer.encode(piece, { add_special_tokens: false }).ids;
    if (piece.length <= PIECE_CACHE_MAX_CHARS) {
      // Bounded: a stream of unseen pieces (ids, hashes) starts the cache over instead of growing it.
      if (this.pieceCache.size >= PIECE_CACHE_ENTRIES) this.pieceCache.clear();
      this.pieceCache.set(piece, ids);
    }
    return ids;
  }

  /**
   * Ids as the model sees them: prefix specials + content cut to fit + suffix specials, at most `maxLength - 1`
   * tokens, then EOS appended unless already last. Only as much of a long text is tokenised as needed.
   */
  encode(text: string, maxLength: number): EncodedText {
    const budget = maxLength - 1 - this.prefixIds.length - this.suffixIds.length;
    if (budget < 1) throw new RangeError(`maxLength ${maxLength} leaves no room for content tokens`);
    const { ids: content, truncated } = this.contentPrefix(text, budget);
    return this.withSpecialTokens(content, truncated);
  }

  /**
   * Model ids from content ids (contentIds of a text): the same assembly as encode — content cut to fit,
   * prefix and suffix specials around it, EOS appended unless already last. encode(text, m) equals
   * fromContentIds(contentIds(text), m): contentPrefix returns the first ids of tokenising the whole text.
   */
  fromContentIds(content: readonly number[], maxLength: number): EncodedText {
    const budget = maxLength - 1 - this.prefixIds.length - this.suffixIds.length;
    if (budget < 1) throw new RangeError(`maxLength ${maxLength} leaves no room for content tokens`);
    const truncated = content.length > budget;
    return this.withSpecialTokens(truncated ? content.slice(0, budget) : content, truncated);
  }

  private withSpecialTokens(content: readonly number[], truncated: boolean): EncodedText {
    const ids = [...this.prefixIds, ...content, ...this.suffixIds];
    if (ids[ids.length - 1] !== this.eosId) ids.push(this.eosId);
    return { ids, truncated };
  }

  /**
   * The first `limit` content ids of `text`, equal to the first `limit` ids of tokenising the whole text.
   * Tokenising a whole long text is wasteful and, for SentencePiece-style tokenizers without a pre-tokenizer,
   * super-linear; so a growing character prefix is tokenised instead and accepted only when a longer cut agrees
   * on the kept ids (a cut can change the last tokens before it, never ones far before it).
   */
  contentPrefix(text: string, limit: number): { ids: number[]; truncated: boolean } {
    const encode = (s: string) => this.contentIds(s);
    if (text.length <= limit * WHOLE_TEXT_CHARS_PER_TOKEN + 256) {
      const ids = encode(text);
      return ids.length > limit ? { ids: ids.slice(0, limit), truncated: true } : { ids, truncated: false };
    }
    let cut = safeCut(text, limit * 4 + 64);
    for (;;) {
      const ids = encode(text.slice(0, cut));
      if (cut >= text.length) {
        return ids.length > limit ? { ids: ids.slice(0, limit), truncated: true } : { ids, truncated: false };
      }
      if (ids.length >= limit + PREFIX_MARGIN_TOKENS) {
        const check = encode(text.slice(0, safeCut(text, cut + Math.max(256, cut >> 2))));
        if (samePrefix(ids, check, limit)) return { ids: ids.slice(0, limit), truncated: true };
      }
      cut = safeCut(text, cut * 2);
    }
  }
}

/** Index of the first single space at or after `from` with non-whitespace on both sides; -1 when none. */
function additiveCut(text: string, from: number): number {
  for (let i = text.indexOf(" ", from); i >= 0; i = text.indexOf(" ", i + 1)) {
    if (i + 1 < text.length && /\S/.test(text[i - 1] as string) && /\S/.test(text[i + 1] as string)) return i;
  }
  return -1;
}

/** A prefix length not splitting a surrogate pair, capped at the text length. */
function safeCut(text: string, length: number): number {
  if (length >= text.length) return text.length;
  const code = text.charCodeAt(length - 1);
  return code >= 0xd800 && code <= 0xdbff ? length - 1 : length;
}

function samePrefix(a: readonly number[], b: readonly number[], length: number): boolean {
  if (a.length < length || b.length < length) return false;
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function indexOfSequence(haystack: readonly number[], needle: readonly number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
