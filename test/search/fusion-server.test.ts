import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { search } from "../../src/search/index.ts";
import { schemaErrors } from "../../src/server/schemas.ts";
import { errorOf, postJson, type ServerFixture, serverFixture } from "../server/helpers.ts";

/** POST /search's `vector_weight` body field: passed to the shared query path, validated, same response shape. */
let fx: ServerFixture;
before(async () => {
  fx = await serverFixture();
});
after(async () => {
  await fx.cleanup();
});

describe("POST /search vector_weight", () => {
  test("hybrid with a weight returns what the library returns for that weight, in the documented shape", async () => {
    const app = await fx.app();
    for (const vector_weight of [0, 0.25, 1]) {
      const body = { query: "God created light", k: 5, mode: "hybrid" as const, vector_weight };
      const response = await postJson(app, "/search", body);
      assert.equal(response.status, 200);
      const json = (await response.json()) as { results: Array<{ id: string; score: number }> };
      assert.deepEqual(schemaErrors("SearchResponse", json), []);
      const direct = await search({ ...body, db: fx.db, tableName: "docs", embedder: fx.embedder });
      assert.deepEqual(
        json.results.map((r) => [r.id, r.score]),
        direct.results.map((r) => [r.id, r.score]),
      );
    }
    // The weight changes the fused order's scores: w = 0 and w = 1 differ on this table.
    const scoresAt = async (w: number) =>
      (
        (await (
          await postJson(app, "/search", { query: "God created light", mode: "hybrid", vector_weight: w })
        ).json()) as {
          results: Array<{ id: string }>;
        }
      ).results.map((r) => r.id);
    assert.notDeepEqual(await scoresAt(0), await scoresAt(1));
  });

  test("bad weights are a 400 naming vector_weight", async () => {
    const app = await fx.app();
    for (const body of [
      { query: "x", mode: "hybrid", vector_weight: 2 },
      { query: "x", mode: "hybrid", vector_weight: "half" },
      { query: "x", mode: "vector", vector_weight: 0.5 },
    ]) {
      const error = await errorOf(await postJson(app, "/search", body));
      assert.equal(error.status, 400, JSON.stringify(body));
      assert.match(error.message, /vector_weight/);
    }
  });
});
