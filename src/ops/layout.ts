// Tensor plumbing (shaders/layout.wgsl), forward and backward: concat, split, slice, permute, channel gather,
// 2-D padding, and the axis helpers other families use to view a tensor as [outer, axis, inner].
import type { ShaderEntries } from '../generated/shaders.ts';
import { Params, type Runtime } from '../runtime/runtime.ts';
import { Tensor, formatShape, needsGrad, shapeSize, type Shape } from '../runtime/tensor.ts';

const WG = 256;
const MAX_RANK = 8;

/** Resolves a possibly negative `axis` against the rank of `shape`; throws naming the op when out of range. */
export function resolveAxis(op: string, shape: Shape, axis: number): number {
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(`texad: ${op}: axis ${axis} is out of range for shape ${formatShape(shape)} (rank ${rank})`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** The extents [A, K, B] of `shape` viewed as outer dims × dims [start, end) × inner dims. */
export function splitShape(shape: Shape, start: number, end = start + 1): [number, number, number] {
  return [shapeSize(shape.slice(0, start)), shapeSize(shape.slice(start, end)), shapeSize(shape.slice(end))];
}

/** Throws when `x` takes part in autograd: a forward-only op would silently cut the gradient. */
export function assertNoGrad(x: Tensor, what: string): void {
  if (x.rt.recordsGrad(x)) {
    throw new Error(`texad: ${what} has no backward; run it under rt.noGrad() or on a tensor that needs no gradient`);
  }
}

/** Uploads u32 values bit-for-bit into a tensor's storage, for index buffers that kernels declare array<u32>. */
export function u32Tensor(rt: Runtime, values: ArrayLike<number>): Tensor {
  const u = Uint32Array.from(values);
  return rt.tensor(new Float32Array(u.buffer), [u.length]);
}

function pointwiseDispatch(rt: Runtime, entry: ShaderEntries['layout'], params: Params, inputs: Tensor[], output: Tensor, n: number,
  what: string): void {
  rt.dispatch({ family: 'layout', entry, spec: { WG }, params, inputs, outputs: [output], workgroups: rt.grid(n, WG), what });
}

/** Copies `count` positions along `axis` from `src` (starting at srcK) into `dst` (starting at dstK). */
function copyRegion(src: Tensor, dst: Tensor, axis: number, srcK: number, dstK: number, count: number, what: string): void {
  const [a, , b] = splitShape(dst.shape, axis);
  const n = a * count * b;
  const params = new Params().u32(n, count, b, src.shape[axis]!, srcK, dst.shape[axis]!, dstK, 0);
  pointwiseDispatch(src.rt, 'copy_region', params, [src], dst, n, what);
}

function withExtent(shape: Shape, axis: number, extent: number): number[] {
  return shape.map((d, i) => (i === axis ? extent : d));
}

/** Positions [start, start + count) of `x` along `axis`, unrecorded. */
function sliceCopy(x: Tensor, axis: number, start: number, count: number, what: string): Tensor {
  const y = x.rt.empty(withExtent(x.shape, axis, count), 'slice');
  copyRegion(x, y, axis, start, 0, count, what);
  return y;
}

/** Joins tensors along `axis`; all other extents must match. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  const first = xs[0];
  if (!first) throw new Error('texad: concat needs at least one tensor');
  xs.forEach((x) => x.assertAlive('concat'));
  const d = resolveAxis('concat', first.shape, axis);
  const shapes = xs.map((x) => formatShape(x.shape)).join(', ');
  const what = `concat ${shapes} axis ${d}`;
  for (const x of xs) {
    if (x.rt !== first.rt) throw new Error(`texad: ${what}: tensors live on different runtimes`);
    if (x.rank !== first.rank || x.shape.some((e, i) => i !== d && e !== first.shape[i])) {
      throw new Error(`texad: ${what}: shapes must match except along axis ${d}`);
    }
  }
  const rt = first.rt;
  const offsets: number[] = [];
  let total = 0;
  for (const x of xs) {
    offsets.push(total);
    total += x.shape[d]!;
  }
  const y = rt.empty(withExtent(first.shape, d, total), 'concat');
  xs.forEach((x, i) => copyRegion(x, y, d, 0, offsets[i]!, x.shape[d]!, what));
  return rt.record(y, 'concat', [...xs], (g) =>
    xs.map((x, i) => (needsGrad(x) ? sliceCopy(g, d, offsets[i]!, x.shape[d]!, `${what} backward`) : null)),
  );
}

/**
 * Positions [start, end) of `x` along `axis` (a copy). Negative start/end count from the end, as in Python;
 * the backward writes the gradient into a zero tensor of x's shape.
 */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  x.assertAlive('slice');
  const d = resolveAxis('slice', x.shape, axis);
  const extent = x.shape[d]!;
  const s = start < 0 ? start + extent : start;
  const e = end < 0 ? end + extent : end;
  const what = `slice x${formatShape(x.shape)} axis ${d} [${start}, ${end})`;
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e > extent || s > e) {
    throw new Error(`texad: ${what}: need integers 0 <= start <= end <= ${extent} (negative values count from the end)`);
  }
  const rt = x.rt;
  const y = sliceCopy(x, d, s, e - s, what);
  return rt.record(y, 'slice', [x], (g) => {
    const gx = rt.zeros(x.shape);
    copyRegion(g, gx, d, 0, s, e - s, `${what} backward`);
    return [gx];
  });
}

/** Splits `x` along `axis` into consecutive pieces of the given sizes (which must add up to the extent). */
export function split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  x.assertAlive('split');
  const d = resolveAxis('split', x.shape, axis);
  const total = sizes.reduce((p, q) => p + q, 0);
  if (total !== x.shape[d] || sizes.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(
      `texad: split x${formatShape(x.shape)} axis ${d}: sizes [${sizes.join(', ')}] must be non-negative integers ` +
        `adding up to ${x.shape[d]}`,
    );
  }
  let start = 0;
  return sizes.map((s) => slice(x, d, start, (start += s)));
}

/**
 * The output shape and the matching input strides of a permute, with size-1 dims dropped and output dims that
 * stay contiguous in the input merged, so the kernel divides by as few extents as possible.
 */
function collapsePermute(shape: Shape, dims: readonly number[]): { extents: number[]; strides: number[] } {
  const inStride = shape.map((_, i) => shapeSize(shape.slice(i + 1)));
  const extents: number[] = [];
  const strides: number[] = [];
  for (const d of dims) {
    const e = shape[d]!;
    if (e === 1) continue;
    const last = extents.length - 1;
    if (last >= 0 && strides[last] === inStride[d]! * e) {
      extents[last] *= e;
      strides[last] = inStride[d]!;
    } else {
      extents.push(e);
      strides.push(inStride[d]!);
    }
  }
  return extents.length > 0 ? { extents, strides } : { extents: [1], strides: [1] };
}

function permuteRaw(x: Tensor, dims: readonly number[], what: string): Tensor {
  const outShape = dims.map((d) => x.shape[d]!);
  const y = x.rt.empty(outShape, 'permute');
  const { extents, strides } = collapsePermute(x.shape, dims);
  const pad8 = (v: number[]) => [...v, ...new Array<number>(MAX_RANK - v.length).fill(0)];
  const params = new Params().u32(y.size, extents.length, 0, 0).u32(...pad8(extents)).u32(...pad8(strides));
  pointwiseDispatch(x.rt, 'permute', params, [x], y, y.size, what);
  return y;
}

/** Reorders dimensions: output dim i is input dim dims[i] (torch.permute); rank up to 8. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  x.assertAlive('permute');
  const what = `permute x${formatShape(x.shape)} dims [${dims.join(', ')}]`;
  const rank = x.rank;
  if (rank > MAX_RANK) throw new Error(`texad: ${what}: rank ${rank} exceeds the supported ${MAX_RANK}`);
  const seen = new Set(dims.map((d) => (Number.isInteger(d) && d < 0 ? d + rank : d)));
  if (dims.length !== rank || seen.size !== rank || [...seen].some((d) => !Number.isInteger(d) || d < 0 || d >= rank)) {
    throw new Error(`texad: ${what}: dims must be a permutation of 0..${rank - 1}`);
  }
  const order = [...seen];
  const inverse = order.map((_, i) => order.indexOf(i));
  const y = permuteRaw(x, order, what);
  return x.rt.record(y, 'permute', [x], (g) => [permuteRaw(g, inverse, `${what} backward`)]);
}

/**
 * Channel gather on dim 1: y[:, c] = x[:, index[c]] for x [N, C, ...] (a fixed channel permutation, or any
 * selection with repeats). The backward sums, for each input channel, the gradients of the output channels that
 * read it in ascending channel order (a CSR inverse of `index` built on the CPU): deterministic, no atomics.
 */
export function gatherChannels(x: Tensor, index: ArrayLike<number>): Tensor {
  x.assertAlive('gatherChannels');
  const what = `gatherChannels x${formatShape(x.shape)} index[${index.length}]`;
  if (x.rank < 2) throw new Error(`texad: ${what}: x needs a channel dim 1 (rank >= 2)`);
  const [a, k, b] = splitShape(x.shape, 1);
  for (let c = 0; c < index.length; c++) {
    const j = index[c]!;
    if (!Number.isInteger(j) || j < 0 || j >= k) {
      throw new Error(`texad: ${what}: index[${c}] = ${j} is not a channel of x (0..${k - 1})`);
    }
  }
  const rt = x.rt;
  const cOut = index.length;
  const y = rt.empty(withExtent(x.shape, 1, cOut), 'gatherChannels');
  const idx = u32Tensor(rt, index);
  pointwiseDispatch(rt, 'gather', new Params().u32(y.size, cOut, b, k), [x, idx], y, y.size, what);
  idx.dispose();
  return rt.record(y, 'gatherChannels', [x], (g) => {
    const start = new Uint32Array(k + 1);
    for (let c = 0; c < cOut; c++) start[index[c]! + 1]!++;
    for (let j = 0; j < k; j++) start[j + 1]! += start[j]!;
    const readers = new Uint32Array(cOut);
    const fill = start.slice(0, k);
    for (let c = 0; c < cOut; c++) readers[fill[index[c]!]!++] = c;
    const startT = u32Tensor(rt, start);
    const readersT = u32Tensor(rt, readers);
    const gx = rt.empty(x.shape, 'gatherChannels grad');
    pointwiseDispatch(rt, 'gather_grad', new Params().u32(a * k * b, cOut, b, k), [g, startT, readersT], gx, a * k * b,
      `${what} backward`);
    startT.dispose();
    readersT.dispose();
    return [gx];
  });
}

function pad2dRaw(x: Tensor, [left, right, top, bottom]: readonly number[], value: number, what: string): Tensor {
  const rank = x.rank;
  const h = x.shape[rank - 2]!;
  const w = x.shape[rank - 1]!;
  const ho = h + top! + bottom!;
  const wo = w + left! + right!;
  const y = x.rt.empty([...x.shape.slice(0, -2), ho, wo], 'pad2d');
  const params = new Params().u32(y.size, h, w, ho, wo).i32(top!, left!).f32(value);
  pointwiseDispatch(x.rt, 'pad2d', params, [x], y, y.size, what);
  return y;
}

/**
 * Pads the last two dims by [left, right, top, bottom] with `value` (torch.nn.functional.pad order).
 * Negative amounts crop, as in PyTorch; the backward crops (or pads with zeros) by the negated amounts.
 */
export function pad2d(x: Tensor, pads: readonly [number, number, number, number], value = 0): Tensor {
  x.assertAlive('pad2d');
  const what = `pad2d x${formatShape(x.shape)} pads [${pads.join(', ')}]`;
  if (x.rank < 2) throw new Error(`texad: ${what}: x needs at least 2 dims (..., H, W)`);
  const [left, right, top, bottom] = pads;
  const h = x.shape[x.rank - 2]!;
  const w = x.shape[x.rank - 1]!;
  if (pads.length !== 4 || !pads.every(Number.isInteger) || h + top + bottom < 0 || w + left + right < 0) {
    throw new Error(`texad: ${what}: need 4 integers [left, right, top, bottom] leaving non-negative extents`);
  }
  const y = pad2dRaw(x, pads, value, what);
  return x.rt.record(y, 'pad2d', [x], (g) => [pad2dRaw(g, pads.map((p) => -p), 0, `${what} backward`)]);
}
