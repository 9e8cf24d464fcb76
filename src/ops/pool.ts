// Max and average pooling of NCHW planes and adaptive average pooling over the last dim (shaders/pool.wgsl),
// forward and backward.
import type { ShaderEntries } from '../generated/shaders.ts';
import { Params } from '../runtime/runtime.ts';
import { Tensor, formatShape } from '../runtime/tensor.ts';

const WG = 256;

/** Square window, stride and zero/-inf padding of a 2-D pooling (PyTorch's ceil_mode=False output size). */
export interface Pool2dOptions {
  kernel: number;
  stride: number;
  padding?: number;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Whether padded positions count in the divisor (PyTorch's default, true). */
  countIncludePad?: boolean;
}

interface Geometry {
  h: number;
  w: number;
  oh: number;
  ow: number;
  k: number;
  stride: number;
  pad: number;
  outShape: number[];
  what: string;
}

function geometry(x: Tensor, o: Pool2dOptions, op: string): Geometry {
  x.assertAlive(op);
  const pad = o.padding ?? 0;
  const what = `${op} x${formatShape(x.shape)} kernel ${o.kernel} stride ${o.stride} padding ${pad}`;
  if (x.rank !== 4) throw new Error(`texad: ${what}: x must be [N, C, H, W]`);
  const isCount = (v: number, min: number) => Number.isInteger(v) && v >= min;
  if (!isCount(o.kernel, 1) || !isCount(o.stride, 1) || !isCount(pad, 0)) {
    throw new Error(`texad: ${what}: kernel and stride must be integers >= 1, padding an integer >= 0`);
  }
  if (2 * pad > o.kernel) throw new Error(`texad: ${what}: padding must be at most half the kernel size (PyTorch's rule)`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const oh = Math.floor((h + 2 * pad - o.kernel) / o.stride) + 1;
  const ow = Math.floor((w + 2 * pad - o.kernel) / o.stride) + 1;
  if (oh < 1 || ow < 1) throw new Error(`texad: ${what}: the window does not fit the padded input; use a smaller kernel or more padding`);
  return { h, w, oh, ow, k: o.kernel, stride: o.stride, pad, outShape: [n, c, oh, ow], what };
}

/** Pool2d uniforms; `count` is the number of invocations (outputs forward, inputs backward). */
function pool2dParams(g: Geometry, count: number, includePad: boolean): Params {
  return new Params().u32(count, g.h, g.w, g.oh, g.ow, g.k, g.stride, g.pad, includePad ? 1 : 0, 0, 0, 0);
}

/** One invocation per element of `count` (default: the first output's size). */
function dispatchPool(entry: ShaderEntries['pool'], g: Geometry, includePad: boolean, inputs: Tensor[], outputs: Tensor[], what: string, count = outputs[0]!.size): void {
  const rt = outputs[0]!.rt;
  rt.dispatch({
    family: 'pool',
    entry,
    spec: { WG },
    params: pool2dParams(g, count, includePad),
    inputs,
    outputs,
    workgroups: rt.grid(count, WG),
    what,
  });
}

/**
 * The input gradient of a 2-D pooling: disjoint windows (stride >= kernel) scatter from each output into a
 * zeroed gradient, overlapping ones gather per input element. Neither races.
 */
function poolBackward(kind: 'max' | 'avg', g: Geometry, includePad: boolean, inputs: Tensor[], xShape: readonly number[]): Tensor {
  const rt = inputs[0]!.rt;
  const what = `${g.what} backward`;
  if (g.stride >= g.k) {
    const dx = rt.zeros(xShape);
    dispatchPool(`${kind}_pool_scatter`, g, includePad, inputs, [dx], what, inputs[0]!.size);
    return dx;
  }
  const dx = rt.empty(xShape, `${kind}Pool2d dx`);
  dispatchPool(`${kind}_pool_grad`, g, includePad, inputs, [dx], what);
  return dx;
}

/**
 * torch.nn.functional.max_pool2d (padding acts as -inf). The backward pass routes each output gradient to its
 * window's argmax (the first maximum on ties), recorded by the forward pass.
 */
export function maxPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  const g = geometry(x, opts, 'maxPool2d');
  const rt = x.rt;
  const y = rt.empty(g.outShape, 'maxPool2d');
  // Indices within the plane, stored as u32 bits in a float tensor's buffer: never read as floats.
  const argmax = rt.empty(g.outShape, 'maxPool2d argmax');
  dispatchPool('max_pool', g, false, [x], [y, argmax], g.what);
  if (!rt.recordsGrad(x)) {
    argmax.dispose();
    return y;
  }
  return rt.record(y, 'maxPool2d', [x], (gy) => [poolBackward('max', g, false, [gy, argmax], x.shape)]);
}

/** torch.nn.functional.avg_pool2d (ceil_mode=False, no divisor_override), with backward. */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const g = geometry(x, opts, 'avgPool2d');
  const includePad = opts.countIncludePad ?? true;
  const rt = x.rt;
  const y = rt.empty(g.outShape, 'avgPool2d');
  dispatchPool('avg_pool', g, includePad, [x], [y], g.what);
  return rt.record(y, 'avgPool2d', [x], (gy) => [poolBackward('avg', g, includePad, [gy], x.shape)]);
}

/**
 * Mean over each plane: [N, C, H, W] -> [N, C, 1, 1]. Large planes are averaged in two stages over equal bins
 * (the mean of equal-sized bin means is the mean), so no invocation walks a whole plane alone.
 */
export function globalAvgPool(x: Tensor): Tensor {
  x.assertAlive('globalAvgPool');
  if (x.rank !== 4) throw new Error(`texad: globalAvgPool needs x of shape [N, C, H, W], got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const size = h * w;
  if (size === 0) throw new Error(`texad: globalAvgPool x${formatShape(x.shape)}: empty planes have no mean`);
  let bins = Math.floor(Math.sqrt(size));
  while (size % bins !== 0) bins--;
  let planes = x.reshape([n, c, size]);
  if (size >= 1024 && bins >= 16) planes = adaptiveAvgPool1d(planes, bins);
  return adaptiveAvgPool1d(planes, 1).reshape([n, c, 1, 1]);
}

/**
 * torch.nn.functional.adaptive_avg_pool1d over the last dim: bin i averages [floor(i L / out), ceil((i + 1) L / out)),
 * so sizes need not divide (4608 -> 1536 is the mean of each triple).
 */
export function adaptiveAvgPool1d(x: Tensor, outSize: number): Tensor {
  x.assertAlive('adaptiveAvgPool1d');
  const what = `adaptiveAvgPool1d x${formatShape(x.shape)} -> ${outSize}`;
  const len = x.shape[x.rank - 1] ?? 0;
  if (x.rank < 1 || len < 1) throw new Error(`texad: ${what}: x needs a non-empty last dim`);
  if (!Number.isInteger(outSize) || outSize < 1) throw new Error(`texad: ${what}: the output size must be an integer >= 1`);
  // Bin bounds are computed as u32 products i * len and j * out.
  if ((len + 1) * (outSize + 1) > 0xffffffff) throw new Error(`texad: ${what}: length x output size over 2^32; pool in two steps`);
  const rt = x.rt;
  const shape = [...x.shape.slice(0, -1), outSize];
  const y = rt.empty(shape, 'adaptiveAvgPool1d');
  const run = (entry: ShaderEntries['pool'], src: Tensor, dst: Tensor, w: string) =>
    rt.dispatch({
      family: 'pool',
      entry,
      spec: { WG },
      params: new Params().u32(dst.size, len, outSize, 0),
      inputs: [src],
      outputs: [dst],
      workgroups: rt.grid(dst.size, WG),
      what: w,
    });
  run('adaptive_avg', x, y, what);
  return rt.record(y, 'adaptiveAvgPool1d', [x], (gy) => {
    const dx = rt.empty(x.shape, 'adaptiveAvgPool1d dx');
    run('adaptive_avg_grad', gy, dx, `${what} backward`);
    return [dx];
  });
}
