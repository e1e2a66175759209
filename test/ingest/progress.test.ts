import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { createIngestProgressBar } from "../../src/cli/commands/ingest-progress.ts";

describe("ingest progress bar", () => {
  it("shows files, chunks, tokens/s and ETA on a terminal stream", () => {
    let out = "";
    const terminal = Object.assign(
      new Writable({
        write(chunk, _encoding, done) {
          out += chunk.toString();
          done();
        },
      }),
      { isTTY: true, columns: 160 },
    ) as unknown as NodeJS.WriteStream;
    const bar = createIngestProgressBar(terminal);
    const base = { documents_done: 1, tokens_embedded: 5000, bytes_total: 1000 };
    bar.update({
      ...base,
      files_done: 1,
      files_total: 4,
      chunks_done: 10,
      tokens_per_second: 2500,
      bytes_done: 250,
      eta_seconds: 6,
    });
    bar.update({
      ...base,
      files_done: 4,
      files_total: 4,
      chunks_done: 42,
      tokens_per_second: 2600,
      bytes_done: 1000,
      eta_seconds: 0,
    });
    bar.stop();
    assert.match(out, /files 1\/4 \| chunks 10 \| 2500 tokens\/s \| ETA 6s/);
    assert.match(out, /100% \| files 4\/4 \| chunks 42 \| 2600 tokens\/s \| ETA 0s/);
  });
});
