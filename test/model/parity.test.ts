/**
 * TS runtime vs the Python/transformers reference (test/fixtures/README.md): every case of every family, both
 * padding sides, instructed queries, truncation, RoPE-base override, and a text alone vs inside a padded batch.
 * The fixture weights are random, so only numerical agreement is meaningful here, and it is exactly what is tested.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { padBatch } from "../../src/model/batching.ts";
import type { Embedder } from "../../src/model/embedder.ts";
import { loadEmbedder } from "../../src/model/onnx-embedder.ts";
import { FAMILY_FIXTURES, fixtureDir, maxAbsDiff, readReference } from "./fixtures.ts";

const TOLERANCE = 1e-4;

for (const name of FAMILY_FIXTURES) {
  describe(`parity: ${name}`, () => {
    const reference = readReference(name);
    const dir = fixtureDir(name);
    const full = reference.cases.filter((c) => c.max_length === 512);
    const loaded: Embedder[] = [];
    const load = async (options: Parameters<typeof loadEmbedder>[1]) => {
      const embedder = await loadEmbedder(dir, { threads: 1, ...options });
      loaded.push(embedder);
      return embedder;
    };
    after(async () => {
      for (const embedder of loaded) await embedder.dispose();
    });

    test("token ids equal the reference ids for every case (BOS, truncation, EOS)", async () => {
      const embedder = await load({});
      for (const c of reference.cases) {
        const encoded = embedder.encode(c.text, c.max_length);
        assert.deepEqual(encoded.ids, c.ids, c.id);
        assert.equal(encoded.truncated, c.truncated ?? false, c.id);
      }
    });

    for (const side of ["right", "left"] as const) {
      test(`all cases batched with ${side} padding match the reference within ${TOLERANCE}`, async () => {
        // One padded batch holding every case (the default budget would split them into several).
        const embedder = await load({ paddingSide: side, batchTokenBudget: 1_000_000 });
        const vectors = await embedder.embedRaw(full.map((c) => c.text));
        for (const [i, c] of full.entries()) {
          const diff = maxAbsDiff(vectors[i] as Float32Array, c.embedding);
          assert.ok(diff <= TOLERANCE, `${c.id}: max |diff| ${diff}`);
        }
      });

      test(`padding (${side}) builds the reference's input_ids and attention_mask`, () => {
        const batch = reference.batches.find((b) => b.padding_side === side);
        assert.ok(batch);
        const byId = new Map(reference.cases.map((c) => [c.id, c.ids]));
        const padded = padBatch(
          batch.case_ids.map((id) => byId.get(id) as number[]),
          reference.pad_id,
          side,
        );
        assert.deepEqual([...padded.inputIds].map(Number), batch.input_ids.flat());
        assert.deepEqual([...padded.attentionMask].map(Number), batch.attention_mask.flat());
      });
    }

    test("instructed queries through embedQueries({instruction}) match the reference", async () => {
      const embedder = await load({});
      const queries = full.filter((c) => c.kind === "query");
      assert.ok(queries.length >= 4);
      for (const c of queries) {
        assert.equal(embedder.formatQuery(c.query as string, { instruction: c.task }), c.text, c.id);
        const [vector] = await embedder.embedQueries([c.query as string], { instruction: c.task });
        const diff = maxAbsDiff(vector as Float32Array, c.embedding);
        assert.ok(diff <= TOLERANCE, `${c.id}: max |diff| ${diff}`);
      }
    });

    test("truncated input (max_length 64) matches the reference", async () => {
      const embedder = await load({ maxLength: 64 });
      const c = reference.cases.find((x) => x.id === "doc-truncated");
      assert.ok(c?.truncated);
      const [vector] = await embedder.embedDocuments([c.text]);
      const diff = maxAbsDiff(vector as Float32Array, c.embedding);
      assert.ok(diff <= TOLERANCE, `max |diff| ${diff}`);
      await assert.rejects(embedder.embedDocuments([c.text], { truncate: false }), /longer than 64 tokens/);
    });

    test("a text alone and inside a padded batch differ by at most 1e-5 (both sides)", async () => {
      for (const side of ["right", "left"] as const) {
        // A tiny budget forces one text per run; a huge one puts every case into one padded batch.
        const single = await load({ paddingSide: side, batchTokenBudget: 1 });
        const batched = await load({ paddingSide: side, batchTokenBudget: 1_000_000 });
        const alone = await single.embedRaw(full.map((c) => c.text));
        const together = await batched.embedRaw(full.map((c) => c.text));
        for (const [i, c] of full.entries()) {
          const diff = maxAbsDiff(alone[i] as Float32Array, together[i] as Float32Array);
          assert.ok(diff <= 1e-5, `${side} ${c.id}: max |diff| ${diff}`);
        }
      }
    });

    test(`RoPE base override (${reference.rope_override.base}) matches torch at that base`, async () => {
      const embedder = await load({ ropeBase: reference.rope_override.base });
      const cases = reference.rope_override.cases.filter((c) => c.max_length === 512);
      const vectors = await embedder.embedRaw(cases.map((c) => c.text));
      for (const [i, c] of cases.entries()) {
        assert.deepEqual(embedder.encode(c.text).ids, c.ids, c.id);
        const diff = maxAbsDiff(vectors[i] as Float32Array, c.embedding);
        assert.ok(diff <= TOLERANCE, `${c.id}: max |diff| ${diff}`);
        // Guard against a no-op override: the native-base vector must be measurably different.
        const native = reference.cases.find((x) => x.id === c.id);
        if (native && native.ids.length > 2) assert.ok(maxAbsDiff(native.embedding, c.embedding) > 10 * TOLERANCE);
      }
    });

    test("vectors are unit length and in input order", async () => {
      const embedder = await load({});
      const texts = full.map((c) => c.text).reverse();
      const vectors = await embedder.embedRaw(texts);
      for (const [i, vector] of vectors.entries()) {
        const norm = Math.hypot(...vector);
        assert.ok(Math.abs(norm - 1) < 1e-5);
        const c = full[full.length - 1 - i];
        assert.ok(maxAbsDiff(vector, c?.embedding ?? []) <= TOLERANCE);
      }
    });
  });
}
