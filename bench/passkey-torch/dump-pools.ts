/**
 * Dumps the pools `lance-e5 passkey` builds (both variants, 100 candidates, 50 queries, seed 0) as the exact token
 * ids the runtime feeds, for the PyTorch cross-check in this folder (README.md here).
 *
 *   node --import tsx bench/passkey-torch/dump-pools.ts pools.jsonl [lengths]
 */
import { createWriteStream } from "node:fs";
import { buildPool } from "../../src/eval/passkey/documents.ts";
import { heldOutSotuSentences } from "../../src/eval/passkey/haystack.ts";
import { loadEmbedder } from "../../src/model/index.ts";

const [outPath, lengthList = "256,512,1024,2048,4096,8192,16384,32768"] = process.argv.slice(2);
if (outPath === undefined) throw new Error("usage: dump-pools.ts OUT.jsonl [lengths]");
const lengths = lengthList.split(",").map(Number);
const out = createWriteStream(outPath);
const embedder = await loadEmbedder("models/default", { maxLength: Math.max(...lengths), threads: 1 });
const count = (text: string) => embedder.encode(text, Number.MAX_SAFE_INTEGER).ids.length;
const haystack = await heldOutSotuSentences();
for (const variant of ["passkey", "needle"] as const) {
  for (const length of lengths) {
    const pool = buildPool({ variant, length, candidates: 100, queries: 50, seed: 0, count, haystack });
    const docs = pool.documents.map((d) => ({ id: d.id, ids: embedder.encode(d.text, length).ids }));
    const queries = pool.queries.map((q) => ({
      answer: q.answerId,
      ids: embedder.encode(embedder.formatQuery(q.text, { task: "passkey" })).ids,
    }));
    out.write(`${JSON.stringify({ variant, length, docs, queries })}\n`);
    process.stderr.write(`${variant} ${length}: ${docs.length} documents\n`);
  }
}
out.end();
await embedder.dispose();
