/**
 * Just enough protobuf to find and overwrite an initializer in an ONNX model's bytes, so a RoPE base can be
 * changed at load time without re-exporting (ENVIRONMENT.md: a model handed to ORT as bytes can be edited first).
 * Field numbers are from onnx/onnx.proto3: ModelProto.graph = 7; GraphProto.initializer = 5;
 * TensorProto.dims = 1, data_type = 2, float_data = 4, name = 8, raw_data = 9, external_data = 13,
 * data_location = 14; StringStringEntryProto.key = 1, value = 2.
 * The data is overwritten in place with the same number of bytes, so no length prefix changes.
 */

export const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

export const TENSOR_FLOAT = 1;
export const TENSOR_FLOAT16 = 10;

export interface InitializerInfo {
  name: string;
  dims: number[];
  dataType: number;
  /** Where the tensor's values sit in the model bytes (raw_data or packed float_data), if stored inline. */
  data?: { offset: number; length: number };
  /** Relative path of the external data file, when the tensor is stored outside model.onnx. */
  externalLocation?: string;
}

export class OnnxProtoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxProtoError";
  }
}

export interface Field {
  number: number;
  wireType: number;
  /** For varints: the value. */
  value: number;
  /** For length-delimited fields: where the payload starts and its length (for others: the value's bytes). */
  start: number;
  length: number;
  /** Where the field's key starts: bytes[keyStart, start + length) is the whole field. */
  keyStart: number;
}

function readVarint(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= bytes.length) throw new OnnxProtoError("truncated varint");
    const byte = bytes[pos++] as number;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
  throw new OnnxProtoError("varint too long");
}

/** Iterates the fields of one message occupying bytes[start, end). */
export function* fields(bytes: Uint8Array, start: number, end: number): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const keyStart = pos;
    const [key, afterKey] = readVarint(bytes, pos);
    const number = Math.floor(key / 8);
    const wireType = key & 7;
    pos = afterKey;
    if (wireType === WIRE_VARINT) {
      const [value, next] = readVarint(bytes, pos);
      yield { number, wireType, value, start: pos, length: next - pos, keyStart };
      pos = next;
    } else if (wireType === WIRE_BYTES) {
      const [length, next] = readVarint(bytes, pos);
      if (next + length > end) throw new OnnxProtoError(`field ${number} runs past its message`);
      yield { number, wireType, value: 0, start: next, length, keyStart };
      pos = next + length;
    } else if (wireType === WIRE_FIXED32) {
      yield { number, wireType, value: 0, start: pos, length: 4, keyStart };
      pos += 4;
    } else if (wireType === WIRE_FIXED64) {
      yield { number, wireType, value: 0, start: pos, length: 8, keyStart };
      pos += 8;
    } else {
      throw new OnnxProtoError(`unsupported wire type ${wireType}`);
    }
  }
  if (pos !== end) throw new OnnxProtoError("message runs past its end");
}

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

/** The UTF-8 text of a length-delimited field (a string). */
export function fieldText(bytes: Uint8Array, field: Field): string {
  return utf8.decode(bytes.subarray(field.start, field.start + field.length));
}

/** The whole encoding of a field as it sits in `bytes`: key, length prefix (if any) and payload. */
export function fieldBytes(bytes: Uint8Array, field: Field): Uint8Array {
  return bytes.subarray(field.keyStart, field.start + field.length);
}

function encodeVarint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

/** Concatenates encoded pieces into one buffer. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A length-delimited field: a string, or an embedded message given as its encoded parts. */
export function encodeBytesField(number: number, payload: string | readonly Uint8Array[]): Uint8Array {
  return concatBytes(bytesFieldParts(number, typeof payload === "string" ? [utf8Encoder.encode(payload)] : payload));
}

/** A length-delimited field as [key and length, ...payload], uncopied: for large messages built in one final copy. */
export function bytesFieldParts(number: number, payload: readonly Uint8Array[]): Uint8Array[] {
  const length = payload.reduce((n, p) => n + p.length, 0);
  return [Uint8Array.from([...encodeVarint(number * 8 + WIRE_BYTES), ...encodeVarint(length)]), ...payload];
}

/** A varint field (non-negative integers only). */
export function encodeVarintField(number: number, value: number): Uint8Array {
  return Uint8Array.from([...encodeVarint(number * 8 + WIRE_VARINT), ...encodeVarint(value)]);
}

function parseTensor(bytes: Uint8Array, start: number, end: number): InitializerInfo {
  const info: InitializerInfo = { name: "", dims: [], dataType: 0 };
  let external = false;
  for (const field of fields(bytes, start, end)) {
    if (field.number === 1 && field.wireType === WIRE_VARINT) info.dims.push(field.value);
    else if (field.number === 1 && field.wireType === WIRE_BYTES) {
      for (let p = field.start; p < field.start + field.length; ) {
        const [dim, next] = readVarint(bytes, p);
        info.dims.push(dim);
        p = next;
      }
    } else if (field.number === 2) info.dataType = field.value;
    else if (field.number === 8) info.name = utf8.decode(bytes.subarray(field.start, field.start + field.length));
    else if ((field.number === 9 || field.number === 4) && field.wireType === WIRE_BYTES) {
      info.data = { offset: field.start, length: field.length };
    } else if (field.number === 14) external = field.value === 1;
    else if (field.number === 13) {
      let key = "";
      let value = "";
      for (const entry of fields(bytes, field.start, field.start + field.length)) {
        const text = utf8.decode(bytes.subarray(entry.start, entry.start + entry.length));
        if (entry.number === 1) key = text;
        else if (entry.number === 2) value = text;
      }
      if (key === "location") info.externalLocation = value;
    }
  }
  if (!external) delete info.externalLocation;
  return info;
}

/** All top-level graph initializers of an ONNX model. */
export function listInitializers(model: Uint8Array): InitializerInfo[] {
  const result: InitializerInfo[] = [];
  for (const field of fields(model, 0, model.length)) {
    if (field.number !== 7 || field.wireType !== WIRE_BYTES) continue;
    for (const graphField of fields(model, field.start, field.start + field.length)) {
      if (graphField.number === 5 && graphField.wireType === WIRE_BYTES) {
        result.push(parseTensor(model, graphField.start, graphField.start + graphField.length));
      }
    }
  }
  return result;
}

/** Element count of a tensor shape (a scalar has one). */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/**
 * Overwrites the values of a float32 or float16 initializer in place. `values` must have exactly the tensor's
 * element count; the model bytes are modified (pass a copy to keep the original).
 */
export function overwriteFloatInitializer(model: Uint8Array, name: string, values: Float64Array | number[]): void {
  const info = listInitializers(model).find((t) => t.name === name);
  if (info === undefined) throw new OnnxProtoError(`initializer "${name}" is not in the graph`);
  if (info.externalLocation !== undefined || info.data === undefined) {
    throw new OnnxProtoError(`initializer "${name}" is stored as external data; it must be inline to be rewritten`);
  }
  const count = elementCount(info.dims);
  if (count !== values.length) {
    throw new OnnxProtoError(`initializer "${name}" has ${count} values, ${values.length} given`);
  }
  const bytesPerValue = info.dataType === TENSOR_FLOAT ? 4 : info.dataType === TENSOR_FLOAT16 ? 2 : 0;
  if (bytesPerValue === 0) throw new OnnxProtoError(`initializer "${name}" has data type ${info.dataType}, not float`);
  if (info.data.length !== count * bytesPerValue) {
    throw new OnnxProtoError(
      `initializer "${name}" holds ${info.data.length} bytes, expected ${count * bytesPerValue}`,
    );
  }
  const view = new DataView(model.buffer, model.byteOffset + info.data.offset, info.data.length);
  for (let i = 0; i < count; i++) {
    const value = values[i] as number;
    if (bytesPerValue === 4) view.setFloat32(i * 4, value, true);
    else view.setUint16(i * 2, toFloat16Bits(value), true);
  }
}

/** IEEE 754 half-precision bits of a number (round to nearest even). */
export function toFloat16Bits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  let mantissa = bits & 0x7fffff;
  if (exponent >= 0x1f) return sign | 0x7c00 | (((bits >>> 23) & 0xff) === 0xff && mantissa ? 0x200 : 0);
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (half + (rest > midpoint || (rest === midpoint && half & 1) ? 1 : 0));
  }
  const half = (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/** A number from IEEE 754 half-precision bits (for float16 model outputs). */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
