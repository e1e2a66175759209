/**
 * `npm start -- [flags]`: ingest the corpus folder with lance-e5, then serve the question-answering page.
 * Prints `listening on http://HOST:PORT` once it accepts requests (the browser test waits for that line).
 */
import path from "node:path";
import { serve } from "@hono/node-server";
import { loadEmbedder, ModelDirectoryError } from "lance-e5";
import { createRagApp } from "./app.ts";
import { CorpusError, prepareCorpus } from "./corpus.ts";
import { parseRagOptions, RagOptionsError, USAGE } from "./options.ts";

function fail(message: string, code: number): never {
  process.stderr.write(`rag: ${message}\n`);
  process.exit(code);
}

let options: ReturnType<typeof parseRagOptions>;
try {
  options = parseRagOptions(process.argv.slice(2));
} catch (error) {
  if (error instanceof RagOptionsError) fail(`${error.message}\n\n${USAGE}`, 2);
  throw error;
}
if (options === "help") {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const embedder = await loadEmbedder(options.model, { threads: options.threads }).catch((error: unknown) => {
  if (error instanceof ModelDirectoryError) fail(error.message, 2);
  throw error;
});
console.log(`model ${embedder.config.name} (${options.model})`);
console.log(`ingesting ${options.corpus} into ${options.db} table "${options.table}"…`);
const { report, target } = await prepareCorpus(options, embedder).catch((error: unknown) => {
  if (error instanceof CorpusError) fail(error.message, 2);
  throw error;
});
const chunks = report.chunks_added + report.chunks_updated + report.chunks_unchanged;
console.log(
  `corpus: ${report.files} file(s), ${chunks} chunks (${report.chunks_added} new, ${report.chunks_updated} updated, ` +
    `${report.chunks_deleted} deleted) in ${report.seconds.toFixed(1)} s`,
);
for (const failure of report.failures) console.warn(`skipped ${failure.source}: ${failure.reason}`);

const app = createRagApp({
  target,
  embedder,
  defaults: { task: options.task, mode: options.mode, k: options.k },
  llm: options.llm,
  corpus: { name: path.basename(options.corpus), chunks },
});
console.log(
  options.llm
    ? `answers: streamed from ${options.llm.model} at ${options.llm.baseUrl}`
    : "answers: extractive (no --llm-base-url given)",
);

const server = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, (info) => {
  console.log(`listening on http://${info.family === "IPv6" ? `[${info.address}]` : info.address}:${info.port}`);
});
server.on("error", (error) => fail(`cannot listen on ${options.host}:${options.port}: ${error.message}`, 1));

const shutdown = () => {
  server.close();
  void embedder.dispose().finally(() => process.exit(0));
};
process.once("SIGINT", shutdown);
process.once("SIGTERM", shutdown);
