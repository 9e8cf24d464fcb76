// Depthwise convolution with a learned kernel per channel (shaders/depthwise.wgsl), forward and backward:
// MobileNetV2's 3x3 blocks. filter.ts's depthwiseConv2d is another thing: one FIXED kernel for every channel
// (blurs, box filters), no weight gradient.
import { clamp, relu as reluOp, sumTo } from './elementwise.ts';
import { Params } from '../runtime/runtime.ts';
import { Tensor, formatShape } from '../runtime/tensor.ts';

const WG = 256;

export interface ChannelConv2dOptions {
  /** Same stride along both axes (default 1). */
  stride?: number;
  /**
   * Zero padding: one number for all sides, or [top, bottom, left, right] (Keras's 'same' for stride 2 on an
   * even input pads 0 before and 1 after). Default 0.
   */
  padding?: number | readonly [number, number, number, number];
  /** Activation after the bias; fused into the kernel when no gradient is recorded. */
  activation?: 'relu' | 'relu6';
}

interface Geometry {
  b: number;
  c: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  k: number;
  s: number;
  top: number;
  left: number;
  what: string;
}

function geometry(x: Tensor, weight: Tensor, bias: Tensor | null, opts: ChannelConv2dOptions): Geometry {
  x.assertAlive('channelConv2d');
  weight.assertAlive('channelConv2d');
  const s = opts.stride ?? 1;
  const pad = opts.padding ?? 0;
  const [top, bottom, left, right] = typeof pad === 'number' ? [pad, pad, pad, pad] : pad;
  const what = `channelConv2d x${formatShape(x.shape)} weight${formatShape(weight.shape)} stride ${s} padding [${[top, bottom, left, right].join(', ')}]`;
  if (x.rank !== 4) throw new Error(`texad: ${what}: x must be [N, C, H, W]`);
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const [wc, one, kh, kw] = weight.shape as [number, number, number, number];
  if (weight.rank !== 4 || wc !== c || one !== 1 || kh !== kw) {
    throw new Error(`texad: ${what}: weight must be [C, 1, k, k] with C = ${c} (one square kernel per channel)`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== c)) throw new Error(`texad: ${what}: bias must be [${c}]`);
  if (!Number.isInteger(s) || s < 1) throw new Error(`texad: ${what}: stride must be a positive integer`);
  if (![top, bottom, left, right].every((p) => Number.isInteger(p) && p >= 0 && p < kh)) {
    throw new Error(`texad: ${what}: padding must be integers in [0, k)`);
  }
  const oh = Math.floor((h + top + bottom - kh) / s) + 1;
  const ow = Math.floor((w + left + right - kw) / s) + 1;
  if (oh < 1 || ow < 1 || x.size === 0) throw new Error(`texad: ${what}: the kernel does not fit the padded input`);
  return { b, c, h, w, oh, ow, k: kh, s, top, left, what };
}

function params(g: Geometry, count: number, act: number): Params {
  return new Params().u32(count, g.c, g.h, g.w, g.oh, g.ow, g.k, g.s, g.top, g.left, act, g.b);
}

/**
 * torch.nn.functional.conv2d(x, weight, bias, stride, padding, groups=C) for x [N, C, H, W] and weight
 * [C, 1, k, k] (Keras DepthwiseConv2D with depth multiplier 1, its kernel [k, k, C, 1] transposed), with
 * optional asymmetric padding and a ReLU/ReLU6 epilogue. Gradients reach x, weight and bias.
 */
export function channelConv2d(x: Tensor, weight: Tensor, bias: Tensor | null, opts: ChannelConv2dOptions = {}): Tensor {
  const g = geometry(x, weight, bias, opts);
  const rt = x.rt;
  const grad = rt.recordsGrad(x, weight, bias);
  const fused = grad ? 0 : opts.activation === 'relu' ? 1 : opts.activation === 'relu6' ? 2 : 0;
  const b = bias ?? rt.zeros([g.c]);
  const y = rt.empty([g.b, g.c, g.oh, g.ow], 'channelConv2d');
  rt.dispatch({
    family: 'depthwise', entry: 'forward', spec: { WG }, params: params(g, y.size, fused),
    inputs: [x, weight, b], outputs: [y], workgroups: rt.grid(y.size, WG), what: g.what,
  });
  if (!bias) b.dispose();
  if (!grad) return y;
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const out = rt.record(y, 'channelConv2d', inputs, (gy) => {
    const dx = rt.empty(x.shape, 'channelConv2d dx');
    rt.dispatch({
      family: 'depthwise', entry: 'grad_x', spec: { WG }, params: params(g, dx.size, 0),
      inputs: [gy, weight], outputs: [dx], workgroups: rt.grid(dx.size, WG), what: `${g.what} backward x`,
    });
    const dw = rt.empty(weight.shape, 'channelConv2d dw');
    rt.dispatch({
      family: 'depthwise', entry: 'grad_w', spec: { WG }, params: params(g, dw.size, 0),
      inputs: [x, gy], outputs: [dw], workgroups: rt.grid(dw.size * WG, WG), what: `${g.what} backward weight`,
    });
    const grads: Array<Tensor | null> = [dx, dw];
    if (bias) grads.push(sumTo(gy, [1, g.c, 1, 1]).reshape([g.c]));
    return grads;
  });
  if (opts.activation === 'relu') return reluOp(out);
  return opts.activation === 'relu6' ? clamp(out, 0, 6) : out;
}
