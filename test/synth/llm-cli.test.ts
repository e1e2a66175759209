import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { SynthSummary } from "../../src/synth/llm/generate.ts";
import { type SynthExample, schemaErrors } from "../../src/synth/validate.ts";
import { type FakeOpenAI, startFakeOpenAI } from "../helpers/fake-openai.ts";
import { validResponder } from "./llm-scripts.ts";

/** `lance-e5 synth` as a user runs it: a child process against the fake endpoint, killed and restarted. */

const ROOT = path.resolve(import.meta.dirname, "../..");
const MAIN = path.join(ROOT, "src/cli/main.ts");

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function startCli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Finished> } {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "synth", ...args], {
    cwd: ROOT,
    env: { ...process.env, OPENAI_API_KEY: "", LANCE_E5_LLM_BASE_URL: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const done = new Promise<Finished>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

const lineCount = (file: string) =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line !== "").length
    : 0;

const readLines = (file: string): SynthExample[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as SynthExample);

async function waitForLines(file: string, atLeast: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (lineCount(file) < atLeast) {
    if (Date.now() > deadline) throw new Error(`${file} did not reach ${atLeast} lines`);
    await sleep(25);
  }
}

describe("lance-e5 synth (CLI)", () => {
  let fake: FakeOpenAI;
  let dir: string;
  before(async () => {
    // Each answer takes a little while, as a real LLM's would, so a run can be interrupted midway.
    fake = await startFakeOpenAI({ respond: (request) => ({ ...validResponder(request), delayMs: 60 }) });
    dir = mkdtempSync(path.join(tmpdir(), "lance-e5-synth-cli-"));
  });
  after(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const base = (out: string) => ["--llm-base-url", fake.baseUrl, "--llm-model", "fake-teacher", "--out", out];

  test("a run writes --count valid lines, sends the key from --llm-api-key-env, prints the --json summary", async () => {
    const out = path.join(dir, "plain.jsonl");
    const first = fake.requests.length;
    const { done } = startCli(
      [
        ...base(out),
        "--families",
        "sts,short-long",
        "--count",
        "4",
        "--languages",
        "en,de",
        "--json",
        "--llm-api-key-env",
        "MY_KEY",
      ],
      { MY_KEY: "sk-from-env" },
    );
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as SynthSummary;
    assert.equal(summary.stopped, "complete");
    assert.equal(summary.written, 4);
    assert.deepEqual(summary.perFamily, { sts: 2, "short-long": 2 });
    assert.equal(summary.requests, 5);
    assert.match(result.stderr, /synth: 4\/4 examples in .*plain\.jsonl — complete/);
    assert.match(result.stderr, /requests: {2}5 \(0 retries; 1 brainstorms, 4 examples attempted\)/);
    const lines = readLines(out);
    assert.equal(lines.length, 4);
    for (const line of lines) assert.equal(schemaErrors(line), undefined);
    for (const request of fake.requests.slice(first)) assert.equal(request.headers.authorization, "Bearer sk-from-env");
  });

  test("on a terminal, a cli-progress bar on stderr counts examples, drops, requests and tokens", async () => {
    const out = path.join(dir, "tty.jsonl");
    const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;
    const command = [process.execPath, "--import", "tsx", MAIN, "synth", ...base(out), "--families", "sts"]
      .concat(["--count", "4", "--languages", "en,de"])
      .map(quote)
      .join(" ");
    // util-linux `script` runs the command on a pseudo-terminal, so stderr.isTTY is true as in a shell.
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      cwd: ROOT,
      env: { ...process.env, OPENAI_API_KEY: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 0, output);
    assert.match(output, /synth \[[^\]]*\] 4\/4 \| dropped 0 \| requests 4 \| tokens \d+/);
    assert.equal(lineCount(out), 4);
  });

  test("a spent budget exits 3 and a rejected key exits 1, each after printing the summary", async () => {
    const budgeted = await startCli([
      ...base(path.join(dir, "budget.jsonl")),
      ...["--families", "sts", "--count", "5", "--max-requests", "2", "--concurrency", "1"],
    ]).done;
    assert.equal(budgeted.code, 3, budgeted.stderr);
    assert.match(budgeted.stderr, /synth: 2\/5 examples in .* — max-requests/);
    fake.push({ status: 401, body: { error: { message: "invalid api key" } } });
    const rejected = await startCli([...base(path.join(dir, "rejected.jsonl")), "--families", "sts", "--count", "1"])
      .done;
    assert.equal(rejected.code, 1, rejected.stderr);
    assert.match(rejected.stderr, /— error: LLM endpoint answered HTTP 401: .*invalid api key/);
  });

  test("bad flags exit 2 with a message naming the problem, and write nothing", async () => {
    const out = path.join(dir, "never.jsonl");
    const cases: Array<[string[], RegExp, Record<string, string>?]> = [
      [[...base(out), "--families", "sts,poems"], /--families takes .*got "sts,poems"/],
      [[...base(out), "--languages", "en,xx"], /unknown language code\(s\) "xx"/],
      [["--llm-model", "m", "--out", out], /--llm-base-url is required/],
      [[...base(out), "--llm-api-key-env", "NOT_SET_ANYWHERE"], /NOT_SET_ANYWHERE, which is not set/],
      [[...base(out), "--count", "-3"], /--count must be an integer/],
      [[...base(out), "--families", "bitext", "--languages", "en"], /bitext needs at least two/],
    ];
    const results = await Promise.all(cases.map(([args, , env]) => startCli(args, env).done));
    results.forEach((result, index) => {
      assert.equal(result.code, 2, `case ${index}: ${result.stderr}`);
      assert.match(result.stderr, cases[index]?.[1] as RegExp);
    });
    assert.equal(existsSync(out), false);
  });

  test("SIGKILL mid-run (plus a torn last line), then the same command again: every example exactly once", async () => {
    const out = path.join(dir, "killed.jsonl");
    const args = [
      ...base(out),
      "--families",
      "short-short,sts,bitext",
      "--count",
      "24",
      "--concurrency",
      "3",
      "--seed",
      "k",
    ];
    const firstRun = startCli(args);
    await waitForLines(out, 6);
    firstRun.child.kill("SIGKILL");
    const killed = await firstRun.done;
    assert.equal(killed.signal, "SIGKILL");
    const kept = readFileSync(out, "utf8");
    const keptCount = lineCount(out);
    assert.ok(keptCount >= 6 && keptCount < 24, `killed after ${keptCount} lines`);
    // A write torn by the kill would leave a partial line like this at the end.
    appendFileSync(out, '{"task_family":"sts","instruction":"Retrieve sem');

    const secondRun = await startCli([...args, "--json"]).done;
    assert.equal(secondRun.code, 0, secondRun.stderr);
    const summary = JSON.parse(secondRun.stdout) as SynthSummary;
    assert.equal(summary.resumed, keptCount);
    assert.equal(summary.truncatedBytes, '{"task_family":"sts","instruction":"Retrieve sem'.length);
    assert.match(secondRun.stderr, /cut a partial last line/);
    const text = readFileSync(out, "utf8");
    assert.ok(text.startsWith(kept), "lines written before the kill are unchanged");
    const lines = readLines(out);
    assert.equal(lines.length, 24);
    for (const line of lines) assert.equal(schemaErrors(line), undefined);
    assert.equal(new Set(lines.map((line) => JSON.stringify([line.query, line.positive, line.negative]))).size, 24);
    assert.equal(new Set(lines.map((line) => line.meta?.attempt)).size, 24);
    assert.deepEqual(summary.perFamily, { "short-short": 8, sts: 8, bitext: 8 });
  });

  test("Ctrl-C stops with exit 130 and a summary; the file stays valid and resumable", async () => {
    const out = path.join(dir, "interrupted.jsonl");
    const args = [...base(out), "--families", "sts", "--count", "40", "--concurrency", "2", "--languages", "en,fr"];
    const run = startCli(args);
    await waitForLines(out, 2);
    run.child.kill("SIGINT");
    const result = await run.done;
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /SIGINT, stopping \(rerun the same command to resume\)/);
    assert.match(result.stderr, /— aborted/);
    const lines = readLines(out);
    assert.ok(lines.length >= 2 && lines.length < 40);
    for (const line of lines) assert.equal(schemaErrors(line), undefined);
  });
});
