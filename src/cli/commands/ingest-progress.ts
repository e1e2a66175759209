import cliProgress from "cli-progress";
import type { IngestProgress } from "../../ingest/types.ts";

/** Progress bar for `lance-e5 ingest` on stderr: files, chunks, tokens/s and ETA. Only used on a TTY. */
export function createIngestProgressBar(stream: NodeJS.WriteStream): {
  update(p: IngestProgress): void;
  stop(): void;
} {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: "ingest [{bar}] {percentage}% | files {files} | chunks {chunks} | {tps} tokens/s | ETA {eta_text}",
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const total = p.bytes_total && p.bytes_total > 0 ? p.bytes_total : Math.max(1, p.files_total ?? 1);
      const value = p.bytes_total && p.bytes_total > 0 ? p.bytes_done : p.files_done;
      const payload = {
        files: p.files_total !== undefined ? `${p.files_done}/${p.files_total}` : String(p.files_done),
        chunks: p.chunks_done,
        tps: Math.round(p.tokens_per_second),
        eta_text: p.eta_seconds !== undefined ? `${Math.round(p.eta_seconds)}s` : "?",
      };
      if (!started) {
        bar.start(total, value, payload);
        started = true;
      } else bar.update(value, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
