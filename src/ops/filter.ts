// Fixed-kernel image filters on the last two dims (shaders/filter.wgsl): 3x3 patch unfold, scipy-compatible
// Gaussian blur, depthwise convolution with one fixed kernel for every channel (backward to the input), box
// filter, and the kernel builders they need.
import { Params } from '../runtime/runtime.ts';
import { Tensor, formatShape, shapeSize } from '../runtime/tensor.ts';
import { assertNoGrad } from './layout.ts';

const WG = 256;
/** Consecutive outputs per invocation in the `line` and `plane` entries. */
const RUN = 8;

function assertImage(x: Tensor, op: string): void {
  x.assertAlive(op);
  if (x.rank < 2) throw new Error(`texad: ${op}: x${formatShape(x.shape)} needs at least 2 dims (..., H, W)`);
}

/**
 * SimpleNet's patchify: [N, C, H, W] -> [N, H*W, C*9], the 3x3 neighbourhood (stride 1, zero padding 1) of
 * every location flattened channel-major (c, ky, kx), i.e. torch.nn.Unfold(3, padding=1)(x).permute(0, 2, 1).
 * Rows are locations, so the adaptor's pooling and projection run on contiguous C*9 vectors. The result is 9x
 * the input: unfold WRN50 layer2 maps a few images at a time. Forward only.
 */
export function unfold3x3(x: Tensor): Tensor {
  const what = `unfold3x3 x${formatShape(x.shape)}`;
  x.assertAlive('unfold3x3');
  if (x.rank !== 4) throw new Error(`texad: ${what}: x must be [N, C, H, W]`);
  assertNoGrad(x, what);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const rt = x.rt;
  const y = rt.empty([n, h * w, c * 9], 'unfold3x3');
  rt.dispatch({
    family: 'filter',
    entry: 'unfold3x3',
    spec: { WG },
    params: new Params().u32(n * h * w * c, c, h, w),
    inputs: [x],
    outputs: [y],
    workgroups: rt.grid(n * h * w * c, WG),
    what,
  });
  return y;
}

/** scipy.ndimage's Gaussian: taps exp(-x^2 / (2 sigma^2)) for x in [-radius, radius], normalised to sum 1. */
export function gaussianKernel1d(sigma: number, radius: number): Float32Array {
  if (!(sigma > 0) || !Number.isInteger(radius) || radius < 0) {
    throw new Error(`texad: gaussianKernel1d: need sigma > 0 and an integer radius >= 0, got sigma ${sigma}, radius ${radius}`);
  }
  const taps = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-0.5 * ((i - radius) / sigma) ** 2));
  const total = taps.reduce((p, q) => p + q, 0);
  return Float32Array.from(taps, (t) => t / total);
}

function outer(u: ArrayLike<number>, v: ArrayLike<number>): Float32Array {
  return Float32Array.from({ length: u.length * v.length }, (_, i) => u[Math.floor(i / v.length)]! * v[i % v.length]!);
}

/** The 2-D Gaussian window outer(g, g) of gaussianKernel1d (e.g. SSIM's 11x11, sigma 1.5: radius 5). */
export function gaussianKernel2d(sigma: number, radius: number): Float32Array {
  const g = gaussianKernel1d(sigma, radius);
  return outer(g, g);
}

/** The k x k binomial kernel outer(b, b) / 4^(k-1), b = row k-1 of Pascal's triangle (k = 5: [1,4,6,4,1] / 16). */
export function binomialKernel2d(k: number): Float32Array {
  if (!Number.isInteger(k) || k < 1 || k > 31) throw new Error(`texad: binomialKernel2d: k must be an integer in 1..31, got ${k}`);
  const row = [1];
  for (let i = 1; i < k; i++) row.push((row[i - 1]! * (k - i)) / i);
  const total = 2 ** (k - 1);
  return outer(row.map((b) => b / total), row.map((b) => b / total));
}

/**
 * What a 1-D pass reads outside x: zeros, scipy's half-sample mirror ('reflect', d c b a | a b c d), or the edge
 * sample repeated ('clamp', PIL's box blur).
 */
type Border = 'zero' | 'reflect' | 'clamp';

/**
 * One 1-D pass along the rows (axis -2, H) or columns (axis -1, W) of every plane: out[o] = sum_u
 * taps[u] x[o + offset + u], reading outside x as `border` says.
 */
function linePass(x: Tensor, axis: -2 | -1, taps: Float32Array, offset: number, outLen: number, border: Border,
  what: string): Tensor {
  const rt = x.rt;
  const rank = x.rank;
  const d = rank + axis;
  const b = axis === -1 ? 1 : x.shape[rank - 1]!;
  const outShape = x.shape.map((e, i) => (i === d ? outLen : e));
  const y = rt.empty(outShape, 'filter');
  const lines = outShape.reduce((p, e, i) => (i === d ? p : p * e), 1);
  const invocations = lines * Math.ceil(outLen / RUN);
  const w = rt.tensor(taps, [taps.length]);
  rt.dispatch({
    family: 'filter',
    entry: 'line',
    spec: { WG, RUN, REFLECT: border === 'reflect', CLAMP: border === 'clamp' },
    params: new Params().u32(invocations, x.shape[d]!, outLen, b, taps.length).i32(offset).u32(0, 0),
    inputs: [x, w],
    outputs: [y],
    workgroups: rt.grid(invocations, WG),
    what,
  });
  w.dispose();
  return y;
}

/** Both passes of a separable filter: `u` along H, then `v` along W, with the same offset on both axes. */
function separablePasses(x: Tensor, u: Float32Array, v: Float32Array, offset: number, outH: number, outW: number,
  border: Border, what: string): Tensor {
  const tmp = linePass(x, -2, u, offset, outH, border, what);
  const y = linePass(tmp, -1, v, offset, outW, border, what);
  tmp.dispose();
  return y;
}

function planePass(x: Tensor, kernel: Float32Array, k: number, offset: number, outH: number, outW: number, what: string): Tensor {
  const rt = x.rt;
  const [h, w] = x.shape.slice(-2) as [number, number];
  const y = rt.empty([...x.shape.slice(0, -2), outH, outW], 'filter');
  const invocations = shapeSize(y.shape.slice(0, -1)) * Math.ceil(outW / RUN);
  const wt = rt.tensor(kernel, [kernel.length]);
  rt.dispatch({
    family: 'filter',
    entry: 'plane',
    spec: { WG, RUN },
    params: new Params().u32(invocations, h, w, outH, outW, k).i32(offset).u32(0),
    inputs: [x, wt],
    outputs: [y],
    workgroups: rt.grid(invocations, WG),
    what,
  });
  wt.dispose();
  return y;
}

/** A fixed k x k kernel: `u` along H and `v` along W when it is separable (kernel = outer(u, v)), else in full. */
type Kernel = { u: Float32Array; v: Float32Array } | { full: Float32Array };

const flip = (taps: Float32Array): Float32Array => taps.slice().reverse();

/** The kernel rotated by 180 degrees: correlating with it is the transpose of correlating with `kernel`. */
function flipKernel(kernel: Kernel): Kernel {
  return 'full' in kernel ? { full: flip(kernel.full) } : { u: flip(kernel.u), v: flip(kernel.v) };
}

/**
 * `kernel` as outer(u, v) when it has rank one up to f32 rounding, else as is. Separable kernels cost 2k taps
 * per output instead of k^2.
 */
function factorize(kernel: Float32Array, k: number): Kernel {
  let pivot = 0;
  for (let i = 1; i < kernel.length; i++) if (Math.abs(kernel[i]!) > Math.abs(kernel[pivot]!)) pivot = i;
  const peak = kernel[pivot]!;
  if (peak === 0) return { full: kernel };
  const [r0, c0] = [Math.floor(pivot / k), pivot % k];
  const u = Float32Array.from({ length: k }, (_, r) => kernel[r * k + c0]!);
  const v = Float32Array.from({ length: k }, (_, c) => kernel[r0 * k + c]! / peak);
  for (let i = 0; i < kernel.length; i++) {
    if (Math.abs(kernel[i]! - u[Math.floor(i / k)]! * v[i % k]!) > 1e-6 * Math.abs(peak)) return { full: kernel };
  }
  return { u, v };
}

/** Zero-padded correlation of every plane of x with `kernel` at `offset`, producing outH x outW planes. */
function correlate(x: Tensor, kernel: Kernel, k: number, offset: number, outH: number, outW: number, what: string): Tensor {
  return 'full' in kernel
    ? planePass(x, kernel.full, k, offset, outH, outW, what)
    : separablePasses(x, kernel.u, kernel.v, offset, outH, outW, 'zero', what);
}

/**
 * conv2d(x, kernel.expand(C, 1, k, k), padding, groups=C) for a fixed kernel; the output is
 * (H + 2 padding - k + 1) x (W + 2 padding - k + 1). The backward correlates the gradient with the flipped
 * kernel at offset padding - (k - 1): exactly the transposed operation, zero padding included.
 */
function fixedConv(x: Tensor, kernel: Kernel, k: number, padding: number, op: string): Tensor {
  const what = `${op} x${formatShape(x.shape)} kernel ${k}x${k} padding ${padding}`;
  const [h, w] = x.shape.slice(-2) as [number, number];
  const [outH, outW] = [h + 2 * padding - k + 1, w + 2 * padding - k + 1];
  if (outH < 1 || outW < 1) throw new Error(`texad: ${what}: the output would be ${outH}x${outW}; pad more or use a smaller kernel`);
  const y = correlate(x, kernel, k, -padding, outH, outW, what);
  return x.rt.record(y, op, [x], (g) => [correlate(g, flipKernel(kernel), k, padding - (k - 1), h, w, `${what} backward`)]);
}

/**
 * Depthwise convolution with one fixed k x k `kernel` (row-major, [ky * k + kx]) for every channel of x
 * [..., H, W], zero padding `padding` on each side (PyTorch's conv2d correlation, groups = C, no bias).
 * Rank-one kernels (binomial, Gaussian windows) run as two 1-D passes. Gradient to x only.
 */
export function depthwiseConv2d(x: Tensor, kernel: Float32Array, k: number, padding: number): Tensor {
  assertImage(x, 'depthwiseConv2d');
  if (!Number.isInteger(k) || k < 1 || kernel.length !== k * k || !Number.isInteger(padding) || padding < 0) {
    throw new Error(
      `texad: depthwiseConv2d x${formatShape(x.shape)}: need a k*k kernel (got ${kernel.length} values for k = ${k}) ` +
        `and an integer padding >= 0 (got ${padding})`,
    );
  }
  return fixedConv(x, factorize(kernel, k), k, padding, 'depthwiseConv2d');
}

/**
 * k x k mean filter with zero padding (k - 1) / 2, the padding counted in the divisor: avg_pool2d(x, k,
 * stride=1, padding=k//2, count_include_pad=True) for odd k (DRAEM's 21x21 image-score smoothing).
 */
export function boxFilter(x: Tensor, k: number): Tensor {
  assertImage(x, 'boxFilter');
  if (!Number.isInteger(k) || k < 1 || k % 2 === 0) throw new Error(`texad: boxFilter x${formatShape(x.shape)}: k must be a positive odd integer, got ${k}`);
  const taps = new Float32Array(k).fill(1 / k);
  return fixedConv(x, { u: taps, v: taps }, k, (k - 1) / 2, 'boxFilter');
}

/**
 * scipy.ndimage.gaussian_filter(x, sigma) over the last two dims with its defaults: mode 'reflect'
 * (half-sample symmetric, d c b a | a b c d), radius round(truncate * sigma), weights normalised to 1.
 * SimpleNet's sigma 4 gives 33 taps. Separable: two 1-D passes. Forward only.
 */
export function gaussianBlur(x: Tensor, sigma: number, { truncate = 4 }: { truncate?: number } = {}): Tensor {
  assertImage(x, 'gaussianBlur');
  const what = `gaussianBlur x${formatShape(x.shape)} sigma ${sigma} truncate ${truncate}`;
  if (!(sigma > 0) || !(truncate >= 0)) throw new Error(`texad: ${what}: need sigma > 0 and truncate >= 0`);
  assertNoGrad(x, what);
  const radius = Math.floor(truncate * sigma + 0.5);
  const taps = gaussianKernel1d(sigma, radius);
  const [h, w] = x.shape.slice(-2) as [number, number];
  return separablePasses(x, taps, taps, -radius, h, w, 'reflect', what);
}

/**
 * The box radius PIL's ImagingGaussianBlur gives each of its `passes` box blurs so that together they have the
 * variance of a Gaussian with standard deviation `radius` (Pillow BoxBlur.c: integer part l, fractional weight a).
 */
export function pilBoxRadius(radius: number, passes = 3): number {
  const sigma2 = (radius * radius) / passes;
  const l = Math.floor((Math.sqrt(12 * sigma2 + 1) - 1) / 2);
  const a = ((2 * l + 1) * (l * (l + 1) - 3 * sigma2)) / (6 * (sigma2 - (l + 1) * (l + 1)));
  return l + a;
}

/**
 * PIL's `ImageFilter.GaussianBlur(radius)` (Mean-Shift's training-view blur, after SimCLR/MoCo): three box blurs
 * of fractional radius r = pilBoxRadius(radius) along W, then three along H, each output sample the mean of the
 * 2*floor(r)+1 nearest samples plus the next one on each side weighted by the fraction, edges repeated (PIL
 * clamps). PIL rounds every pass to 8 bits; this is the same arithmetic in float32, so it stays within ~1/255 of
 * PIL on 8-bit images (golden: tools/golden/meanshift.py). Forward only.
 */
export function pilGaussianBlur(x: Tensor, radius: number): Tensor {
  assertImage(x, 'pilGaussianBlur');
  const what = `pilGaussianBlur x${formatShape(x.shape)} radius ${radius}`;
  if (!(radius > 0)) throw new Error(`texad: ${what}: need radius > 0`);
  assertNoGrad(x, what);
  const r = pilBoxRadius(radius);
  const l = Math.floor(r);
  const taps = new Float32Array(2 * l + 3).fill(1 / (2 * r + 1));
  taps[0] = taps[2 * l + 2] = (r - l) / (2 * r + 1);
  const [h, w] = x.shape.slice(-2) as [number, number];
  let y = x;
  for (const [axis, len] of [[-1, w], [-1, w], [-1, w], [-2, h], [-2, h], [-2, h]] as const) {
    const next = linePass(y, axis, taps, -(l + 1), len, 'clamp', what);
    if (y !== x) y.dispose();
    y = next;
  }
  return y;
}
