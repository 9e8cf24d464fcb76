// Single-op ONNX models for the onnxruntime-web peer, encoded by hand: the handful of protobuf fields a
// one-node graph needs (onnx/onnx.proto, proto2) is less code than a protobuf dependency or a model file.
import { opInputs, opOutputShapes, type OpSpec } from './ops.ts';

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const ELEM_FLOAT = 1; // TensorProto.DataType.FLOAT
const ELEM_INT64 = 7; // TensorProto.DataType.INT64
const ATTR_INT = 2; // AttributeProto.AttributeType.INT
const ATTR_INTS = 7; // AttributeProto.AttributeType.INTS
const IR_VERSION = 8;
const OPSET = 17;

/** Protobuf message writer: field tag + varint or length-delimited payload. */
class Message {
  private readonly parts: number[] = [];

  varint(field: number, value: number): this {
    this.tag(field, WIRE_VARINT);
    this.raw(value);
    return this;
  }

  bytes(field: number, payload: Uint8Array): this {
    this.tag(field, WIRE_BYTES);
    this.raw(payload.length);
    for (const b of payload) this.parts.push(b);
    return this;
  }

  string(field: number, text: string): this {
    return this.bytes(field, new TextEncoder().encode(text));
  }

  message(field: number, msg: Message): this {
    return this.bytes(field, msg.encode());
  }

  encode(): Uint8Array {
    return Uint8Array.from(this.parts);
  }

  private tag(field: number, wire: number): void {
    this.raw(field * 8 + wire);
  }

  /** Non-negative integers below 2^53 (shapes, enum values, byte counts). */
  private raw(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
  }
}

/** ValueInfoProto of a float tensor with a fixed shape. */
function valueInfo(name: string, shape: readonly number[]): Message {
  const dims = new Message();
  for (const d of shape) dims.message(1, new Message().varint(1, d)); // TensorShapeProto.dim.dim_value
  const tensorType = new Message().varint(1, ELEM_FLOAT).message(2, dims);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

/** TensorProto holding `data` (float32, or int64 for axes) as little-endian raw_data. */
function initializer(name: string, shape: readonly number[], data: Float32Array | BigInt64Array): Message {
  const t = new Message();
  for (const d of shape) t.varint(1, d);
  t.varint(2, data instanceof Float32Array ? ELEM_FLOAT : ELEM_INT64).string(8, name);
  return t.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function intAttribute(name: string, value: number): Message {
  return new Message().string(1, name).varint(3, value).varint(20, ATTR_INT);
}

function intsAttribute(name: string, values: readonly number[]): Message {
  const a = new Message().string(1, name);
  for (const v of values) a.varint(8, v);
  return a.varint(20, ATTR_INTS);
}

export interface OnnxModel {
  bytes: Uint8Array;
  /** Graph inputs fed at run time, with their shapes and values; weights are baked in as initializers. */
  feeds: Record<string, { shape: number[]; data: Float32Array<ArrayBuffer> }>;
  /** Graph outputs, in the order of opOutputShapes (the fingerprint folds them in this order). */
  outputs: Array<{ name: string; shape: number[] }>;
}

/**
 * The ONNX model running `spec` as one node, or null for ops ONNX Runtime cannot run (it is inference-only:
 * no conv2d backward, no DRAEM or PyramidFlow training step) and for DRAEM's whole networks, which PyTorch exports
 * (TorchPeer.exportOnnx). Conv weights are initializers, ONNX Runtime's normal deployment, which lets it
 * pre-transform them once; matmul multiplies two run-time inputs.
 */
export function onnxModel(spec: OpSpec): OnnxModel | null {
  const trainingOrWholeNetwork = ['conv2d_backward', 'draem_step', 'pyramidflow_step', 'draem_predict'];
  if (trainingOrWholeNetwork.includes(spec.op)) return null;
  const inputs = opInputs(spec);
  const node = new Message();
  const graph = new Message();
  const feeds: OnnxModel['feeds'] = {};
  const feed = (name: string) => {
    feeds[name] = inputs[name]!;
    graph.message(11, valueInfo(name, inputs[name]!.shape));
    node.string(1, name);
  };
  switch (spec.op) {
    case 'add':
    case 'relu':
    case 'matmul':
      for (const name of Object.keys(inputs)) feed(name);
      node.string(4, { add: 'Add', relu: 'Relu', matmul: 'MatMul' }[spec.op]);
      break;
    case 'conv2d':
      feed('x');
      graph.message(5, initializer('w', inputs.w!.shape, inputs.w!.data));
      node.string(1, 'w').string(4, 'Conv');
      node.message(5, intsAttribute('kernel_shape', [spec.k, spec.k]));
      node.message(5, intsAttribute('strides', [spec.stride, spec.stride]));
      node.message(5, intsAttribute('pads', [spec.pad, spec.pad, spec.pad, spec.pad]));
      break;
    case 'sum_rows':
      // Since opset 13 the axes of ReduceSum are an input, not an attribute.
      feed('x');
      graph.message(5, initializer('axes', [1], BigInt64Array.of(1n)));
      node.string(1, 'axes').string(4, 'ReduceSum').message(5, intAttribute('keepdims', 0));
      break;
  }
  const outputShape = opOutputShapes(spec)[0]!;
  node.string(2, 'y').string(3, 'op');
  graph.message(1, node).string(2, 'texad_bench').message(12, valueInfo('y', outputShape));
  const model = new Message()
    .varint(1, IR_VERSION)
    .string(2, 'texad-bench')
    .message(7, graph)
    .message(8, new Message().string(1, '').varint(2, OPSET));
  return { bytes: model.encode(), feeds, outputs: [{ name: 'y', shape: outputShape }] };
}
