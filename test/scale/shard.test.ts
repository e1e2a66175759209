import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { ingestSources } from "../../src/ingest/index.ts";
import { inShard, parseShard, type Shard, ShardSpecError, shardOf } from "../../src/ingest/shard.ts";
import { IngestOptionsError } from "../../src/ingest/source-items.ts";
import { runCli } from "../helpers/cli.ts";
import { FIXTURE_MODELS, fixtureEmbedder, readRows, tempDir } from "../ingest/helpers.ts";

// `ingest --shard i/n`: the hash rule, the partition it gives, and how it composes with --delete-missing, on real
// LanceDB directories with a fixture model (random weights: only ids, sources and counts are checked here).

describe("shard rule", () => {
  it("parses i/n and rejects everything else with an error naming --shard and the value", () => {
    assert.deepEqual(parseShard("0/1"), { index: 0, count: 1 });
    assert.deepEqual(parseShard("3/4"), { index: 3, count: 4 });
    for (const bad of ["1/1", "4/4", "0/0", "-1/2", "1", "1/", "/2", "a/b", "0/2/3", " 0/2", "0.5/2", "0/2000000"]) {
      assert.throws(
        () => parseShard(bad),
        (error: unknown) =>
          error instanceof ShardSpecError &&
          error.message.includes("--shard") &&
          error.message.includes(JSON.stringify(bad)),
        bad,
      );
    }
  });

  it("is sha256 of the UTF-8 source id, first 8 bytes big-endian, mod n (values computed with Python's hashlib)", () => {
    // int.from_bytes(hashlib.sha256(id.encode()).digest()[:8], "big") % n
    assert.equal(shardOf("docs/a.md", 7), 5);
    assert.equal(shardOf("sotu/1790-washington.txt", 4), 3);
    assert.equal(shardOf("é/ü.txt", 3), 0);
    assert.equal(shardOf("", 5), 2);
  });

  it("puts every id in exactly one shard of n, in shares of about 1/n", () => {
    const ids = Array.from({ length: 600 }, (_, i) => `folder-${i % 7}/file-${i}.md`);
    for (let n = 1; n <= 5; n++) {
      const shards: Shard[] = Array.from({ length: n }, (_, index) => ({ index, count: n }));
      const sizes = shards.map((s) => ids.filter((id) => inShard(id, s)).length);
      for (const id of ids) assert.equal(shards.filter((s) => inShard(id, s)).length, 1, `${id} in one of ${n}`);
      // Deterministic ids, so this is a fixed fact about the rule, not a chance event: no shard gets under 70%
      // or over 130% of an even share.
      for (const size of sizes) assert.ok(size > (0.7 * 600) / n && size < (1.3 * 600) / n, `sizes ${sizes}`);
    }
  });
});

/** A folder of small text files, one document each: name → text. */
function writeCorpus(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
}

const NAMES = Array.from({ length: 12 }, (_, i) => (i % 4 === 3 ? `sub/doc-${i}.md` : `doc-${i}.txt`));

function corpusFiles(): Record<string, string> {
  return Object.fromEntries(NAMES.map((name, i) => [name, `Document ${i} about shard workers, number ${i * 7}.`]));
}

/** Stored sources of the table, sorted, one entry per row. */
async function storedSources(db: string): Promise<string[]> {
  return (await readRows(db)).map((r) => String(r.source)).sort();
}

describe("ingestSources with a shard", () => {
  it("n workers together store every source exactly once, each worker only its own share", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const root = tempDir("lance-e5-shard-");
    const corpus = path.join(root, "corpus");
    writeCorpus(corpus, corpusFiles());
    const db = path.join(root, "db");
    const n = 3;
    for (let index = 0; index < n; index++) {
      const shard = { index, count: n };
      const mine = NAMES.filter((name) => inShard(name, shard));
      assert.ok(mine.length > 0, `shard ${index}/${n} owns some of the test files`);
      const report = await ingestSources({ sources: [corpus], db, table: "docs", embedder, shard, skipOptimize: true });
      assert.deepEqual(report.failures, []);
      assert.equal(report.files, mine.length);
      assert.equal(report.chunks_added, mine.length, "one chunk per small document, only this shard's");
    }
    assert.deepEqual(await storedSources(db), [...NAMES].sort(), "every source once");
  });

  it("--delete-missing in a shard deletes only vanished sources that shard owns", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const root = tempDir("lance-e5-shard-");
    const corpus = path.join(root, "corpus");
    writeCorpus(corpus, corpusFiles());
    const db = path.join(root, "db");
    const common = { db, table: "docs", embedder, skipOptimize: true } as const;
    await ingestSources({ sources: [corpus], ...common });

    const shard0 = { index: 0, count: 2 };
    const shard1 = { index: 1, count: 2 };
    const gone0 = NAMES.find((name) => inShard(name, shard0))!;
    const gone1 = NAMES.find((name) => inShard(name, shard1))!;
    rmSync(path.join(corpus, gone0));
    rmSync(path.join(corpus, gone1));

    const first = await ingestSources({ sources: [corpus], ...common, shard: shard0, deleteMissing: true });
    assert.equal(first.chunks_deleted, 1, "shard 0 deletes its own vanished file");
    assert.equal(first.chunks_unchanged, NAMES.filter((name) => inShard(name, shard0)).length - 1);
    let stored = await storedSources(db);
    assert.ok(!stored.includes(gone0), `${gone0} deleted`);
    assert.ok(stored.includes(gone1), `${gone1} (shard 1's) left for shard 1`);
    assert.equal(stored.length, NAMES.length - 1, "nothing else deleted");

    // A dry run of shard 1 reports its own vanished file and deletes nothing.
    const dry = await ingestSources({ sources: [corpus], ...common, shard: shard1, deleteMissing: true, dryRun: true });
    assert.equal(dry.chunks_deleted, 1);
    assert.equal((await storedSources(db)).length, NAMES.length - 1);

    const second = await ingestSources({ sources: [corpus], ...common, shard: shard1, deleteMissing: true });
    assert.equal(second.chunks_deleted, 1);
    stored = await storedSources(db);
    assert.deepEqual(stored, NAMES.filter((name) => name !== gone0 && name !== gone1).sort());
  });

  it("refuses an invalid shard object and stdin with IngestOptionsError, storing nothing", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const root = tempDir("lance-e5-shard-");
    const corpus = path.join(root, "corpus");
    writeCorpus(corpus, corpusFiles());
    const db = path.join(root, "db");
    for (const shard of [
      { index: 2, count: 2 },
      { index: 0, count: 0 },
      { index: -1, count: 2 },
      { index: 0.5, count: 2 },
    ]) {
      await assert.rejects(
        ingestSources({ sources: [corpus], db, table: "docs", embedder, shard }),
        (error: unknown) => error instanceof IngestOptionsError && /shard/.test((error as Error).message),
      );
    }
    await assert.rejects(
      ingestSources({
        sources: ["-"],
        sourceId: "stdin.txt",
        stdin: Readable.from(["some text"]),
        db,
        table: "docs",
        embedder,
        shard: { index: 0, count: 2 },
      }),
      (error: unknown) =>
        error instanceof IngestOptionsError && /--shard cannot read stdin/.test((error as Error).message),
    );
    await assert.rejects(readRows(db), "no table was created");
  });
});

describe("lance-e5 ingest --shard (CLI)", () => {
  it("exits 2 naming --shard for a malformed value, before loading the model", async () => {
    for (const bad of ["2/2", "one/two"]) {
      const run = await runCli(["ingest", "nothing-here", "--shard", bad, "--db", path.join(tempDir(), "db")]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /--shard/);
      assert.ok(run.stderr.includes(JSON.stringify(bad)), run.stderr);
    }
  });

  it("prints the shard in the text report and exits 2 when asked to shard stdin", async () => {
    const root = tempDir("lance-e5-shard-");
    const corpus = path.join(root, "corpus");
    writeCorpus(corpus, corpusFiles());
    const env = { LANCE_E5_MODEL: path.join(FIXTURE_MODELS, "tiny-mistral") };
    const db = path.join(root, "db");
    const mine = NAMES.filter((name) => inShard(name, { index: 1, count: 2 })).length;
    const run = await runCli(["ingest", corpus, "--db", db, "--shard", "1/2"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`ingested ${mine} file\\(s\\) \\(shard 1/2\\)`));

    const stdin = await runCli(["ingest", "-", "--source-id", "a.txt", "--db", db, "--shard", "0/2"], env, "text");
    assert.equal(stdin.code, 2, stdin.stderr);
    assert.match(stdin.stderr, /--shard cannot read stdin/);
  });
});
