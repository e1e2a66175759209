import { open, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { glob, isDynamicPattern } from "tinyglobby";
import type { IngestFailure } from "./types.ts";

/** One file to read, with its canonical source id (the path relative to its ingest root, "/"-separated). */
export interface SourceFile {
  path: string;
  sourceId: string;
  size: number;
}

/** Extensions picked up when walking a folder (files named explicitly or matched by a glob are always read). */
export const FOLDER_EXTENSIONS: ReadonlySet<string> = new Set([
  ".txt",
  ".text",
  ".md",
  ".markdown",
  ".html",
  ".htm",
  ".jsonl",
]);

export interface ListedSources {
  files: SourceFile[];
  /** True when "-" (stdin) was among the sources. */
  stdin: boolean;
  failures: IngestFailure[];
  /** Arguments that named nothing (path not found, glob without matches): --delete-missing must not run then. */
  unmatched: string[];
}

function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}

function canonicalId(file: string, base: string, root: string | undefined): string {
  return toPosix(path.relative(root ? path.resolve(root) : base, file));
}

/** The static folder a glob starts from ("docs/**\/*.md" → "docs"). */
function globBase(pattern: string): string {
  const parts = pattern.split(/[\\/]/);
  const staticParts: string[] = [];
  for (const part of parts) {
    if (isDynamicPattern(part)) break;
    staticParts.push(part);
  }
  return path.resolve(staticParts.join("/") || ".");
}

async function walkFolder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith(".") && FOLDER_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
    .map((e) => path.join(e.parentPath, e.name))
    .filter(
      (p) =>
        !toPosix(path.relative(dir, p))
          .split("/")
          .some((seg) => seg.startsWith(".")),
    );
}

/**
 * Expands files, folders and globs into files with canonical source ids, in a stable (sorted) order.
 * Missing paths and duplicate source ids are failures, not exceptions: the rest still gets ingested.
 */
export async function listSources(sources: readonly string[], root?: string): Promise<ListedSources> {
  const files: SourceFile[] = [];
  const failures: IngestFailure[] = [];
  const unmatched: string[] = [];
  const seen = new Map<string, string>();
  let stdin = false;
  const add = async (file: string, base: string) => {
    const sourceId = canonicalId(file, base, root);
    const previous = seen.get(sourceId);
    if (previous !== undefined) {
      if (previous !== path.resolve(file)) {
        failures.push({ source: sourceId, reason: `duplicate source id (also ${previous}); use --root` });
      }
      return;
    }
    seen.set(sourceId, path.resolve(file));
    try {
      files.push({ path: path.resolve(file), sourceId, size: (await stat(file)).size });
    } catch (error) {
      failures.push({ source: sourceId, reason: `unreadable: ${(error as Error).message}` });
    }
  };
  for (const source of sources) {
    if (source === "-") {
      stdin = true;
      continue;
    }
    const info = await stat(source).catch(() => null);
    if (info?.isDirectory()) {
      const base = path.resolve(source);
      for (const file of (await walkFolder(base)).sort()) await add(file, base);
    } else if (info) {
      await add(source, path.dirname(path.resolve(source)));
    } else if (isDynamicPattern(source)) {
      const matches = await glob(source, { onlyFiles: true, absolute: true, dot: false });
      if (matches.length === 0) {
        failures.push({ source, reason: "glob matched no files" });
        unmatched.push(source);
      }
      const base = globBase(source);
      for (const file of matches.sort()) await add(file, base);
    } else {
      failures.push({ source, reason: "not found" });
      unmatched.push(source);
    }
  }
  return { files, stdin, failures, unmatched };
}

/** Why a file's bytes cannot be ingested as text, or null when they can. */
export function textRejection(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return "empty";
  if (bytes.includes(0)) return "binary (contains NUL bytes)";
  return null;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Decodes strict UTF-8 (BOM stripped); throws a message naming the problem. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Error("invalid UTF-8");
  }
}

/** Reads a file as text, or returns the skip reason (too large, unreadable, empty, binary, invalid UTF-8). */
export async function readSourceText(
  file: SourceFile,
  maxFileBytes: number,
): Promise<{ text: string } | { reason: string }> {
  if (file.size > maxFileBytes) return { reason: `too large (${file.size} bytes > --max-file-bytes ${maxFileBytes})` };
  let bytes: Uint8Array;
  try {
    const handle = await open(file.path, "r");
    try {
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    return { reason: `unreadable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
  }
  if (bytes.length > maxFileBytes)
    return { reason: `too large (${bytes.length} bytes > --max-file-bytes ${maxFileBytes})` };
  const rejected = textRejection(bytes);
  if (rejected) return { reason: rejected };
  let text: string;
  try {
    text = decodeUtf8(bytes);
  } catch (error) {
    return { reason: (error as Error).message };
  }
  if (text.trim() === "") return { reason: "empty" };
  return { text };
}

/** Reads a whole stream (stdin) as bytes. */
export async function readStream(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(typeof part === "string" ? Buffer.from(part) : Buffer.from(part));
  return Buffer.concat(parts);
}
