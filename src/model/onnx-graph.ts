import {
  bytesFieldParts,
  concatBytes,
  encodeBytesField,
  encodeVarintField,
  type Field,
  fieldBytes,
  fields,
  fieldText,
  OnnxProtoError,
  WIRE_BYTES,
  WIRE_VARINT,
} from "./onnx-proto.ts";

/**
 * The graph level of an ONNX model's bytes, for the load-time rewrites (last-token-graph.ts, attention-graph.ts):
 * nodes with their inputs, outputs and int attributes, who produces and who consumes each tensor, which tensors
 * are constant, and encoders for new nodes, initializers and the rebuilt model. Untouched fields are carried over
 * as the bytes they were, so a rewrite costs one copy of the model.
 */

// ONNX field numbers (onnx/onnx.proto3).
const MODEL_GRAPH = 7;
const MODEL_OPSET_IMPORT = 8;
const OPSET_DOMAIN = 1;
const OPSET_VERSION = 2;
export const GRAPH_NODE = 1;
export const GRAPH_INITIALIZER = 5;
export const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const NODE_DOMAIN = 7;
const ATTRIBUTE_NAME = 1;
const ATTRIBUTE_I = 3;
const ATTRIBUTE_INTS = 8;
const ATTRIBUTE_TYPE = 20;
const ATTRIBUTE_TYPE_INT = 2;
const ATTRIBUTE_TYPE_INTS = 7;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const VALUE_INFO_NAME = 1;

export interface GraphNode {
  field: Field;
  name: string;
  inputs: string[];
  outputs: string[];
  opType: string;
  domain: string;
  /** Int and ints attributes by name (axes, axis, perm, do_rotary). */
  ints: Map<string, bigint[]>;
}

export interface ModelGraph {
  model: Uint8Array;
  /** The model's top-level fields and the one holding the graph. */
  top: Field[];
  graphField: Field;
  /** The graph's fields in order (nodes, initializers, inputs, outputs, ...). */
  graph: Field[];
  nodes: GraphNode[];
  producer: Map<string, GraphNode>;
  consumers: Map<string, GraphNode[]>;
  graphInputs: string[];
  graphOutputs: string[];
  /** Initializers, Constant outputs and everything computed from constants only. */
  constants: Set<string>;
  /** Initializers by name: the field holding each. */
  initializers: Map<string, Field>;
  /** The default-domain opset the model imports (0 if none). */
  opset: number;
}

/** Parses the graph of `model`; undefined if the model has no graph. Throws OnnxProtoError on bad bytes. */
export function parseModelGraph(model: Uint8Array): ModelGraph | undefined {
  const top = [...fields(model, 0, model.length)];
  const graphField = top.find((f) => f.number === MODEL_GRAPH && f.wireType === WIRE_BYTES);
  if (graphField === undefined) return undefined;
  const graph = [...fields(model, graphField.start, graphField.start + graphField.length)];
  const nodes = graph.filter((f) => f.number === GRAPH_NODE).map((f) => parseNode(model, f));
  const producer = new Map<string, GraphNode>();
  const consumers = new Map<string, GraphNode[]>();
  for (const node of nodes) {
    for (const name of node.inputs) consumers.set(name, [...(consumers.get(name) ?? []), node]);
    for (const name of node.outputs) producer.set(name, node);
  }
  const initializers = new Map<string, Field>();
  for (const f of graph) {
    if (f.number !== GRAPH_INITIALIZER) continue;
    for (const t of fields(model, f.start, f.start + f.length)) {
      if (t.number === TENSOR_NAME) initializers.set(fieldText(model, t), f);
    }
  }
  return {
    model,
    top,
    graphField,
    graph,
    nodes,
    producer,
    consumers,
    graphInputs: graph.filter((f) => f.number === GRAPH_INPUT).map((f) => valueInfoName(model, f)),
    graphOutputs: graph.filter((f) => f.number === GRAPH_OUTPUT).map((f) => valueInfoName(model, f)),
    constants: constantTensors(nodes, new Set(initializers.keys())),
    initializers,
    opset: defaultOpset(model, top),
  };
}

/** The model with its graph replaced by `parts` (encoded graph fields): one copy of everything. */
export function withGraph(g: ModelGraph, parts: readonly Uint8Array[]): Uint8Array {
  return concatBytes(
    g.top.flatMap((f) => (f === g.graphField ? bytesFieldParts(MODEL_GRAPH, parts) : [fieldBytes(g.model, f)])),
  );
}

function defaultOpset(model: Uint8Array, top: Field[]): number {
  for (const f of top) {
    if (f.number !== MODEL_OPSET_IMPORT) continue;
    let domain = "";
    let version = 0;
    for (const g of fields(model, f.start, f.start + f.length)) {
      if (g.number === OPSET_DOMAIN) domain = fieldText(model, g);
      else if (g.number === OPSET_VERSION) version = g.value;
    }
    if (domain === "" || domain === "ai.onnx") return version;
  }
  return 0;
}

function parseNode(model: Uint8Array, field: Field): GraphNode {
  const node: GraphNode = { field, name: "", inputs: [], outputs: [], opType: "", domain: "", ints: new Map() };
  for (const f of fields(model, field.start, field.start + field.length)) {
    if (f.number === NODE_INPUT) node.inputs.push(fieldText(model, f));
    else if (f.number === NODE_OUTPUT) node.outputs.push(fieldText(model, f));
    else if (f.number === NODE_NAME) node.name = fieldText(model, f);
    else if (f.number === NODE_OP_TYPE) node.opType = fieldText(model, f);
    else if (f.number === NODE_DOMAIN) node.domain = fieldText(model, f);
    else if (f.number === NODE_ATTRIBUTE) {
      const name = attributeName(model, f);
      const values: bigint[] = [];
      for (const a of fields(model, f.start, f.start + f.length)) {
        if (a.number === ATTRIBUTE_I && a.wireType === WIRE_VARINT) values.push(signedVarint(model, a.start));
        else if (a.number === ATTRIBUTE_INTS && a.wireType === WIRE_VARINT) values.push(signedVarint(model, a.start));
        else if (a.number === ATTRIBUTE_INTS && a.wireType === WIRE_BYTES) values.push(...packedVarints(model, a));
      }
      node.ints.set(name, values);
    }
  }
  return node;
}

function attributeName(model: Uint8Array, attribute: Field): string {
  for (const a of fields(model, attribute.start, attribute.start + attribute.length)) {
    if (a.number === ATTRIBUTE_NAME) return fieldText(model, a);
  }
  return "";
}

/** An int64 varint read exactly (negative axes are 10-byte two's complement, past a double's precision). */
function signedVarint(bytes: Uint8Array, pos: number): bigint {
  let value = 0n;
  let shift = 0n;
  for (let p = pos; p < bytes.length && shift < 70n; p++, shift += 7n) {
    const byte = bytes[p] as number;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return BigInt.asIntN(64, value);
  }
  throw new OnnxProtoError("bad int64 varint");
}

function packedVarints(bytes: Uint8Array, field: Field): bigint[] {
  const values: bigint[] = [];
  let p = field.start;
  while (p < field.start + field.length) {
    values.push(signedVarint(bytes, p));
    while (((bytes[p] as number) & 0x80) !== 0) p++;
    p++;
  }
  return values;
}

/** The name of a ValueInfoProto field (graph input, output or value_info). */
export function valueInfoName(model: Uint8Array, field: Field): string {
  for (const f of fields(model, field.start, field.start + field.length)) {
    if (f.number === VALUE_INFO_NAME) return fieldText(model, f);
  }
  return "";
}

function constantTensors(nodes: GraphNode[], initializers: Set<string>): Set<string> {
  const constants = new Set(initializers);
  for (let changed = true; changed; ) {
    changed = false;
    for (const node of nodes) {
      if (node.outputs.every((o) => constants.has(o))) continue;
      if (node.inputs.every((i) => i === "" || constants.has(i))) {
        for (const o of node.outputs) constants.add(o);
        changed = true;
      }
    }
  }
  return constants;
}

/** An int attribute (AttributeProto) for encodeNode. */
export function intAttribute(name: string, value: number): Uint8Array {
  return encodeBytesField(NODE_ATTRIBUTE, [
    encodeBytesField(ATTRIBUTE_NAME, name),
    encodeVarintField(ATTRIBUTE_I, value),
    encodeVarintField(ATTRIBUTE_TYPE, ATTRIBUTE_TYPE_INT),
  ]);
}

/** An ints attribute of non-negative values (perm). */
export function intsAttribute(name: string, values: readonly number[]): Uint8Array {
  return encodeBytesField(NODE_ATTRIBUTE, [
    encodeBytesField(ATTRIBUTE_NAME, name),
    ...values.map((v) => encodeVarintField(ATTRIBUTE_INTS, v)),
    encodeVarintField(ATTRIBUTE_TYPE, ATTRIBUTE_TYPE_INTS),
  ]);
}

/** An encoded node (graph field) with the tensor names it reads and writes, so nobody has to parse it back. */
export interface EncodedNode {
  bytes: Uint8Array;
  inputs: readonly string[];
  outputs: readonly string[];
}

/** A NodeProto as a graph field. */
export function encodeNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  name: string,
  attributes: readonly Uint8Array[] = [],
  domain = "",
): EncodedNode {
  const bytes = encodeBytesField(GRAPH_NODE, [
    ...inputs.map((i) => encodeBytesField(NODE_INPUT, i)),
    ...outputs.map((o) => encodeBytesField(NODE_OUTPUT, o)),
    encodeBytesField(NODE_NAME, name),
    encodeBytesField(NODE_OP_TYPE, opType),
    ...attributes,
    ...(domain === "" ? [] : [encodeBytesField(NODE_DOMAIN, domain)]),
  ]);
  return { bytes, inputs, outputs };
}

/**
 * `node` re-encoded with new inputs (order as given) and, optionally, attributes replaced by name; every other
 * field (outputs, name, op type, domain, other attributes such as float ones) is kept as it was.
 */
export function reencodeNode(
  model: Uint8Array,
  node: GraphNode,
  inputs: readonly string[],
  attributes: ReadonlyMap<string, Uint8Array> = new Map(),
): EncodedNode {
  const rest = [...fields(model, node.field.start, node.field.start + node.field.length)]
    .filter((f) => f.number !== NODE_INPUT && !(f.number === NODE_ATTRIBUTE && attributes.has(attributeName(model, f))))
    .map((f) => fieldBytes(model, f));
  const bytes = encodeBytesField(GRAPH_NODE, [
    ...inputs.map((i) => encodeBytesField(NODE_INPUT, i)),
    ...rest,
    ...attributes.values(),
  ]);
  return { bytes, inputs, outputs: node.outputs };
}

/** An initializer (TensorProto) as a graph field, its values given as little-endian raw bytes. */
export function encodeInitializer(
  name: string,
  dataType: number,
  dims: readonly number[],
  raw: Uint8Array,
): { name: string; bytes: Uint8Array } {
  const bytes = encodeBytesField(GRAPH_INITIALIZER, [
    ...dims.map((d) => encodeVarintField(TENSOR_DIMS, d)),
    encodeVarintField(TENSOR_DATA_TYPE, dataType),
    encodeBytesField(TENSOR_NAME, name),
    encodeBytesField(TENSOR_RAW_DATA, [raw]),
  ]);
  return { name, bytes };
}

/** Nodes in an order where each comes after the producers of its inputs (stable: the given order where it can). */
export function topologicalOrder<T extends { inputs: readonly string[]; outputs: readonly string[] }>(
  nodes: readonly T[],
  available: Iterable<string>,
): T[] {
  const ready = new Set(available);
  ready.add("");
  const order: T[] = [];
  let rest = [...nodes];
  while (rest.length > 0) {
    const next: T[] = [];
    for (const node of rest) {
      if (node.inputs.every((i) => ready.has(i))) {
        order.push(node);
        for (const o of node.outputs) ready.add(o);
      } else next.push(node);
    }
    if (next.length === rest.length) throw new OnnxProtoError("the rewritten graph has a cycle or a missing input");
    rest = next;
  }
  return order;
}
