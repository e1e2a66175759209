import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Embedder, loadEmbedder, resolveModelDir, type SearchTarget } from "lance-e5";
import { createRagApp, type RagAppContext } from "../src/app.ts";
import { prepareCorpus } from "../src/corpus.ts";
import { SAMPLE_CORPUS_DIR } from "../src/options.ts";

export const EXAMPLE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** Screenshots and other artefacts of the browser test (git-ignored). */
export const TEST_OUTPUT_DIR = path.join(EXAMPLE_ROOT, "test-output");

export async function tempDir(prefix = "lance-e5-rag-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface IngestedCorpus {
  embedder: Embedder;
  target: SearchTarget;
  chunks: number;
  close: () => Promise<void>;
}

/** The sample corpus ingested with the shipped default model into a fresh LanceDB folder, as `npm start` does. */
export async function ingestSampleCorpus(): Promise<IngestedCorpus> {
  const { dir, cleanup } = await tempDir();
  const embedder = await loadEmbedder(resolveModelDir(), { threads: 1 });
  const { report, target } = await prepareCorpus(
    { corpus: SAMPLE_CORPUS_DIR, db: path.join(dir, "lancedb"), table: "rag", task: "question", chunkTokens: 128 },
    embedder,
  );
  return {
    embedder,
    target,
    chunks: report.chunks_added,
    close: async () => {
      await embedder.dispose();
      await cleanup();
    },
  };
}

/** An app over an ingested corpus; `llm` absent means extractive answers. */
export function appFor(corpus: IngestedCorpus, llm?: RagAppContext["llm"]) {
  return createRagApp({
    target: corpus.target,
    embedder: corpus.embedder,
    defaults: { task: "question", mode: "hybrid", k: 5 },
    llm,
    corpus: { name: "sotu", chunks: corpus.chunks },
  });
}

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads a whole text/event-stream body into events (the app's own framing: `event:` + one `data:` line). */
export async function readSse(response: Response): Promise<SseEvent[]> {
  const text = await response.text();
  return text
    .split(/\n\n+/)
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const lines = block.split("\n");
      const event =
        lines
          .find((l) => l.startsWith("event:"))
          ?.slice(6)
          .trim() ?? "message";
      const data = lines
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      return { event, data: JSON.parse(data) as unknown };
    });
}

export interface RunningApp {
  url: string;
  process: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Runs the app as users do (`npm start` = node --import tsx src/main.ts) and waits for its `listening on` line. */
export async function startAppProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningApp> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--port", "0", ...args], {
    cwd: EXAMPLE_ROOT,
    env: { ...process.env, LANCE_E5_THREADS: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`the app exited (${code}) before listening:\n${output}`)));
  });
  return {
    url,
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
