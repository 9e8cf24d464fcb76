// The vocabulary shared by texad's benchmark cases and the peers: which op a case runs on which shapes, how
// much work one run is, the inputs every contestant computes on, and the contract a contestant implements.
import { blockOrder } from '../../src/methods/pyramidflow/model.ts';

/** One benchmarked op. Every contestant runs exactly this op on these shapes. */
export type OpSpec =
  | { op: 'add'; shape: number[] }
  | { op: 'relu'; shape: number[] }
  /** Sum over the last axis of a 2-D tensor: [rows, cols] -> [rows]. */
  | { op: 'sum_rows'; rows: number; cols: number }
  | { op: 'matmul'; m: number; k: number; n: number }
  | ConvSpec
  | (Omit<ConvSpec, 'op'> & { op: 'conv2d_backward' })
  | DraemSpec
  | PyramidFlowSpec;

/**
 * DRAEM (src/methods/draem) at base widths base_width / base_channels on n images of size x size, from the seeded
 * hash weights (bench/peers/draem-weights.ts): `draem_step` is one training step of both networks (forward, MSE +
 * SSIM + focal loss, backward, Adam), `draem_predict` one eval-mode pass (map, then average pooling of side `pool`
 * and max). Inputs: image x and augmented image a, both mapped to [0, 1] as (v + 1) / 2, and mask m > 0.
 */
export interface DraemSpec {
  op: 'draem_step' | 'draem_predict';
  n: number;
  size: number;
  base_width: number;
  base_channels: number;
  pool: number;
}

/** Multiply-adds of every 3x3 conv of DRAEM's two networks, per image (model_unet.py's layer widths). */
function draemConvMacs(s: DraemSpec): number {
  const conv = (side: number, cin: number, cout: number) => side * side * cin * cout * 9;
  const w = s.base_width;
  const b = s.base_channels;
  let macs = 0;
  const re = [w, 2 * w, 4 * w, 8 * w, 8 * w];
  re.forEach((c, i) => (macs += conv(s.size >> i, i === 0 ? 3 : re[i - 1]!, c) + conv(s.size >> i, c, c)));
  [[8 * w, 4 * w], [4 * w, 2 * w], [2 * w, w], [w, w]].forEach(([cin, cout], k) => {
    const side = s.size >> (3 - k);
    macs += 2 * conv(side, cin!, cin!) + conv(side, cin!, cout!);
  });
  macs += conv(s.size, w, 3);
  const de = [b, 2 * b, 4 * b, 8 * b, 8 * b, 8 * b];
  de.forEach((c, i) => (macs += conv(s.size >> i, i === 0 ? 6 : de[i - 1]!, c) + conv(s.size >> i, c, c)));
  [[8 * b, 8 * b, 8 * b, 8 * b], [8 * b, 4 * b, 8 * b, 4 * b], [4 * b, 2 * b, 4 * b, 2 * b], [2 * b, b, 2 * b, b], [b, b, b, b]]
    .forEach(([cin, cup, skip, cout], k) => {
      const side = s.size >> (4 - k);
      macs += conv(side, cin!, cup!) + conv(side, cup! + skip!, cout!) + conv(side, cout!, cout!);
    });
  return macs + conv(s.size, b, 2);
}

/**
 * One training step of PyramidFlow's encoder-free flow (src/methods/pyramidflow) under the official hyper-parameter
 * names, from the seeded hash weights (bench/pyramidflow.ts): the frozen 1x1 conv 3 -> numChannel and the pyramid,
 * the flow's blocks in training mode, the Fourier loss, backward, global grad-norm clip 1 and the method's Adam.
 * Input: image x mapped to [0, 1] as (v + 1) / 2. n is 2: the loss compares the pair of a batch of 2.
 */
export interface PyramidFlowSpec {
  op: 'pyramidflow_step';
  n: 2;
  x_size: number;
  numLayer: number;
  numStack: number;
  kernelSize: number;
  numChannel: number;
  volumeNorm: 'CVN' | 'SVN';
}

/**
 * Multiply-adds per image: the frozen 1x1 conv from RGB, and the flow's (the two k x k convs of each affine block at
 * the level it is computed at, and each block's C x C 1x1 conv at the level it replaces).
 */
function pyramidFlowConvMacs(s: PyramidFlowSpec): { inconv: number; flow: number } {
  const c = s.numChannel;
  const side = (level: number) => s.x_size / 2 ** level;
  let flow = 0;
  for (const { kind, start } of blockOrder(s.numLayer, s.numStack)) {
    const at = side(kind === 'fb2' ? start + 1 : start);
    const cin = kind === 'fb2' ? 2 * c : c;
    flow += at * at * (cin + 2 * c) * 2 * c * s.kernelSize ** 2 + side(kind === 'up' ? start : start + 1) ** 2 * c * c;
  }
  return { inconv: s.x_size ** 2 * 3 * c, flow };
}

/** Conv2d in PyTorch's terms: x [n, cin, h, w], weight [cout, cin, k, k], no bias, no dilation, no groups. */
export interface ConvSpec {
  op: 'conv2d';
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  k: number;
  stride: number;
  pad: number;
}

export type Metric = 'GFLOP/s' | 'GB/s';

/** A contestant's handle on one case, prepared once and then timed in rounds. */
export interface Runner {
  /**
   * Queues `iterations` runs of the op back to back and resolves when the device has finished them. A
   * contestant timed in another process (PyTorch) resolves with that process's own measurement in ms.
   */
  run(iterations: number): Promise<void | { overriddenDuration: number }>;
  /**
   * Sum of |v| and sum of v^2 over every output value (both gradients for conv2d_backward), in float64.
   * Both are invariant to memory layout, so peers that compute in NHWC can be checked against texad's NCHW.
   */
  fingerprint(): Promise<[number, number]>;
  dispose(): Promise<void> | void;
}

function convOutSize(s: Omit<ConvSpec, 'op'>): [number, number] {
  return [Math.floor((s.h + 2 * s.pad - s.k) / s.stride) + 1, Math.floor((s.w + 2 * s.pad - s.k) / s.stride) + 1];
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** What one run of the op costs: floating-point operations for matmul/conv, bytes moved for memory-bound ops. */
export function opWork(spec: OpSpec): { metric: Metric; amount: number } {
  switch (spec.op) {
    case 'add':
      return { metric: 'GB/s', amount: 3 * 4 * size(spec.shape) };
    case 'relu':
      return { metric: 'GB/s', amount: 2 * 4 * size(spec.shape) };
    case 'sum_rows':
      return { metric: 'GB/s', amount: 4 * (spec.rows * spec.cols + spec.rows) };
    case 'matmul':
      return { metric: 'GFLOP/s', amount: 2 * spec.m * spec.k * spec.n };
    case 'conv2d':
    case 'conv2d_backward': {
      const [oh, ow] = convOutSize(spec);
      const forward = 2 * spec.n * spec.cout * oh * ow * spec.cin * spec.k * spec.k;
      // dX and dW are each a GEMM of the forward's size.
      return { metric: 'GFLOP/s', amount: spec.op === 'conv2d' ? forward : 2 * forward };
    }
    case 'draem_step':
    case 'draem_predict':
      // The convolutions only (BatchNorm, pooling and the losses are a few % of them); a step adds dX and dW.
      return { metric: 'GFLOP/s', amount: 2 * spec.n * draemConvMacs(spec) * (spec.op === 'draem_step' ? 3 : 1) };
    case 'pyramidflow_step': {
      // The convolutions only (pyramid, elementwise ops and the FFT are a few % of them); the flow's also run dX and
      // dW, the frozen 1x1 conv from RGB runs forward only.
      const { inconv, flow } = pyramidFlowConvMacs(spec);
      return { metric: 'GFLOP/s', amount: 2 * spec.n * (inconv + 3 * flow) };
    }
  }
}

/** Short human label, e.g. `matmul 1024x1024x1024` or `conv2d 3x3 256->256 64x64 n1`. */
export function opLabel(spec: OpSpec): string {
  switch (spec.op) {
    case 'add':
    case 'relu':
      return `${spec.op} [${spec.shape.join(',')}]`;
    case 'sum_rows':
      return `sum over rows [${spec.rows},${spec.cols}]`;
    case 'matmul':
      return `matmul ${spec.m}x${spec.k}x${spec.n}`;
    case 'conv2d':
    case 'conv2d_backward': {
      const what = spec.op === 'conv2d' ? 'conv2d' : 'conv2d dX+dW';
      const strided = spec.stride === 1 ? '' : ` s${spec.stride}`;
      return `${what} ${spec.k}x${spec.k} ${spec.cin}->${spec.cout} ${spec.h}x${spec.w} n${spec.n}${strided}`;
    }
    case 'draem_step':
    case 'draem_predict':
      return `DRAEM ${spec.op === 'draem_step' ? 'train step' : 'predict'} n${spec.n} ${spec.size}px widths ${spec.base_width}/${spec.base_channels}`;
    case 'pyramidflow_step':
      return `PyramidFlow train step n${spec.n} ${spec.x_size}px ${spec.numLayer} levels ${spec.numStack} stacks k${spec.kernelSize} ${spec.numChannel}ch ${spec.volumeNorm}`;
  }
}

/** Named input tensors of the op in PyTorch layout (NCHW, OIHW). */
function opInputShapes(spec: OpSpec): Record<string, number[]> {
  switch (spec.op) {
    case 'add':
      return { a: spec.shape, b: spec.shape };
    case 'relu':
      return { x: spec.shape };
    case 'sum_rows':
      return { x: [spec.rows, spec.cols] };
    case 'matmul':
      return { a: [spec.m, spec.k], b: [spec.k, spec.n] };
    case 'conv2d':
      return { x: [spec.n, spec.cin, spec.h, spec.w], w: [spec.cout, spec.cin, spec.k, spec.k] };
    case 'conv2d_backward': {
      const [oh, ow] = convOutSize(spec);
      return {
        x: [spec.n, spec.cin, spec.h, spec.w],
        w: [spec.cout, spec.cin, spec.k, spec.k],
        dy: [spec.n, spec.cout, oh, ow],
      };
    }
    case 'draem_step':
      return { x: [spec.n, 3, spec.size, spec.size], a: [spec.n, 3, spec.size, spec.size], m: [spec.n, 1, spec.size, spec.size] };
    case 'draem_predict':
      return { x: [spec.n, 3, spec.size, spec.size] };
    case 'pyramidflow_step':
      return { x: [spec.n, 3, spec.x_size, spec.x_size] };
  }
}

/** Output shapes in PyTorch layout; conv2d_backward has two, dX then dW; a DRAEM or PyramidFlow step its total loss, a DRAEM predict the maps and the scores. */
export function opOutputShapes(spec: OpSpec): number[][] {
  switch (spec.op) {
    case 'add':
    case 'relu':
      return [spec.shape];
    case 'sum_rows':
      return [[spec.rows]];
    case 'matmul':
      return [[spec.m, spec.n]];
    case 'conv2d':
      return [[spec.n, spec.cout, ...convOutSize(spec)]];
    case 'conv2d_backward':
      return [[spec.n, spec.cin, spec.h, spec.w], [spec.cout, spec.cin, spec.k, spec.k]];
    case 'draem_step':
    case 'pyramidflow_step':
      return [[1]];
    case 'draem_predict':
      return [[spec.n, 1, spec.size, spec.size], [spec.n]];
  }
}

/**
 * Deterministic input values in [-1, 1]: sin(i * 0.7548776662 + seed). tools/bench-torch.py computes the same
 * formula in float64 and rounds to float32, so every contestant sees the same numbers without shipping arrays.
 */
export function inputData(length: number, seed: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.sin(i * 0.7548776662 + seed);
  return out;
}

/** The inputs of `spec`, keyed like opInputShapes; the k-th input uses seed k. */
export function opInputs(spec: OpSpec): Record<string, { shape: number[]; data: Float32Array<ArrayBuffer> }> {
  const out: Record<string, { shape: number[]; data: Float32Array<ArrayBuffer> }> = {};
  Object.entries(opInputShapes(spec)).forEach(([name, shape], seed) => {
    out[name] = { shape, data: inputData(size(shape), seed) };
  });
  return out;
}

/** Folds output values into a Runner.fingerprint. */
export function fingerprintOf(...arrays: ArrayLike<number>[]): [number, number] {
  let abs = 0;
  let sq = 0;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      abs += Math.abs(v);
      sq += v * v;
    }
  }
  return [abs, sq];
}

/** Permutes an NCHW array to NHWC (tfjs computes convolutions in NHWC). */
export function nchwToNhwc(src: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let b = 0; b < n!; b++)
    for (let ch = 0; ch < c!; ch++)
      for (let y = 0; y < h!; y++)
        for (let x = 0; x < w!; x++) out[((b * h! + y) * w! + x) * c! + ch] = src[((b * c! + ch) * h! + y) * w! + x]!;
  return out;
}

/** Permutes an OIHW conv weight to tfjs's HWIO. */
export function oihwToHwio(src: Float32Array, [o, i, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let a = 0; a < o!; a++)
    for (let b = 0; b < i!; b++)
      for (let y = 0; y < h!; y++)
        for (let x = 0; x < w!; x++) out[((y * w! + x) * i! + b) * o! + a] = src[((a * i! + b) * h! + y) * w! + x]!;
  return out;
}
