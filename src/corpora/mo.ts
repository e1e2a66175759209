/**
 * Reader for GNU gettext binary catalogues (.mo), the format msgfmt writes (gettext manual, "The Format of GNU MO
 * Files"): a header, then two tables of (length, offset) for the original and translated strings. Small and
 * stable enough that parsing it directly beats spawning `msgunfmt` for 3,700 files.
 */
export interface MoEntry {
  /** msgctxt, when the entry has one. */
  context?: string;
  msgid: string;
  /** Plural source form, when the entry has one. */
  msgidPlural?: string;
  /** msgstr, or msgstr[0..n] for plural entries. */
  msgstr: string[];
}

export class MoFormatError extends Error {
  constructor(detail: string) {
    super(`not a valid .mo file: ${detail}`);
    this.name = "MoFormatError";
  }
}

const MAGIC = 0x950412de;

export function parseMo(bytes: Buffer): MoEntry[] {
  if (bytes.length < 28) throw new MoFormatError("shorter than the header");
  const littleEndian = bytes.readUInt32LE(0) === MAGIC;
  if (!littleEndian && bytes.readUInt32BE(0) !== MAGIC) throw new MoFormatError("bad magic number");
  const u32 = (at: number) => (littleEndian ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at));
  const count = u32(8);
  const originals = u32(12);
  const translations = u32(16);
  const raw = (table: number, index: number): Buffer => {
    const length = u32(table + index * 8);
    const offset = u32(table + index * 8 + 4);
    if (offset + length > bytes.length) throw new MoFormatError("string table points past the end");
    return bytes.subarray(offset, offset + length);
  };
  // The header (msgid "") names the charset; nearly all catalogues are UTF-8.
  let decoder = new TextDecoder("utf-8");
  const entries: MoEntry[] = [];
  for (let i = 0; i < count; i++) {
    const original = raw(originals, i).toString("utf8");
    const translated = decoder.decode(raw(translations, i));
    if (original === "") {
      const charset = /charset=([^\s;]+)/i.exec(translated)?.[1];
      if (charset !== undefined) {
        try {
          decoder = new TextDecoder(charset);
        } catch {
          // unknown label: keep UTF-8
        }
      }
      continue;
    }
    const contextEnd = original.indexOf("\u0004");
    const context = contextEnd >= 0 ? original.slice(0, contextEnd) : undefined;
    const [msgid = "", msgidPlural] = (contextEnd >= 0 ? original.slice(contextEnd + 1) : original).split("\u0000");
    entries.push({ context, msgid, msgidPlural, msgstr: translated.split("\u0000") });
  }
  return entries;
}
