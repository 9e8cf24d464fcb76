// 2-D convolution in NCHW with PyTorch's semantics, forward and backward. Every pass is an implicit GEMM on
// gemm.ts's gemm(): the im2col matrix is never built, its entries are gathered through strides from a
// zero-padded copy of the image, so the hot loop has no bounds checks (bounds checks there cost 15% on
// lavapipe; the copy is one pass over the image, ~2% of a 3x3 convolution with 256 channels, ~10% with 64).
// That is why this family has no shader of its own: its kernels are gemm, pack and strided_sum
// (shaders/matmul.wgsl) and layout's pad2d.
//
//   forward  y[b, o, p]       rows = output pixels, columns = O, reduction over (ky, kx, c)
//   dX       dx[b, c, p']     rows = input pixels of one stride phase, columns = C, reduction over (jy, jx, o)
//   dW       dw[o, c, ky, kx] rows = (c, ky, kx), columns = O, reduction over (oy, b, ox), split-K when small
//   dBias    ordered sum over batch and pixels
//
// dX for stride s splits the input pixels into s*s phases (iy % s, ix % s). Within a phase only every
// (s / gcd(s, d))-th kernel tap reaches a given pixel (d = dilation), so each phase is a correlation of dy
// with a sub-kernel of flipped taps, dilated by d / gcd(s, d): no multiplications by the zeros a dilated dy
// would hold.
//
// Dilation only changes the gather strides (tap ky reads row ky * d). Groups run one gemm per group on
// channel offsets into the same tensors (x, y, dx, dy and weight are read and written in place); dW goes to
// one tensor per group, concatenated along O, because split-K sums its partials over the whole output.
import { concat, pad2d, slice } from './layout.ts';
import { add, relu as reluOp } from './elementwise.ts';
import { gemm, pack, stridedSum } from './gemm.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { Tensor, formatShape, needsGrad } from '../runtime/tensor.ts';

/** Stride, padding, dilation, groups and the fused inference epilogue of conv2d. */
export interface Conv2dOptions {
  /** Same stride along both axes (default 1). */
  stride?: number;
  /** Zero padding on all four sides (default 0). */
  padding?: number;
  /** Spacing between kernel taps along both axes (default 1), as torch's `dilation`. */
  dilation?: number;
  /** Channel groups (default 1): C and O must be multiples; weight is [O, C / groups, kH, kW], as in torch. */
  groups?: number;
  /**
   * Fused epilogue for inference: y = act(conv(x) + bias + residual). With BatchNorm folded into the weights
   * and bias (norm.ts foldBatchNorm), a ResNet conv-BN-ReLU is one kernel and so is a block's final
   * conv-BN-add-ReLU. When gradients are recorded the same result is built from separate differentiable ops.
   */
  activation?: 'relu';
  /** Tensor of the output's shape added before the activation (a residual shortcut). */
  residual?: Tensor;
}

interface Geometry {
  b: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  s: number;
  p: number;
  /** Dilation. */
  d: number;
  /** Groups, and input / output channels per group. */
  groups: number;
  cg: number;
  og: number;
  oh: number;
  ow: number;
}

const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

function geometry(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions, what: string): Geometry {
  const s = opts.stride ?? 1;
  const p = opts.padding ?? 0;
  const d = opts.dilation ?? 1;
  const groups = opts.groups ?? 1;
  if (x.rank !== 4) throw new Error(`texad: ${what}: x must be [N, C, H, W]`);
  if (weight.rank !== 4) throw new Error(`texad: ${what}: weight must be [O, C, kH, kW]`);
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const [o, wc, kh, kw] = weight.shape as [number, number, number, number];
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`texad: ${what}: groups must be a positive integer, got ${groups}`);
  if (c % groups !== 0 || o % groups !== 0) {
    throw new Error(`texad: ${what}: ${c} input and ${o} output channels must both be multiples of groups ${groups}`);
  }
  if (wc * groups !== c) {
    throw new Error(`texad: ${what}: x has ${c} channels, so with groups ${groups} the weight needs ${c / groups} input channels, it has ${wc}`);
  }
  if (!Number.isInteger(s) || s < 1) throw new Error(`texad: ${what}: stride must be a positive integer, got ${s}`);
  if (!Number.isInteger(p) || p < 0) throw new Error(`texad: ${what}: padding must be a non-negative integer, got ${p}`);
  if (!Number.isInteger(d) || d < 1) throw new Error(`texad: ${what}: dilation must be a positive integer, got ${d}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== o)) throw new Error(`texad: ${what}: bias must be [${o}]`);
  if (x.size === 0 || weight.size === 0) throw new Error(`texad: ${what}: empty tensors are not supported`);
  const oh = Math.floor((h + 2 * p - d * (kh - 1) - 1) / s) + 1;
  const ow = Math.floor((w + 2 * p - d * (kw - 1) - 1) / s) + 1;
  if (oh < 1 || ow < 1) {
    throw new Error(`texad: ${what}: the ${kh}x${kw} kernel (dilation ${d}) does not fit the ${h}x${w} input with padding ${p}; pad more or use a smaller kernel`);
  }
  return { b, c, h, w, o, kh, kw, s, p, d, groups, cg: c / groups, og: o / groups, oh, ow };
}

/** Zero-pads x by [left, right, top, bottom] (unrecorded); x itself when nothing is added. */
function padded(rt: Runtime, x: Tensor, pads: [number, number, number, number]): Tensor {
  return pads.every((v) => v === 0) ? x : rt.noGrad(() => pad2d(x, pads));
}

function forward(x: Tensor, weight: Tensor, bias: Tensor | null, g: Geometry, what: string,
  residual: Tensor | undefined, relu: boolean): Tensor {
  const rt = x.rt;
  const { b, o, kh, kw, s, p, d, cg, og, oh, ow } = g;
  const hp = g.h + 2 * p;
  const wp = g.w + 2 * p;
  const xp = padded(rt, x, [p, p, p, p]);
  const y = rt.empty([b, o, oh, ow], 'conv2d');
  for (let grp = 0; grp < g.groups; grp++) {
    // Lane operand rows in (ky, kx, c) order: channels innermost gives the longest inner loop.
    const wt = pack(rt, weight, {
      rows: kh * kw * cg, cols: og, batches: 1, q1: kw, q0: cg, base: grp * og * cg * kh * kw, srcBatch: 0,
      strides: [kw, 1, kh * kw], colStride: cg * kh * kw,
    }, what);
    // The fused bias is indexed by output column, i.e. from the group's first channel.
    const groupBias = bias && g.groups > 1 ? rt.noGrad(() => slice(bias, 0, grp * og, (grp + 1) * og)) : bias;
    gemm(rt, {
      kind: 'conv2d',
      what,
      u: xp,
      l: wt,
      out: y,
      m: oh * ow,
      n: og,
      n4: ceilDiv(og, 4),
      batches: b,
      rows: [1, ow],
      uStrides: [s * wp, 0, s],
      uOffset: grp * cg * hp * wp,
      uBatch: g.c * hp * wp,
      k: [kh, kw, cg],
      kStrides: [d * wp, d, hp * wp],
      lBatch: 0,
      yStrides: [ow, 0, 1],
      yCol: oh * ow,
      yOffset: grp * og * oh * ow,
      yBatch: o * oh * ow,
      ...(groupBias ? { bias: groupBias } : {}),
      // The residual is laid out like y, so the group's offset applies to it too (see matmul.wgsl's RES).
      ...(residual ? { residual } : {}),
      relu,
    });
    wt.dispose();
    if (groupBias !== bias) groupBias?.dispose();
  }
  if (xp !== x) xp.dispose();
  return y;
}

/** One stride phase along an axis: which taps reach input positions i = q * s + phase, and where in dy. */
interface Phase {
  phase: number;
  /** First tap, tap step and number of taps. */
  k0: number;
  step: number;
  taps: number;
  /** Input positions in the phase. */
  count: number;
  /** dy index of the phase's j-th tap for position q is q + shift - j * dstep. */
  shift: number;
  dstep: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Tap k reaches input i = q * s + phase from output (i + p - k * d) / s when that divides: the taps of a
 * phase are k0, k0 + s/g, ... with g = gcd(s, d), and consecutive taps move the dy index by d/g.
 */
function phases(extent: number, k: number, s: number, p: number, d: number): Phase[] {
  const g = gcd(s, d);
  const step = s / g;
  const out: Phase[] = [];
  for (let phase = 0; phase < s; phase++) {
    let k0 = 0;
    while (k0 < step && (phase + p - k0 * d) % s !== 0) k0++;
    const reach = k0 < step && k0 < k;
    out.push({
      phase, k0, step, taps: reach ? ceilDiv(k - k0, step) : 0, count: ceilDiv(extent - phase, s),
      shift: reach ? (phase + p - k0 * d) / s : 0, dstep: d / g,
    });
  }
  return out;
}

/** Padding of dy so that every phase reads in range: [before, total extent]. */
function dyPadding(ph: Phase[], outExtent: number): [number, number] {
  const before = Math.max(0, ...ph.map((f) => (f.taps > 0 ? (f.taps - 1) * f.dstep - f.shift : 0)));
  let extent = outExtent + before;
  for (const f of ph) if (f.taps > 0 && f.count > 0) extent = Math.max(extent, f.count + f.shift + before);
  return [before, extent];
}

function gradInput(dy: Tensor, weight: Tensor, g: Geometry, what: string): Tensor {
  const rt = dy.rt;
  const { b, c, h, w, o, kh, kw, s, p, d, cg, og, oh, ow } = g;
  const py = phases(h, kh, s, p, d);
  const px = phases(w, kw, s, p, d);
  const [top, hp] = dyPadding(py, oh);
  const [left, wp] = dyPadding(px, ow);
  const dyp = padded(rt, dy, [left, wp - ow - left, top, hp - oh - top]);
  // With a kernel smaller than the stride some pixels get no tap at all: their gradient is zero.
  const untouched = py.some((f) => f.taps === 0 && f.count > 0) || px.some((f) => f.taps === 0 && f.count > 0);
  const dx = untouched ? rt.zeros([b, c, h, w]) : rt.empty([b, c, h, w], 'conv2d grad x');
  for (let grp = 0; grp < g.groups; grp++) {
    for (const fy of py) {
      for (const fx of px) {
        if (fy.taps === 0 || fx.taps === 0 || fy.count === 0 || fx.count === 0) continue;
        // Taps flipped so that the dy window runs forwards: row r = (jy, jx, o) holds tap
        // (k0y + stepY * (tapsY - 1 - jy), k0x + stepX * (tapsX - 1 - jx)).
        const wt = pack(rt, weight, {
          rows: fy.taps * fx.taps * og, cols: cg, batches: 1, q1: fx.taps, q0: og,
          base: grp * og * cg * kh * kw + (fy.k0 + fy.step * (fy.taps - 1)) * kw + fx.k0 + fx.step * (fx.taps - 1),
          srcBatch: 0, strides: [-fy.step * kw, -fx.step, cg * kh * kw], colStride: kh * kw,
        }, `${what} backward (x)`);
        const ey = fy.shift - (fy.taps - 1) * fy.dstep + top;
        const ex = fx.shift - (fx.taps - 1) * fx.dstep + left;
        gemm(rt, {
          kind: 'conv2d',
          what: `${what} backward (x)`,
          u: dyp,
          l: wt,
          out: dx,
          m: fy.count * fx.count,
          n: cg,
          n4: ceilDiv(cg, 4),
          batches: b,
          rows: [1, fx.count],
          uStrides: [wp, 0, 1],
          uOffset: grp * og * hp * wp + ey * wp + ex,
          uBatch: o * hp * wp,
          k: [fy.taps, fx.taps, og],
          kStrides: [fy.dstep * wp, fx.dstep, hp * wp],
          lBatch: 0,
          yStrides: [s * w, 0, s],
          yCol: h * w,
          yOffset: grp * cg * h * w + fy.phase * w + fx.phase,
          yBatch: c * h * w,
        });
        wt.dispose();
      }
    }
  }
  if (dyp !== dy) dyp.dispose();
  return dx;
}

function gradWeight(dy: Tensor, x: Tensor, g: Geometry, what: string): Tensor {
  const rt = dy.rt;
  const { b, c, o, kh, kw, s, p, d, cg, og, oh, ow } = g;
  const hp = g.h + 2 * p;
  const wp = g.w + 2 * p;
  const xp = padded(rt, x, [p, p, p, p]);
  const parts: Tensor[] = [];
  for (let grp = 0; grp < g.groups; grp++) {
    // dy^T with rows in (oy, b, ox) order: oy leads so that split-K can divide it even when the batch is 1.
    const dyt = pack(rt, dy, {
      rows: oh * b * ow, cols: og, batches: 1, q1: b, q0: ow, base: grp * og * oh * ow, srcBatch: 0,
      strides: [ow, o * oh * ow, 1], colStride: oh * ow,
    }, `${what} backward (weight)`);
    const dw = rt.empty([og, cg, kh, kw], 'conv2d grad weight');
    gemm(rt, {
      kind: 'conv2d.dw',
      what: `${what} backward (weight)`,
      u: xp,
      l: dyt,
      out: dw,
      m: cg * kh * kw,
      n: og,
      n4: ceilDiv(og, 4),
      batches: 1,
      rows: [kh, kw],
      uStrides: [hp * wp, d * wp, d],
      uOffset: grp * cg * hp * wp,
      uBatch: 0,
      k: [oh, b, ow],
      kStrides: [s * wp, c * hp * wp, s],
      lBatch: 0,
      yStrides: [kh * kw, kw, 1],
      yCol: cg * kh * kw,
      yOffset: 0,
      yBatch: 0,
      splitK: true,
    });
    dyt.dispose();
    parts.push(dw);
  }
  if (xp !== x) xp.dispose();
  if (parts.length === 1) return parts[0]!;
  const dw = rt.noGrad(() => concat(parts, 0));
  for (const t of parts) t.dispose();
  return dw;
}

/**
 * PyTorch's conv2d on NCHW: x [N, C, H, W], weight [O, C / groups, kH, kW], bias [O] or null, one stride,
 * zero padding and dilation for both axes, channel groups -> [N, O, oH, oW]. Backward to x, weight and bias. See Conv2dOptions for the fused
 * inference epilogue (ReLU and a residual add).
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  x.assertAlive('conv2d');
  weight.assertAlive('conv2d');
  bias?.assertAlive('conv2d');
  const { stride = 1, padding = 0, dilation = 1, groups = 1 } = opts;
  const what = `conv2d x${formatShape(x.shape)} weight${formatShape(weight.shape)}${bias ? ` bias${formatShape(bias.shape)}` : ''}` +
    `${stride !== 1 ? ` stride ${stride}` : ''}${padding !== 0 ? ` padding ${padding}` : ''}` +
    `${dilation !== 1 ? ` dilation ${dilation}` : ''}${groups !== 1 ? ` groups ${groups}` : ''}`;
  if (x.rt !== weight.rt || (bias && bias.rt !== x.rt)) throw new Error(`texad: ${what}: tensors live on different runtimes`);
  const g = geometry(x, weight, bias, opts, what);
  const { residual } = opts;
  if (opts.activation !== undefined && opts.activation !== 'relu') {
    throw new Error(`texad: ${what}: unsupported activation '${String(opts.activation)}' (only 'relu' is fused)`);
  }
  if (residual) {
    residual.assertAlive('conv2d');
    const want = [g.b, g.o, g.oh, g.ow];
    if (residual.shape.join() !== want.join()) {
      throw new Error(`texad: ${what}: residual ${formatShape(residual.shape)} must match the output ${formatShape(want)}`);
    }
  }
  const rt = x.rt;
  const relu = opts.activation === 'relu';
  if ((relu || residual) && rt.recordsGrad(x, weight, bias, residual)) {
    let y = conv2d(x, weight, bias, { stride, padding, dilation, groups });
    if (residual) y = add(y, residual);
    return relu ? reluOp(y) : y;
  }
  const y = forward(x, weight, bias, g, what, residual, relu);
  return rt.record(y, 'conv2d', bias ? [x, weight, bias] : [x, weight], (dy) => [
    needsGrad(x) ? gradInput(dy, weight, g, what) : null,
    needsGrad(weight) ? gradWeight(dy, x, g, what) : null,
    bias && needsGrad(bias) ? gradBias(dy, g, what) : null,
  ]);
}

function gradBias(dy: Tensor, g: Geometry, what: string): Tensor {
  const gb = dy.rt.empty([g.o], 'conv2d grad bias');
  const pixels = g.oh * g.ow;
  stridedSum(dy.rt, dy, gb, { count: g.o, outer: g.b, inner: pixels, sOuter: g.o * pixels, sOut: pixels, sInner: 1 },
    `${what} backward (bias)`);
  return gb;
}
