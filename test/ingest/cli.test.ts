import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { corpusCopy, FIXTURE_MODELS, REPO, readRows, tempDir } from "./helpers.ts";

// `lance-e5 ingest` as users run it: the --json report contract, exit codes, stdin.

function ingest(args: string[], options: { input?: string; model?: string } = {}) {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "ingest", ...args], {
    cwd: REPO,
    env: {
      ...process.env,
      LANCE_E5_MODEL: path.join(FIXTURE_MODELS, options.model ?? "tiny-mistral"),
      LANCE_E5_THREADS: "1",
    },
    input: options.input,
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("lance-e5 ingest (CLI)", () => {
  it("prints exactly the --json report fields; exit 3 on skipped sources unless --allow-failures", () => {
    const root = tempDir();
    const corpus = corpusCopy(2, root);
    writeFileSync(path.join(corpus, "broken.txt"), Buffer.from([0xff, 0xfe, 0x00]));
    const db = path.join(root, "db");
    const first = ingest([corpus, "--db", db, "--json", "--chunk-tokens", "64"]);
    assert.equal(first.status, 3, first.stderr);
    const report = JSON.parse(first.stdout);
    assert.deepEqual(Object.keys(report).sort(), [
      "chunks_added",
      "chunks_deleted",
      "chunks_unchanged",
      "chunks_updated",
      "failures",
      "files",
      "seconds",
      "tokens_per_second",
    ]);
    assert.equal(report.files, 3);
    assert.deepEqual(report.failures, [{ source: "broken.txt", reason: "binary (contains NUL bytes)" }]);
    assert.ok(report.chunks_added > 0);
    assert.equal(first.stderr, "", "no progress bar when --json / not a TTY");

    const allowed = ingest([corpus, "--db", db, "--json", "--chunk-tokens", "64", "--allow-failures"]);
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.equal(JSON.parse(allowed.stdout).chunks_unchanged, report.chunks_added);
  });

  it("reads stdin with --source-id, refuses stdin without it, and refuses another model with exit 2", async () => {
    const root = tempDir();
    const db = path.join(root, "db");
    const text = "The pass key for the vault is written in the ledger.\n\nNobody has read the ledger since 1901.";
    const piped = ingest(["-", "--source-id", "notes/ledger.txt", "--db", db, "--json"], { input: text });
    assert.equal(piped.status, 0, piped.stderr);
    const rows = await readRows(db);
    assert.deepEqual(
      rows.map((r) => [r.doc_id, r.source, r.text]),
      [["notes/ledger.txt", "notes/ledger.txt", text]],
    );

    const noId = ingest(["-", "--db", db], { input: text });
    assert.equal(noId.status, 2);
    assert.match(noId.stderr, /--source-id/);

    const other = ingest(["-", "--source-id", "x.txt", "--db", db], { input: "more", model: "tiny-qwen3" });
    assert.equal(other.status, 2);
    assert.match(other.stderr, /tiny-mistral.*tiny-qwen3/s);
    assert.equal((await readRows(db)).length, 1, "nothing stored lost");
  });

  it("refuses --delete-missing when a source matched nothing (mistyped path, empty glob or folder): nothing deleted", async () => {
    const root = tempDir();
    const corpus = corpusCopy(2, root);
    const db = path.join(root, "db");
    assert.equal(ingest([corpus, "--db", db, "--json", "--chunk-tokens", "64"]).status, 0);
    const before = (await readRows(db)).length;
    assert.ok(before > 0);

    const typo = ingest([path.join(root, "corpsu"), "--db", db, "--delete-missing", "--json"]);
    assert.equal(typo.status, 2, typo.stderr);
    assert.match(typo.stderr, /--delete-missing refused: .*corpsu.* matched nothing/);
    const glob = ingest([path.join(root, "*.nothing"), "--db", db, "--delete-missing"]);
    assert.equal(glob.status, 2, glob.stderr);
    mkdirSync(path.join(root, "empty"));
    const empty = ingest([path.join(root, "empty"), "--db", db, "--delete-missing"]);
    assert.equal(empty.status, 2, empty.stderr);
    assert.match(empty.stderr, /no files at all/);
    assert.equal((await readRows(db)).length, before, "nothing stored lost");
  });
});
