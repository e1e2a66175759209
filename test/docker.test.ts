import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import { createServer } from "node:net";
import path from "node:path";
import { after, describe, it } from "node:test";
import { type Copy, DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import dockerfilelint from "dockerfilelint";
import semver from "semver";
import ts from "typescript";
import { REPO_ROOT } from "./helpers/cli.ts";
import { tempDir } from "./ingest/helpers.ts";

// Docker cannot run on these machines, so the Dockerfile is kept honest here: it lints clean, every COPY source
// is a committed path inside the build context, the base image's Node satisfies package.json engines, the runtime
// code needs only production dependencies, and the image's own ENTRYPOINT + CMD and HEALTHCHECK are run on the
// host from a copy of exactly the files the image gets.

const DOCKERFILE = readFileSync(path.join(REPO_ROOT, "Dockerfile"), "utf8");
const PACKAGE = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
  engines: { node: string };
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};
const parsed = DockerfileParser.parse(DOCKERFILE);
// CommonJS `module.exports = factory`, which its typings declare as a default export: load it the CommonJS way.
const dockerignore = createRequire(import.meta.url)(
  "@balena/dockerignore",
) as typeof import("@balena/dockerignore").default;

interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}

/** ARGs before the first FROM, with their defaults: what `docker build` uses without --build-arg. */
const initialArgs = new Map(
  parsed.getInitialARGs().map((arg) => [arg.getProperty()!.getName(), arg.getProperty()!.getValue() ?? ""]),
);
const expand = (text: string) => text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => initialArgs.get(a ?? b) ?? "");

const stages: Stage[] = [];
for (const instruction of parsed.getInstructions()) {
  if (instruction.getKeyword() === "FROM") {
    const [image, as, name] = instruction.getArguments().map((a) => a.getValue());
    stages.push({ name: as?.toUpperCase() === "AS" ? name! : null, image: expand(image!), instructions: [] });
  } else stages.at(-1)?.instructions.push(instruction);
}
const runtime = stages.at(-1)!;

const ofKind = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const argsOf = (i: Instruction) => i.getArguments().map((a) => a.getValue());
/** The stage named by COPY --from, or null for a copy from the build context. */
const copyFrom = (i: Instruction) => (i as Copy).getFromFlag()?.getValue() ?? null;
/** Exec-form (JSON array) arguments of CMD / ENTRYPOINT / VOLUME, or of HEALTHCHECK after its CMD keyword. */
function execForm(i: Instruction): string[] {
  const content = (i.getArgumentsContent() ?? "").replace(/^CMD\s+/, "");
  const argv = JSON.parse(content) as unknown;
  assert.ok(Array.isArray(argv), `${i.getKeyword()} uses the exec form (a JSON array): ${content}`);
  return argv as string[];
}
/** ENV of a stage, name → value. */
function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const i of ofKind(stage, "ENV")) {
    for (const a of argsOf(i)) {
      const eq = a.indexOf("=");
      env.set(a.slice(0, eq), a.slice(eq + 1));
    }
  }
  return env;
}
/** COPY instructions from the build context (not from another stage): sources and destination. */
function contextCopies(stage: Stage): Array<{ sources: string[]; dest: string }> {
  return ofKind(stage, "COPY")
    .filter((i) => copyFrom(i) === null)
    .map((i) => {
      const args = argsOf(i);
      return { sources: args.slice(0, -1), dest: args.at(-1)! };
    });
}

const ignored = dockerignore().add(readFileSync(path.join(REPO_ROOT, ".dockerignore"), "utf8").split("\n"));
/** Committed files under a path (what a clean clone, and so a CI build, has). */
function committedFiles(source: string): string[] {
  return gitFiles(["--cached"], source);
}
/** Files under a path in this working tree, committed or not (git-ignored ones left out): a local build's context. */
function workingFiles(source: string): string[] {
  return gitFiles(["--cached", "--others", "--exclude-standard"], source).filter((f) =>
    existsSync(path.join(REPO_ROOT, f)),
  );
}
function gitFiles(flags: string[], source: string): string[] {
  const out = execFileSync("git", ["ls-files", "-z", ...flags, "--", source], { cwd: REPO_ROOT, encoding: "utf8" });
  return [...new Set(out.split("\0").filter(Boolean))];
}

describe("Dockerfile", () => {
  it("lints clean with dockerfilelint and dockerfile-utils", async () => {
    assert.deepEqual(dockerfilelint.run(REPO_ROOT, DOCKERFILE), []);
    assert.deepEqual(await validate(DOCKERFILE), []);
  });

  it("is multi-stage on node:<version>-slim, a Node that package.json engines allows", () => {
    assert.ok(stages.length >= 2, "multi-stage");
    for (const stage of stages) {
      const match = /^node:(\d+(?:\.\d+){0,2})-slim$/.exec(stage.image);
      assert.ok(match, `${stage.image} is a node:<version>-slim image`);
      const version = semver.coerce(match[1])!;
      assert.ok(semver.satisfies(version, PACKAGE.engines.node), `${version} satisfies ${PACKAGE.engines.node}`);
      assert.equal(version.major, 20, "the Node 20 line");
    }
    assert.equal(semver.major(process.version), 20, "tests run on the same Node line");
  });

  it("installs production dependencies only, with the onnxruntime-node install-script workaround", () => {
    const deps = stages.find((s) => ofKind(s, "RUN").some((i) => /\bnpm ci\b/.test(i.getArgumentsContent()!)));
    assert.ok(deps, "a stage runs npm ci");
    const install = ofKind(deps, "RUN").find((i) => /\bnpm ci\b/.test(i.getArgumentsContent()!))!;
    const installArgs = argsOf(install);
    assert.ok(installArgs.includes("--omit=dev"), "npm ci --omit=dev");
    // LanceDB's native binary is an optional dependency: omitting optionals breaks it (ENVIRONMENT.md).
    assert.ok(!installArgs.some((a) => a === "--omit=optional" || a === "--no-optional"));
    assert.equal(envOf(deps).get("ONNXRUNTIME_NODE_INSTALL"), "skip", "set before npm ci runs");
    const envLine = ofKind(deps, "ENV").find((i) => /ONNXRUNTIME_NODE_INSTALL/.test(i.getArgumentsContent()!))!;
    assert.ok(envLine.getRange().start.line < install.getRange().start.line);
    assert.equal(PACKAGE.allowScripts["onnxruntime-node"], false);
    const fromDeps = ofKind(runtime, "COPY").filter((i) => copyFrom(i) !== null);
    for (const copy of fromDeps) {
      const from = copyFrom(copy);
      assert.ok(
        stages.some((s) => s.name === from && s !== runtime),
        `COPY --from=${from} names an earlier stage`,
      );
    }
    assert.ok(
      fromDeps.some((i) => argsOf(i)[0]!.endsWith("node_modules")),
      "runtime takes node_modules from it",
    );
  });

  it("copies only committed paths inside the build context, and all of their committed files", () => {
    const copies = stages.flatMap(contextCopies);
    assert.ok(copies.length > 0);
    for (const { sources } of copies) {
      for (const source of sources) {
        assert.ok(existsSync(path.join(REPO_ROOT, source)), `COPY source ${source} exists`);
        const files = committedFiles(source);
        assert.ok(files.length > 0, `${source} is committed`);
        const excluded = files.filter((f) => ignored.ignores(f));
        assert.deepEqual(excluded, [], `.dockerignore keeps ${source} in the build context`);
      }
    }
    const copied = new Set(copies.flatMap((c) => c.sources));
    for (const needed of ["package.json", "package-lock.json", "bin", "src", "schemas", "models"]) {
      assert.ok(copied.has(needed), `the image gets ${needed}`);
    }
  });

  it("imports nothing at run time that `npm ci --omit=dev` leaves out", () => {
    const roots = contextCopies(runtime)
      .flatMap((c) => c.sources)
      .filter((s) => ["bin", "src", "plugins"].includes(s));
    const missing = new Set<string>();
    for (const file of roots.flatMap(workingFiles).filter((f) => /\.(ts|js|mjs)$/.test(f))) {
      const info = ts.preProcessFile(readFileSync(path.join(REPO_ROOT, file), "utf8"), true, true);
      for (const { fileName } of info.importedFiles) {
        if (fileName.startsWith(".") || isBuiltin(fileName)) continue;
        const name = fileName
          .split("/")
          .slice(0, fileName.startsWith("@") ? 2 : 1)
          .join("/");
        if (!(name in PACKAGE.dependencies)) missing.add(`${file} imports ${name}`);
      }
    }
    assert.deepEqual([...missing], [], "every runtime import is a production dependency");
    assert.ok("tsx" in PACKAGE.dependencies, "the bin runs TypeScript through tsx, so tsx ships");
  });

  it("runs `lance-e5 serve --host 0.0.0.0` as a non-root user, with data and model volumes and a /health check", () => {
    const entrypoint = execForm(ofKind(runtime, "ENTRYPOINT").at(-1)!);
    const cmd = execForm(ofKind(runtime, "CMD").at(-1)!);
    assert.deepEqual(entrypoint, ["node", PACKAGE.bin["lance-e5"]]);
    assert.ok(existsSync(path.join(REPO_ROOT, entrypoint[1]!)));
    assert.deepEqual(cmd, ["serve", "--host", "0.0.0.0"]);
    const user = argsOf(ofKind(runtime, "USER").at(-1)!)[0]!;
    assert.ok(!["root", "0"].includes(user.split(":")[0]!), `USER ${user} is not root`);
    const volumes = execForm(ofKind(runtime, "VOLUME").at(-1)!);
    assert.deepEqual(volumes.sort(), ["/data", "/models"]);
    const env = envOf(runtime);
    assert.ok(env.get("LANCE_E5_DB")?.startsWith("/data/"), "the database lives on the data volume");
    assert.deepEqual(argsOf(ofKind(runtime, "EXPOSE").at(-1)!), [env.get("LANCE_E5_PORT")]);
    const check = ofKind(runtime, "HEALTHCHECK").at(-1)!;
    assert.equal(execForm(check)[0], "node");
    assert.match(execForm(check).join(" "), /\/health/);
  });
});

// --- the image's command and health check, run on the host -------------------------------------------------------

const children: ChildProcess[] = [];
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once("error", reject);
  });
}

/** Where COPY puts a file of `source` (relative to WORKDIR): a folder's contents go into dest, a file to dest/. */
function imagePath(source: string, file: string, dest: string): string {
  assert.ok(!path.isAbsolute(dest), `COPY destination ${dest} is relative to WORKDIR`);
  if (statSync(path.join(REPO_ROOT, source)).isDirectory()) return path.join(dest, path.relative(source, file));
  return dest.endsWith("/") ? path.join(dest, path.basename(file)) : dest;
}

/** Exit code of a command run to completion. */
function exitCode(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: "ignore" });
    child.once("error", reject);
    child.once("close", resolve);
  });
}

describe("the image's ENTRYPOINT + CMD and HEALTHCHECK, run on the host", () => {
  it("serves from exactly the copied files; the health check passes (API keys on), and fails once stopped", async () => {
    // WORKDIR of the runtime stage, rebuilt from the context COPYs (this tree's files that .dockerignore lets in).
    const root = tempDir("lance-e5-docker-");
    const app = path.join(root, "app");
    mkdirSync(app);
    for (const { sources, dest } of contextCopies(runtime)) {
      for (const source of sources) {
        for (const file of workingFiles(source).filter((f) => !ignored.ignores(f))) {
          const target = path.join(app, imagePath(source, file, dest));
          mkdirSync(path.dirname(target), { recursive: true });
          cpSync(path.join(REPO_ROOT, file), target);
        }
      }
    }
    // The image's node_modules comes from the deps stage; here the repo's stands in (the test above shows the
    // runtime imports only production dependencies).
    symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(app, "node_modules"));

    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      ...Object.fromEntries(envOf(runtime)),
      LANCE_E5_DB: path.join(root, "data/lancedb"), // the /data volume
      LANCE_E5_PORT: String(port),
      LANCE_E5_API_KEYS: "secret1",
      LANCE_E5_THREADS: "1",
    };
    const argv = [...execForm(ofKind(runtime, "ENTRYPOINT").at(-1)!), ...execForm(ofKind(runtime, "CMD").at(-1)!)];
    assert.equal(argv[0], "node");
    const server = spawn(process.execPath, argv.slice(1), { cwd: app, env, stdio: ["ignore", "ignore", "pipe"] });
    children.push(server);
    let stderr = "";
    await new Promise<void>((resolve, reject) => {
      server.stderr!.on("data", (d) => {
        stderr += d;
        if (/listening on/.test(stderr)) resolve();
      });
      server.once("close", (code) => reject(new Error(`serve exited (${code}):\n${stderr}`)));
    });
    assert.match(stderr, new RegExp(`listening on http://0\\.0\\.0\\.0:${port} \\(model lance-e5-default`), stderr);
    assert.match(stderr, /auth 1 key\(s\)/);

    const healthcheck = execForm(ofKind(runtime, "HEALTHCHECK").at(-1)!);
    const healthArgv = [process.execPath, ...healthcheck.slice(1)];
    assert.equal(await exitCode(healthArgv, env, app), 0, "healthy while serving");
    const search = await fetch(`http://127.0.0.1:${port}/search`, { method: "POST", body: "{}" });
    assert.equal(search.status, 401, "work still needs the key");

    const stopped = new Promise<number | null>((resolve) => server.once("close", resolve));
    server.kill("SIGTERM"); // what `docker stop` sends to PID 1
    assert.equal(await stopped, 0, "drains and exits 0 on SIGTERM");
    assert.equal(await exitCode(healthArgv, env, app), 1, "unhealthy once stopped");
  });
});
