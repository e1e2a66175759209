import {
  closeSync,
  createReadStream,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  writeSync,
} from "node:fs";
import { createInterface } from "node:readline";

/**
 * The generator's output file is also its checkpoint: one example per line, appended and flushed as each is
 * accepted. Each line is written by a single write() ending in "\n", so a crash can leave at most one
 * partial line, with no newline, at the end; recovery cuts it off before anything new is appended.
 */

export class CorruptJsonlError extends Error {
  constructor(
    readonly path: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${path}:${line}: ${detail}; refusing to append to it (fix or move the file)`);
    this.name = "CorruptJsonlError";
  }
}

/** Cuts a trailing partial line (bytes after the last "\n"); returns how many bytes were removed. */
export function truncatePartialLastLine(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, "r+");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const length = readSync(fd, chunk, 0, end - start, start);
      const newline = chunk.subarray(0, length).lastIndexOf(0x0a);
      if (newline >= 0) {
        const keep = start + newline + 1;
        if (keep < size) {
          ftruncateSync(fd, keep);
          fdatasyncSync(fd);
        }
        return size - keep;
      }
      end = start;
    }
    if (size > 0) {
      ftruncateSync(fd, 0);
      fdatasyncSync(fd);
    }
    return size;
  } finally {
    closeSync(fd);
  }
}

/** Streams the complete lines of a JSONL file as parsed values; a line that is not JSON is an error. */
export async function* readJsonl(path: string): AsyncGenerator<{ line: number; value: unknown }> {
  let stream: ReturnType<typeof createReadStream>;
  try {
    stream = createReadStream(path, { encoding: "utf8" });
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", reject);
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  for await (const text of lines) {
    line += 1;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new CorruptJsonlError(path, line, "line is not valid JSON");
    }
    yield { line, value };
  }
}

/** Appends one JSON value per line, each flushed to disk before append() returns. */
export class JsonlAppender {
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, "a");
  }

  append(value: unknown): void {
    const bytes = Buffer.from(`${JSON.stringify(value)}\n`, "utf8");
    for (let written = 0; written < bytes.length; ) written += writeSync(this.fd, bytes, written);
    fdatasyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}
