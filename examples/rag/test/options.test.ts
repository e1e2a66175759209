import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { DEFAULT_DB, SHIPPED_MODEL_DIR } from "lance-e5";
import { LLM_API_KEY_ENV, parseRagOptions, RagOptionsError, SAMPLE_CORPUS_DIR } from "../src/options.ts";
import { citationsOf } from "../src/prompt.ts";
import { EXAMPLE_ROOT, tempDir } from "./helpers.ts";

describe("flags", () => {
  test("defaults: sample corpus, shipped model, hybrid retrieval with the question task, extractive answers", () => {
    const options = parseRagOptions([], {});
    assert.notEqual(options, "help");
    assert.deepEqual(options, {
      corpus: SAMPLE_CORPUS_DIR,
      db: DEFAULT_DB,
      table: "rag",
      model: SHIPPED_MODEL_DIR,
      host: "127.0.0.1",
      port: 3000,
      k: 5,
      task: "question",
      mode: "hybrid",
      chunkTokens: 128,
      threads: undefined,
      llm: undefined,
    });
    assert.equal(path.basename(SAMPLE_CORPUS_DIR), "sotu");
  });

  test("the LLM endpoint: URL and model from flags, the key only from the environment", () => {
    const options = parseRagOptions(["--llm-base-url", "http://localhost:8000/v1", "--llm-model", "qwen"], {
      [LLM_API_KEY_ENV]: "sk-1",
    });
    assert.notEqual(options, "help");
    if (options === "help") return;
    assert.deepEqual(options.llm, {
      baseUrl: "http://localhost:8000/v1",
      model: "qwen",
      apiKey: "sk-1",
      timeoutMs: 60_000,
    });
    const noKey = parseRagOptions(["--llm-base-url", "http://x/v1", "--llm-model", "m", "--llm-timeout-ms", "500"], {});
    assert.deepEqual(noKey !== "help" && noKey.llm, {
      baseUrl: "http://x/v1",
      model: "m",
      apiKey: undefined,
      timeoutMs: 500,
    });
  });

  const bad: Array<[string[], RegExp]> = [
    [["--task", "nope"], /--task: unknown task "nope"; known tasks: web_search, question/],
    [["--mode", "semantic"], /--mode: unknown mode "semantic"; modes: vector, fulltext, hybrid/],
    [["--k", "0"], /--k: "0" must be an integer from 1 to 20/],
    [["--port", "http"], /--port: "http" must be an integer/],
    [["--llm-base-url", "http://x/v1"], /--llm-base-url and --llm-model go together/],
    [["--llm-model", "m"], /--llm-base-url and --llm-model go together/],
    [["--llm-base-url", "localhost:8000", "--llm-model", "m"], /must be an http\(s\) URL/],
    [["--llm-timeout-ms", "100"], /--llm-timeout-ms needs --llm-base-url/],
    [["--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [argv, message] of bad) {
    test(`refused: ${argv.join(" ")}`, () => {
      assert.throws(
        () => parseRagOptions(argv, {}),
        (error: unknown) => {
          assert.ok(error instanceof RagOptionsError);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }
});

describe("citations", () => {
  test("[n], [n, m] and [n][m] count once each, in order; numbers past the passages are reported apart", () => {
    assert.deepEqual(citationsOf("A [2]. B [1, 2][3]. C [7] and [0].", 3), { cited: [2, 1, 3], unknown: [7, 0] });
    assert.deepEqual(citationsOf("no citations here (see 2)", 3), { cited: [], unknown: [] });
  });
});

function runApp(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      cwd: EXAMPLE_ROOT,
      env: { ...process.env, LANCE_E5_THREADS: "1" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

describe("npm start refuses bad setups with exit code 2 and a message", () => {
  test("an unknown task names the known ones", async () => {
    const { code, stderr } = await runApp(["--task", "nope"]);
    assert.equal(code, 2);
    assert.match(stderr, /rag: --task: unknown task "nope"; known tasks: web_search/);
    assert.match(stderr, /usage: npm start/);
  });

  test("a corpus folder that does not exist", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const missing = path.join(dir, "no-such-folder");
      const { code, stderr } = await runApp(["--corpus", missing, "--db", path.join(dir, "db")]);
      assert.equal(code, 2);
      assert.match(stderr, new RegExp(`--corpus: "${missing}" is not a folder`));
    } finally {
      await cleanup();
    }
  });

  test("a model folder that is not a model", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const { code, stderr } = await runApp(["--model", dir, "--db", path.join(dir, "db")]);
      assert.equal(code, 2);
      assert.match(stderr, /^rag: .*lance-e5\.json/m);
    } finally {
      await cleanup();
    }
  });

  test("a folder with files but no text to ingest", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const corpus = path.join(dir, "corpus");
      await mkdir(corpus);
      await writeFile(path.join(corpus, "blank.txt"), "  \n\n ");
      const { code, stderr } = await runApp(["--corpus", corpus, "--db", path.join(dir, "db")]);
      assert.equal(code, 2);
      assert.match(stderr, /^rag: nothing in ".*corpus" could be ingested/m);
    } finally {
      await cleanup();
    }
  });

  test("an empty folder", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const empty = path.join(dir, "empty");
      await mkdir(empty);
      const { code, stderr } = await runApp(["--corpus", empty, "--db", path.join(dir, "db")]);
      assert.equal(code, 2);
      // Refused by lance-e5's ingest (no files: it will not empty the table) or by the app's own zero-chunk check.
      assert.match(stderr, /^rag: (cannot ingest|nothing in) ".*empty"/m);
    } finally {
      await cleanup();
    }
  });
});
