// Reductions (sum, mean, max) over any set of axes and the row-wise maps softmax, logSoftmax, l2Normalize
// (shaders/reduce.wgsl), forward and backward. Deterministic: every value is folded in a fixed order.
import type { ShaderEntries } from '../generated/shaders.ts';
import { Params } from '../runtime/runtime.ts';
import { Tensor, formatShape, needsGrad, shapeSize, type Shape } from '../runtime/tensor.ts';
import { abs, expand, scale as scaleBy, square, sub } from './elementwise.ts';
import { resolveAxis, slice, splitShape } from './layout.ts';

const WG = 256;
/** A fold pass splits each line into interleaved parts until about this many invocations run in parallel... */
const TARGET_THREADS = 16384;
/** ...but never into parts shorter than this, so every pass shrinks the data at least 128-fold. */
const MIN_PART = 128;

type Kind = 'sum' | 'max';
type View = readonly [number, number, number];

interface Folded {
  values: Tensor;
  /** K positions of the first maxima (u32 bits; only reduce.wgsl reads them), when requested. */
  indices: Tensor | null;
}

/**
 * Folds the [A, K, B] view of `x` along K into A*B values, multiplied by `scale` at the end, and with
 * `withIndex` also the K position of each line's first maximum. Long lines take several passes, each
 * over the previous pass's partial results (values and positions), until one part per line is left:
 * a full reduction of 1e7 floats takes three passes (16384 parts, 128 parts, 1).
 */
function fold(x: Tensor, [a, k, b]: View, kind: Kind, withIndex: boolean, scale: number, what: string,
  outShape: Shape = [a * b]): Folded {
  const rt = x.rt;
  let values = x;
  let indices: Tensor | null = null;
  for (let len = k; ; ) {
    const parts = Math.max(1, Math.min(Math.ceil(TARGET_THREADS / Math.max(1, a * b)), Math.floor(len / MIN_PART)));
    const last = parts === 1;
    const outValues = rt.empty(last ? outShape : [a * parts * b], `${kind} partials`);
    // Entries always bind index buffers; a 1-float placeholder stands in where none is read or written.
    const inIndices = indices ?? rt.empty([1], 'no index');
    const outIndices = rt.empty([withIndex ? a * parts * b : 1], 'argmax');
    rt.dispatch({
      family: 'reduce',
      entry: 'fold',
      spec: { WG, OP: kind === 'max' ? 1 : 0, ARG: withIndex, IN_INDEX: indices !== null },
      params: new Params().u32(a, len, b, parts).f32(last ? scale : 1).u32(0, 0, 0),
      inputs: [values, inIndices],
      outputs: [outValues, outIndices],
      workgroups: rt.grid(a * parts * b, WG),
      what,
    });
    // Buffers go back to the pool only after the submit that reads them, so freeing here is safe.
    if (values !== x) values.dispose();
    inIndices.dispose();
    values = outValues;
    if (withIndex) indices = outIndices;
    else outIndices.dispose();
    if (last) return { values, indices };
    len = parts;
  }
}

/** Reduces dims [start, end) of `x` to extent 1 (rank kept), recording the backward rule. */
function reduceRun(x: Tensor, start: number, end: number, kind: Kind, scale: number, op: string): Tensor {
  const rt = x.rt;
  const view = splitShape(x.shape, start, end);
  const outShape = x.shape.map((d, i) => (i >= start && i < end ? 1 : d));
  const what = `${op} x${formatShape(x.shape)} dims ${start}..${end - 1}`;
  const y = fold(x, view, kind, false, scale, what, outShape).values;
  return rt.record(y, op, [x], (g) => {
    if (kind === 'sum') {
      const gs = scale === 1 ? g : scaleBy(g, scale);
      const gx = expand(gs, x.shape);
      if (gs !== g) gs.dispose();
      return [gx];
    }
    // The argmax is recomputed from x rather than saved, so backward works whenever x is still alive.
    const { values, indices } = fold(x, view, 'max', true, 1, `${what} backward`);
    values.dispose();
    const gx = rt.empty(x.shape, `${op} grad`);
    rt.dispatch({
      family: 'reduce',
      entry: 'scatter_index',
      spec: { WG },
      params: new Params().u32(gx.size, view[1], view[2], 0),
      inputs: [g, indices!],
      outputs: [gx],
      workgroups: rt.grid(gx.size, WG),
      what: `${what} backward`,
    });
    indices!.dispose();
    return [gx];
  });
}

function reduce(kind: Kind, op: string, x: Tensor, axes: readonly number[] | undefined, keepDims: boolean): Tensor {
  x.assertAlive(op);
  const rt = x.rt;
  const dims = axes === undefined ? x.shape.map((_, i) => i) : axes.map((d) => resolveAxis(op, x.shape, d));
  const reduced = new Set(dims);
  if (reduced.size !== dims.length) {
    throw new Error(`texad: ${op}: axes [${axes!.join(', ')}] repeat a dimension of shape ${formatShape(x.shape)}`);
  }
  if (kind === 'max' && dims.some((d) => x.shape[d] === 0)) {
    throw new Error(`texad: ${op}: cannot take the max over an empty dimension of shape ${formatShape(x.shape)}`);
  }
  // Adjacent reduced dims form one run (one [A, K, B] fold); runs are folded innermost first.
  const runs: Array<[number, number]> = [];
  for (const d of [...reduced].sort((p, q) => p - q)) {
    const run = runs[runs.length - 1];
    if (run && run[1] === d) run[1] = d + 1;
    else runs.push([d, d + 1]);
  }
  const recording = rt.recordsGrad(x);
  let y = x;
  for (let r = runs.length - 1; r >= 0; r--) {
    const [start, end] = runs[r]!;
    const scale = op === 'mean' ? 1 / shapeSize(x.shape.slice(start, end)) : 1;
    const next = reduceRun(y, start, end, kind, scale, op);
    // Without autograd nothing refers back to an intermediate result.
    if (y !== x && !recording) y.dispose();
    y = next;
  }
  const outShape = keepDims ? x.shape.map((d, i) => (reduced.has(i) ? 1 : d)) : x.shape.filter((_, i) => !reduced.has(i));
  if (y !== x && sameShape(y.shape, outShape)) return y;
  const out = y.reshape(outShape);
  if (y !== x && !recording) y.dispose();
  return out;
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Sum over `axes` (all when undefined; [] reduces nothing). */
export const sum = (x: Tensor, axes?: readonly number[], keepDims = false): Tensor => reduce('sum', 'sum', x, axes, keepDims);
/** Mean over `axes` (all when undefined); the mean of an empty set is NaN, as in PyTorch. */
export const mean = (x: Tensor, axes?: readonly number[], keepDims = false): Tensor => reduce('sum', 'mean', x, axes, keepDims);
/**
 * Max over `axes` (all when undefined). NaN propagates; the gradient goes to the first maximum in row-major
 * order over the reduced dims (torch.max(dim) semantics, not amax's even split between ties).
 */
export const max = (x: Tensor, axes?: readonly number[], keepDims = false): Tensor => reduce('max', 'max', x, axes, keepDims);

/**
 * Dispatches a one-invocation-per-line kernel over the [A, K, B] view of `shape` around `axis`; `eps` fills the
 * fourth uniform word (l2norm's eps, padding for the softmax entries).
 */
function perLine(op: string, shape: Shape, axis: number, entry: ShaderEntries['reduce'], spec: Record<string, boolean>, eps: number,
  inputs: Tensor[], output: Tensor, what: string): void {
  const [a, k, b] = splitShape(shape, axis);
  const rt = output.rt;
  rt.dispatch({
    family: 'reduce',
    entry,
    spec: { WG, ...spec },
    params: new Params().u32(a * b, k, b).f32(eps),
    inputs,
    outputs: [output],
    workgroups: rt.grid(a * b, WG),
    what: `${op} ${what}`,
  });
}

function softmaxImpl(x: Tensor, axis: number, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  x.assertAlive(op);
  const rt = x.rt;
  const d = resolveAxis(op, x.shape, axis);
  const what = `x${formatShape(x.shape)} axis ${d}`;
  const y = rt.empty(x.shape, op);
  perLine(op, x.shape, d, 'softmax', { LOG: log }, 0, [x], y, what);
  return rt.record(y, op, [x], (g) => {
    const gx = rt.empty(x.shape, `${op} grad`);
    perLine(op, x.shape, d, 'softmax_grad', { LOG: log }, 0, [y, g], gx, `${what} backward`);
    return [gx];
  });
}

/** Softmax along `axis`. */
export const softmax = (x: Tensor, axis = -1): Tensor => softmaxImpl(x, axis, false);
/** log(softmax(x)) along `axis`, computed stably as x - max - log(sum(exp(x - max))). */
export const logSoftmax = (x: Tensor, axis = -1): Tensor => softmaxImpl(x, axis, true);

/** x / max(|x|_2, eps) along `axis` (torch.nn.functional.normalize with p = 2). */
export function l2Normalize(x: Tensor, axis = -1, eps = 1e-12): Tensor {
  const op = 'l2Normalize';
  x.assertAlive(op);
  if (!(eps >= 0)) throw new Error(`texad: ${op}: eps must be >= 0, got ${eps}`);
  const rt = x.rt;
  const d = resolveAxis(op, x.shape, axis);
  const what = `x${formatShape(x.shape)} axis ${d}`;
  const y = rt.empty(x.shape, op);
  perLine(op, x.shape, d, 'l2norm', {}, eps, [x], y, what);
  return rt.record(y, op, [x], (g) => {
    const gx = rt.empty(x.shape, `${op} grad`);
    perLine(op, x.shape, d, 'l2norm_grad', {}, eps, [x, g], gx, `${what} backward`);
    return [gx];
  });
}

/**
 * Channel mean of squared differences, the anomaly map of feature-matching methods: y[n, 0, h, w] = mean over
 * c < C of (a[n, c, h, w] - b[n, offset + c, h, w])^2 for a [N, C, H, W] and b [N, Cb, H, W] (b's channels
 * offset .. offset + C - 1; offset 0 and Cb = C compare whole tensors; a b of batch 1 is compared with every image
 * of a). Equal, up to summation order, to
 * mean(square(sub(a, slice(b, 1, offset, offset + C))), [1], true), in one pass (shaders/reduce.wgsl) when H * W is
 * a multiple of 4, else through those ops. Differentiable when b has a's shape (PyramidFlow's pairwise loss: one
 * pass each way); with a channel offset or a broadcast b, gradients need the composed ops.
 */
export function sqDiffChannelMean(a: Tensor, b: Tensor, offset = 0): Tensor {
  return diffChannelMean('sqDiffChannelMean', false, a, b, offset);
}

/**
 * Channel mean of absolute differences, y[n, 0, h, w] = mean over c < C of |a[n, c, h, w] - b[n, offset + c, h, w]|:
 * sqDiffChannelMean with |d| for d^2 (same shapes, same one pass, same fallback, same gradients). PyramidFlow's map
 * takes it per pyramid level against the template (batch 1) before composing, which the linearity of the
 * composition allows.
 */
export function absDiffChannelMean(a: Tensor, b: Tensor, offset = 0): Tensor {
  return diffChannelMean('absDiffChannelMean', true, a, b, offset);
}

function diffChannelMean(op: string, absolute: boolean, a: Tensor, b: Tensor, offset: number): Tensor {
  a.assertAlive(op);
  b.assertAlive(op);
  const what = `${op} a${formatShape(a.shape)} b${formatShape(b.shape)} offset ${offset}`;
  if (a.rank !== 4 || b.rank !== 4) throw new Error(`texad: ${what}: a and b must be [N, C, H, W]`);
  const [n, c, h, w] = a.shape as [number, number, number, number];
  const cb = b.shape[1]!;
  if ((b.shape[0] !== n && b.shape[0] !== 1) || b.shape[2] !== h || b.shape[3] !== w) {
    throw new Error(`texad: ${what}: b must have a's batch (or 1) and spatial size [${n}, *, ${h}, ${w}]`);
  }
  if (!(Number.isInteger(offset) && offset >= 0 && offset + c <= cb)) {
    throw new Error(`texad: ${what}: channels ${offset}..${offset + c - 1} of b do not exist (b has ${cb})`);
  }
  const rt = a.rt;
  const elementOp = absolute ? 'abs' : 'square';
  const whole = offset === 0 && cb === c && b.shape[0] === n;
  const recording = rt.recordsGrad(a, b);
  if (recording && !whole) {
    throw new Error(`texad: ${what}: no backward for a channel slice or a broadcast b; for a loss use mean(${elementOp}(sub(a, slice(b, 1, ${offset}, ${offset + c}))))`);
  }
  const s = h * w;
  if (s % 4 !== 0) {
    // The composed ops, differentiable when recording (then b is whole: no slice).
    const part = whole ? b : rt.noGrad(() => slice(b, 1, offset, offset + c));
    const d = sub(a, part);
    const e = absolute ? abs(d) : square(d);
    const y = reduce('sum', 'mean', e, [1], true);
    if (!recording) for (const t of [d, e, ...(part !== b ? [part] : [])]) t.dispose();
    return y;
  }
  const y = rt.empty([n, 1, h, w], op);
  rt.dispatch({
    family: 'reduce',
    entry: 'diff_channel_mean',
    spec: { WG, ABS: absolute },
    params: new Params().u32(n, c, s / 4, cb, offset, b.shape[0] === n ? 1 : 0, 0, 0),
    inputs: [a, b],
    outputs: [y],
    workgroups: rt.grid((n * s) / 4, WG),
    what,
  });
  return rt.record(y, op, [a, b], (g) => {
    const ga = rt.empty(a.shape, `${op} grad a`);
    const gb = rt.empty(a.shape, `${op} grad b`);
    rt.dispatch({
      family: 'reduce',
      entry: 'diff_channel_mean_grad',
      spec: { WG, ABS: absolute },
      params: new Params().u32(n, c, s / 4, 0),
      inputs: [a, b, g],
      outputs: [ga, gb],
      workgroups: rt.grid((n * c * s) / 4, WG),
      what: `${what} backward`,
    });
    const grads: Array<Tensor | null> = [needsGrad(a) ? ga : null, needsGrad(b) ? gb : null];
    if (!needsGrad(a)) ga.dispose();
    if (!needsGrad(b)) gb.dispose();
    return grads;
  });
}
