/** The protobuf walk that rewrites RoPE initializers, on a real exported graph (tiny-mistral fixture). */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import type { RopeConfig } from "../../src/model/config.ts";
import {
  fromFloat16Bits,
  listInitializers,
  OnnxProtoError,
  overwriteFloatInitializer,
  toFloat16Bits,
} from "../../src/model/onnx-proto.ts";
import { applyRopeBase, RopeOverrideError, ropeInverseFrequencies } from "../../src/model/rope.ts";
import { fixtureDir } from "./fixtures.ts";

const model = new Uint8Array(readFileSync(path.join(fixtureDir("tiny-mistral"), "model.onnx")));
const rope: RopeConfig = { base: 10000, dim: 16, inv_freq_initializer: "rope_inv_freq" };

function floatsOf(bytes: Uint8Array, name: string): number[] {
  const info = listInitializers(bytes).find((t) => t.name === name);
  assert.ok(info?.data);
  const view = new DataView(bytes.buffer, bytes.byteOffset + info.data.offset, info.data.length);
  return Array.from({ length: info.data.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

describe("ONNX initializer walk", () => {
  test("finds the rotary inverse frequencies with their shape and inline data", () => {
    const infos = listInitializers(model);
    const invFreq = infos.find((t) => t.name === "rope_inv_freq");
    assert.deepEqual(invFreq?.dims, [1, 8, 1]);
    assert.equal(invFreq?.dataType, 1);
    assert.equal(invFreq?.externalLocation, undefined);
    assert.ok(infos.length > 10, "every weight is an initializer");
  });

  test("rewriting at the native base reproduces the exported bytes exactly (float32 steps like torch)", () => {
    const edited = applyRopeBase(model, listInitializers(model), rope, 10000);
    assert.deepEqual(floatsOf(edited, "rope_inv_freq"), floatsOf(model, "rope_inv_freq"));
    assert.ok(Buffer.from(edited).equals(Buffer.from(model)));
  });

  test("rewriting at another base changes only that initializer, in place", () => {
    const edited = applyRopeBase(model, listInitializers(model), rope, 1e5);
    assert.equal(edited.length, model.length);
    assert.deepEqual(
      floatsOf(edited, "rope_inv_freq"),
      Array.from(ropeInverseFrequencies(1e5, 16), (v) => Math.fround(v)),
    );
    let changed = 0;
    for (let i = 0; i < model.length; i++) if (edited[i] !== model[i]) changed++;
    assert.ok(changed > 0 && changed <= 8 * 4);
    assert.ok(
      Buffer.from(readFileSync(path.join(fixtureDir("tiny-mistral"), "model.onnx"))).equals(Buffer.from(model)),
    );
  });

  test("wrong names, sizes and garbage bytes are typed errors", () => {
    assert.throws(() => overwriteFloatInitializer(new Uint8Array(model), "nope", [1]), OnnxProtoError);
    assert.throws(
      () => overwriteFloatInitializer(new Uint8Array(model), "rope_inv_freq", [1, 2]),
      /has 8 values, 2 given/,
    );
    assert.throws(() => applyRopeBase(model, listInitializers(model), { base: 1e4, dim: 16 }, 1e5), RopeOverrideError);
    assert.throws(() => listInitializers(new Uint8Array([0x3a, 0xff, 0xff, 0xff, 0x0f])), OnnxProtoError);
  });

  test("float16 conversion round-trips representable values and rounds to nearest", () => {
    for (const v of [0, 1, -2, 0.5, 65504, 2 ** -14, 2 ** -24, 1 / 3]) {
      assert.equal(fromFloat16Bits(toFloat16Bits(v)), v === 1 / 3 ? 0.333251953125 : v);
    }
    assert.equal(toFloat16Bits(1e6), 0x7c00, "overflow → infinity");
    assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(Number.NaN))));
  });
});
