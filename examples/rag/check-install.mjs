/**
 * `npm start` runs this first, as plain JavaScript (it must run before tsx is installed). The example links
 * lance-e5 from the repo (file:../..), whose own dependencies (LanceDB, ONNX Runtime) live in the repo's
 * node_modules; without them every import fails with a module-not-found stack. This says what to run instead.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
for (const dir of [
  path.join(repoRoot, "node_modules/@lancedb/lancedb"),
  path.join(repoRoot, "examples/rag/node_modules/hono"),
]) {
  if (!existsSync(dir)) {
    const where = dir.includes("examples/rag") ? "examples/rag" : "the repository root";
    process.stderr.write(`rag: ${path.relative(repoRoot, dir)} is missing: run \`npm ci\` in ${where} first\n`);
    process.exit(1);
  }
}
