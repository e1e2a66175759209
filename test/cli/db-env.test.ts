import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";

// ingest, search and serve agree on where the data is: --db, else $LANCE_E5_DB (the Docker image sets it), else
// ./data/lancedb. Tiny random fixture model; full-text mode, so the assertion holds for any weights.

const MODEL = path.join(REPO_ROOT, "test/fixtures/models/tiny-mistral");
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test("ingest and search use $LANCE_E5_DB when --db is not given, and --db wins over it", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lance-e5-db-env-"));
  dirs.push(dir);
  await writeFile(path.join(dir, "owl.txt"), "Barn owls swallow their prey whole and cough up pellets.");
  const env = { LANCE_E5_DB: path.join(dir, "from-env") };
  const ingest = await runCli(["ingest", path.join(dir, "owl.txt"), "--model", MODEL, "--json"], env);
  assert.equal(ingest.code, 0, ingest.stderr);

  const viaEnv = await runCli(["search", "pellets", "--mode", "fulltext", "--model", MODEL, "--json"], env);
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.equal((JSON.parse(viaEnv.stdout) as { results: unknown[] }).results.length, 1);

  const flagWins = await runCli(
    ["search", "pellets", "--mode", "fulltext", "--model", MODEL, "--db", path.join(dir, "elsewhere"), "--json"],
    env,
  );
  assert.notEqual(flagWins.code, 0, "the --db directory has no table");
  assert.match(flagWins.stderr, /elsewhere|not found|docs/i);
});
