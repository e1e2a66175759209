import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as lancedb from "@lancedb/lancedb";
import { resolveStorageOptions as pluginStorageOptions } from "../../plugins/lancedb/index.ts";
import { ingestSources } from "../../src/ingest/index.ts";
import { connectDb } from "../../src/lancedb/connection.ts";
import {
  isObjectStoreUri,
  parseStorageOptionsText,
  resolveStorageOptions,
  STORAGE_OPTIONS_ENV,
  StorageOptionError,
} from "../../src/lancedb/storage-options.ts";
import { jsonl, writeBeirDir } from "../eval/helpers.ts";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";
import { corpusCopy, FIXTURE_MODELS, fixtureEmbedder, maxAbsDiff, tempDir } from "../ingest/helpers.ts";
import { type LocalS3, startLocalS3 } from "./object-storage-server.ts";

// `--db s3://bucket/prefix` end to end against a real S3-compatible server on 127.0.0.1 (npm s3rver): the CLI,
// the server and the LanceDB plugin read and write through LanceDB's object store, configured by flags, by
// LANCE_E5_STORAGE_OPTIONS or by the usual AWS_* variables. Fixture model with random weights: the checks use
// full-text search, counts and idempotency, which hold for any weights.

const MODEL = path.join(FIXTURE_MODELS, "tiny-mistral");
const ENV = { LANCE_E5_MODEL: MODEL, [STORAGE_OPTIONS_ENV]: "" };

describe("storage options (parsing)", () => {
  it("flags are key=value (split at the first =), the env is a k=v list or JSON, flags win", () => {
    assert.deepEqual(resolveStorageOptions(["aws_endpoint=http://127.0.0.1:9000/?a=b", "allow_http=true"], {}), {
      aws_endpoint: "http://127.0.0.1:9000/?a=b",
      allow_http: "true",
    });
    assert.deepEqual(parseStorageOptionsText("region=eu-west-1, allow_http=true,"), {
      region: "eu-west-1",
      allow_http: "true",
    });
    assert.deepEqual(parseStorageOptionsText('{"allow_http": true, "timeout": "60s", "proxy_excludes": "a,b"}'), {
      allow_http: "true",
      timeout: "60s",
      proxy_excludes: "a,b",
    });
    assert.deepEqual(
      resolveStorageOptions(["region=us-east-1"], { [STORAGE_OPTIONS_ENV]: "region=eu-west-1,timeout=5s" }),
      { region: "us-east-1", timeout: "5s" },
    );
    assert.deepEqual(resolveStorageOptions([], {}), {});
  });

  it("bad syntax is a StorageOptionError naming where it came from and the entry", () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => resolveStorageOptions(["allow_http"], {}), /^--storage-option: "allow_http" is not key=value$/],
      [() => resolveStorageOptions(["=true"], {}), /--storage-option: "=true" is not key=value/],
      [() => resolveStorageOptions(["region="], {}), /--storage-option: "region=" has an empty value/],
      [() => resolveStorageOptions(["my key=1"], {}), /"my key=1" is not key=value/],
      [() => parseStorageOptionsText("a=1,b"), /^LANCE_E5_STORAGE_OPTIONS: "b" is not key=value$/],
      [() => parseStorageOptionsText('{"a": '), /^LANCE_E5_STORAGE_OPTIONS: not valid JSON/],
      [() => parseStorageOptionsText('["a=1"]'), /LANCE_E5_STORAGE_OPTIONS: JSON must be an object/],
      [() => parseStorageOptionsText('{"a": {"b": 1}}'), /option "a" must be a string, number or boolean/],
    ];
    for (const [run, message] of cases)
      assert.throws(run, (e: Error) => e instanceof StorageOptionError && message.test(e.message));
  });

  it("object-store URIs are told apart from local paths", () => {
    for (const uri of ["s3://b/p", "S3://b", "s3+ddb://b/p?ddbTableName=t", "gs://b/p", "az://c/p", "abfss://c@a/p"]) {
      assert.equal(isObjectStoreUri(uri), true, uri);
    }
    for (const local of ["./data/lancedb", "/tmp/db", "file:///tmp/db", "C:\\data\\db", "data/s3://x"]) {
      assert.equal(isObjectStoreUri(local), false, local);
    }
  });
});

describe("object storage: --db s3://bucket/prefix on a local S3-compatible server", () => {
  let s3: LocalS3;
  let corpus: string;
  let db: string;
  before(async () => {
    s3 = await startLocalS3();
    corpus = corpusCopy(3, tempDir("lance-e5-objstore-"));
    db = `s3://${s3.bucket}/lance-e5/db`;
  });
  after(async () => {
    await s3?.close();
  });

  it("CLI ingest → search → re-ingest: rows live in the bucket, the re-run is idempotent, nothing is made locally", async () => {
    const args = ["ingest", corpus, "--db", db, ...s3.storageArgs, "--json", "--chunk-tokens", "64"];
    const first = await runCli(args, ENV);
    assert.equal(first.code, 0, first.stderr);
    const report = JSON.parse(first.stdout);
    assert.equal(report.files, 3);
    assert.ok(report.chunks_added > 3, first.stdout);
    assert.ok(existsSync(path.join(s3.dir, s3.bucket, "lance-e5", "db", "docs.lance")), "the table is in the bucket");
    assert.equal(existsSync(path.join(REPO_ROOT, "s3:")), false, "no local folder named after the URI");

    // The rows through LanceDB itself, with the same options.
    const table = await (await lancedb.connect(db, { storageOptions: s3.storageOptions })).openTable("docs");
    assert.equal(await table.countRows(), report.chunks_added);

    // A word found in one file only must bring that file first (full-text search works on any weights).
    const [file, word] = rareWord(corpus);
    const found = await runCli(
      ["search", word, "--mode", "fulltext", "--k", "3", "--json", "--db", db, ...s3.storageArgs],
      ENV,
    );
    assert.equal(found.code, 0, found.stderr);
    const results = JSON.parse(found.stdout).results as Array<{ source: string; text: string }>;
    assert.equal(results[0]?.source, file, found.stdout);
    assert.match(results[0]!.text, new RegExp(word, "i"));

    // The re-run also builds the vector index (--index), written into the bucket like the rows.
    const again = await runCli([...args, "--index"], ENV);
    assert.equal(again.code, 0, again.stderr);
    const second = JSON.parse(again.stdout);
    assert.deepEqual(
      [second.chunks_added, second.chunks_updated, second.chunks_deleted, second.chunks_unchanged],
      [0, 0, 0, report.chunks_added],
    );
    assert.equal(await table.countRows(), report.chunks_added);
    const indexed = await (await lancedb.connect(db, { storageOptions: s3.storageOptions })).openTable("docs");
    assert.ok(
      (await indexed.listIndices()).some((index) => index.columns.includes("vector")),
      "vector index",
    );
    const vector = await runCli(["search", "Congress", "--k", "3", "--json", "--db", db, ...s3.storageArgs], ENV);
    assert.equal(vector.code, 0, vector.stderr);
    assert.equal(JSON.parse(vector.stdout).results.length, 3);
  });

  it("the usual AWS_* variables alone reach the store; so does LANCE_E5_STORAGE_OPTIONS (JSON), and a flag beats it", async () => {
    const query = ["search", "Congress", "--mode", "fulltext", "--k", "2", "--json", "--db", db];
    const byAwsEnv = await runCli(query, { ...ENV, ...s3.awsEnv });
    assert.equal(byAwsEnv.code, 0, byAwsEnv.stderr);
    assert.equal(JSON.parse(byAwsEnv.stdout).results.length, 2);

    const byJsonEnv = await runCli(query, { ...ENV, [STORAGE_OPTIONS_ENV]: JSON.stringify(s3.storageOptions) });
    assert.equal(byJsonEnv.code, 0, byJsonEnv.stderr);
    assert.equal(JSON.parse(byJsonEnv.stdout).results.length, 2);

    // The env names a closed port; the flag's endpoint must win.
    const closedPort = JSON.stringify({ ...s3.storageOptions, aws_endpoint: "http://127.0.0.1:1" });
    const flagWins = await runCli([...query, "--storage-option", `aws_endpoint=${s3.endpoint}`], {
      ...ENV,
      [STORAGE_OPTIONS_ENV]: closedPort,
    });
    assert.equal(flagWins.code, 0, flagWins.stderr);
    assert.equal(JSON.parse(flagWins.stdout).results.length, 2);
  });

  it("serve --db s3://… is ready and answers POST /search from the bucket", async () => {
    const server = await startServe(["--db", db, ...s3.storageArgs]);
    try {
      const ready = await fetch(`${server.url}/ready`);
      assert.equal(ready.status, 200, await ready.text());
      const [file, word] = rareWord(corpus);
      const response = await fetch(`${server.url}/search`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: word, mode: "fulltext", k: 3 }),
      });
      const body = (await response.json()) as { results: Array<{ source: string }> };
      assert.equal(response.status, 200, JSON.stringify(body));
      assert.equal(body.results[0]?.source, file);
    } finally {
      await server.stop();
    }
  });

  it("serve: a store that stops answering mid-service gives 503 storage_unavailable (Retry-After), cause in the log", async () => {
    const store = await startLocalS3();
    const storeDb = `s3://${store.bucket}/lance-e5/db`;
    let server: Serve | undefined;
    try {
      const ingested = await runCli(["ingest", corpus, "--db", storeDb, ...store.storageArgs, "--json"], ENV);
      assert.equal(ingested.code, 0, ingested.stderr);
      server = await startServe(["--db", storeDb, ...store.storageArgs]);
      const search = () =>
        fetch(`${server!.url}/search`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "Congress", mode: "fulltext", k: 3 }),
        });
      assert.equal((await search()).status, 200);
      await store.close(); // LanceDB retries, then gives up (a few seconds)
      const failed = await search();
      const body = (await failed.json()) as { error: { code: string; message: string } };
      assert.equal(failed.status, 503, JSON.stringify(body));
      assert.equal(body.error.code, "storage_unavailable");
      assert.equal(failed.headers.get("retry-after"), "5");
      assert.doesNotMatch(body.error.message, /127\.0\.0\.1|LanceError|\.lance/, "no hosts or paths to clients");
      assert.match(server.stderr(), /failed \(storage_unavailable\): .*(S3|LanceError)/, "the cause is logged");
    } finally {
      await server?.stop();
      await store.close().catch(() => {});
    }
  });

  it("plugin: a table in the bucket opened with plain LanceDB embeds added rows with lance-e5", async () => {
    const embedder = await fixtureEmbedder("tiny-mistral");
    const storageOptions = pluginStorageOptions([], { [STORAGE_OPTIONS_ENV]: JSON.stringify(s3.storageOptions) });
    await ingestSources({
      sources: [corpus],
      db: await connectDb(db, { storageOptions }),
      table: "plugin",
      embedder,
      chunkTokens: 64,
      skipOptimize: true,
    });
    const table = await (await lancedb.connect(db, { storageOptions })).openTable("plugin");
    const before = await table.countRows();
    const text = "A sentence added through plain LanceDB to a table in object storage.";
    await table.add([{ text }]);
    assert.equal(await table.countRows(), before + 1);
    const [row] = await table.query().where("id IS NULL").select(["text", "vector"]).toArray();
    const [expected] = await embedder.embedDocuments([text]);
    assert.equal(row.text, text);
    assert.ok(maxAbsDiff(Float32Array.from(row.vector.toArray()), expected!) < 1e-5, "document-side vector");
  });

  it("eval and passkey keep their tables in the bucket with --db s3://…", async () => {
    const beir = await writeBeirDir(path.join(tempDir("lance-e5-objstore-beir-"), "beir"), {
      corpus: jsonl([
        { _id: "d1", title: "", text: "A zebra grazes on the open plain at dawn." },
        { _id: "d2", title: "", text: "The bakery opens at six and sells warm bread." },
        { _id: "d3", title: "", text: "Where the river meets the sea, birds gather." },
      ]),
      queries: jsonl([
        { _id: "q1", text: "zebra" },
        { _id: "q2", text: "bread" },
      ]),
      qrels: "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
    });
    const evalDb = `s3://${s3.bucket}/eval`;
    const evaluated = await runCli(
      ["eval", beir, "--mode", "fulltext", "--db", evalDb, ...s3.storageArgs, "--json"],
      ENV,
    );
    assert.equal(evaluated.code, 0, evaluated.stderr);
    assert.equal(JSON.parse(evaluated.stdout)["recall@1"], 1);
    assert.ok(existsSync(path.join(s3.dir, s3.bucket, "eval", "beir.lance")), "eval's table is in the bucket");

    const passkey = await runCli(
      ["passkey", "--lengths", "64", "--candidates", "4", "--queries", "2", "--rope-base", "10000", "--json"].concat([
        "--db",
        `s3://${s3.bucket}/passkey`,
        ...s3.storageArgs,
      ]),
      ENV,
    );
    assert.equal(passkey.code, 0, passkey.stderr);
    assert.equal(JSON.parse(passkey.stdout).fulltext[0].accuracy, 1, "names are rare words: BM25 finds every key");
    assert.ok(readdirSync(path.join(s3.dir, s3.bucket, "passkey")).some((name) => name.endsWith(".lance")));
  });

  it("a missing table, an unreachable endpoint, a missing bucket, http without allow_http: errors naming the URI", {
    timeout: 180_000,
  }, async () => {
    const missing = await runCli(["search", "x", "--db", `s3://${s3.bucket}/empty`, ...s3.storageArgs], ENV);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, new RegExp(`table "docs" not found in s3://${s3.bucket}/empty; create it`));

    const quick = ["--storage-option", "client_max_retries=0"];
    const unreachable = await runCli(
      // serve: the store is checked at start-up, so it exits instead of listening on a database it cannot read.
      [
        "serve",
        "--port",
        "0",
        "--db",
        db,
        ...s3.storageArgs,
        "--storage-option",
        "aws_endpoint=http://127.0.0.1:1",
        ...quick,
      ],
      ENV,
    );
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, new RegExp(`lance-e5: object store ${db}: .*Connection refused`));
    // LanceDB's own WARN lines may precede it; lance-e5's line is the one to read.
    const ours = unreachable.stderr.split("\n").filter((line) => line.startsWith("lance-e5:"));
    assert.equal(ours.length, 1, unreachable.stderr);
    assert.doesNotMatch(ours[0]!, /\.rs:\d+/, "no Rust source locations");
    assert.doesNotMatch(unreachable.stderr, /^\s+at /m, "no stack");

    const noBucket = await runCli(["ingest", corpus, "--db", "s3://no-such-bucket/db", ...s3.storageArgs], ENV);
    assert.equal(noBucket.code, 1);
    assert.match(noBucket.stderr, /lance-e5: object store s3:\/\/no-such-bucket\/db: .*NoSuchBucket/);

    const withoutAllowHttp = Object.entries(s3.storageOptions)
      .filter(([key]) => key !== "allow_http")
      .flatMap(([key, value]) => ["--storage-option", `${key}=${value}`]);
    const http = await runCli(["search", "x", "--db", db, ...withoutAllowHttp], ENV);
    assert.equal(http.code, 1);
    assert.match(http.stderr, new RegExp(`object store ${db}: .*needs allow_http=true`));
  });

  it("bad --storage-option / LANCE_E5_STORAGE_OPTIONS: exit 2 naming it, on every command with --db", async () => {
    const commands = [
      ["ingest", corpus],
      ["search", "x"],
      ["serve", "--port", "0"],
      ["eval", corpus, "--mode", "fulltext"],
      ["passkey"],
      ["tune-fusion", "held-out.jsonl"],
      [
        "synth",
        "--from-table",
        "docs",
        "--llm-base-url",
        "http://127.0.0.1:1/v1",
        "--llm-model",
        "m",
        "--out",
        path.join(tempDir(), "x.jsonl"),
      ],
    ];
    for (const command of commands) {
      const bad = await runCli([...command, "--db", db, "--storage-option", "allow_http"], ENV);
      assert.equal(bad.code, 2, `${command[0]}: ${bad.stderr}`);
      assert.match(bad.stderr, /--storage-option: "allow_http" is not key=value/, command[0]);
    }
    const badEnv = await runCli(["search", "x", "--db", db], { ...ENV, [STORAGE_OPTIONS_ENV]: "region" });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /LANCE_E5_STORAGE_OPTIONS: "region" is not key=value/);
  });
});

describe("Lance's commit protocol on the local S3 server", () => {
  const appendConcurrently = async (s3: LocalS3, writers: number): Promise<number> => {
    const uri = `s3://${s3.bucket}/race`;
    const options = { storageOptions: s3.storageOptions };
    await (await lancedb.connect(uri, options)).createTable("t", [{ id: 0, v: [0, 0] }]);
    const tables = await Promise.all(
      Array.from({ length: writers }, async () => (await lancedb.connect(uri, options)).openTable("t")),
    );
    await Promise.all(tables.map((table, i) => table.add([{ id: i + 1, v: [i, i] }])));
    return (await (await lancedb.connect(uri, options)).openTable("t")).countRows();
  };

  it("concurrent appends all survive: manifests are written with If-None-Match: *, losers get 412 and retry", async (t) => {
    const conditional = await startLocalS3();
    try {
      assert.equal(await appendConcurrently(conditional, 8), 9, "every append is in the table");
      assert.ok(conditional.conditionalPuts.total >= 9, "each commit is a conditional PUT");
      assert.ok(conditional.conditionalPuts.refused > 0, "the writers really raced (some commits were refused)");
      t.diagnostic(
        `conditional PUTs ${conditional.conditionalPuts.total}, refused ${conditional.conditionalPuts.refused}`,
      );
    } finally {
      await conditional.close();
    }
    // The same race on a store that ignores If-None-Match (plain s3rver): commits overwrite each other. Printed,
    // not asserted (how many are lost depends on timing); the README quotes it.
    const plain = await startLocalS3({ conditionalPut: false });
    try {
      t.diagnostic(`without conditional PUT: ${await appendConcurrently(plain, 8)} of 9 rows survived`);
    } finally {
      await plain.close();
    }
  });

  it("two concurrent `ingest --shard i/2` workers on s3:// store every chunk exactly once", async () => {
    const s3 = await startLocalS3();
    try {
      const root = tempDir("lance-e5-objstore-shard-");
      const corpus = corpusCopy(6, root);
      const db = `s3://${s3.bucket}/sharded`;
      const worker = (shard: string) =>
        runCli(
          ["ingest", corpus, "--db", db, ...s3.storageArgs, "--shard", shard, "--json", "--chunk-tokens", "64"],
          ENV,
        );
      const runs = await Promise.all([worker("0/2"), worker("1/2")]);
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
      const added = runs.map((run) => JSON.parse(run.stdout).chunks_added as number);
      assert.ok(
        added.every((n) => n > 0),
        `both shards had work: ${added}`,
      );

      const reference = await runCli(
        ["ingest", corpus, "--db", path.join(root, "local"), "--json", "--chunk-tokens", "64"],
        ENV,
      );
      assert.equal(reference.code, 0, reference.stderr);
      const table = await (await lancedb.connect(db, { storageOptions: s3.storageOptions })).openTable("docs");
      const ids = (await table.query().select(["id"]).toArray()).map((row) => String(row.id));
      const local = await (await lancedb.connect(path.join(root, "local"))).openTable("docs");
      const localIds = (await local.query().select(["id"]).toArray()).map((row) => String(row.id));
      assert.equal(ids.length, added[0]! + added[1]!);
      assert.deepEqual(ids.sort(), localIds.sort(), "the same chunks as one local process, each once");
    } finally {
      await s3.close();
    }
  });
});

interface Serve {
  url: string;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/** `lance-e5 serve --port 0 …` as a child process, resolved once it listens. */
async function startServe(args: string[]): Promise<Serve> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "serve", "--port", "0", ...args],
    { cwd: REPO_ROOT, env: { ...process.env, ...ENV, LANCE_E5_THREADS: "1" }, stdio: ["ignore", "ignore", "pipe"] },
  );
  const closed = new Promise((resolve) => child.once("close", resolve));
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (data) => {
      stderr += data;
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once("close", (code) => reject(new Error(`serve exited (${code}) before listening:\n${stderr}`)));
  });
  return {
    url,
    stderr: () => stderr,
    async stop() {
      child.kill("SIGTERM");
      await closed;
    },
  };
}

/** A word (≥ 7 letters) that occurs in exactly one corpus file: [that file's name, the word]. */
function rareWord(dir: string): [string, string] {
  const files = readdirSync(dir).sort();
  const words = files.map(
    (f) =>
      new Set(
        readFileSync(path.join(dir, f), "utf8")
          .toLowerCase()
          .match(/[a-z]{7,}/g),
      ),
  );
  for (const [i, set] of words.entries()) {
    for (const word of set) if (words.every((other, j) => j === i || !other.has(word))) return [files[i]!, word];
  }
  throw new Error("no word unique to one file");
}
