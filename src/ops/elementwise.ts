// Pointwise maps and broadcasting arithmetic (shaders/elementwise.wgsl), forward and backward.
import { SHADER_ENUMS } from '../generated/shaders.ts';
import { Params, type BufferRange, type Runtime } from '../runtime/runtime.ts';
import { Tensor, formatShape, needsGrad, shapeSize, type Shape } from '../runtime/tensor.ts';

const WG = 256;
const MAX_RANK = 8;

// Op codes come from the `//! enum` lines of shaders/elementwise.wgsl (via tools/embed.mjs), the one place
// they are numbered.
const { UNARY, BINARY } = SHADER_ENUMS.elementwise;
type UnaryOp = keyof typeof UNARY;
type BinaryOp = keyof typeof BINARY;

let scalarOnly = false;

/**
 * Runs `fn` with every pointwise op on the scalar kernels, one element per invocation (tests: the reference the
 * vec4 kernels are checked against bit for bit; benchmarks).
 */
export function withScalarPointwise<T>(fn: () => T): T {
  const prev = scalarOnly;
  scalarOnly = true;
  try {
    return fn();
  } finally {
    scalarOnly = prev;
  }
}

/** Elements the vec4 entry covers: the whole vec4s of `count`, or none when the scalar kernels are forced. */
function vec4Count(count: number): number {
  return scalarOnly ? 0 : Math.floor(count / 4);
}

/**
 * vec4s per invocation of the vec4 entries, a dispatch's width apart: fewer invocations carry the per-lane work
 * around each load and store on CPU drivers (add on 1 Mi floats 1.35-1.43x faster with 4 than with 1 on lavapipe,
 * AMD EPYC, 2026-12-04, tools/elementwise-variants.mjs).
 */
const VEC4_PER_INVOCATION = 4;

/**
 * Runs a pointwise kernel in chunks that each fit one storage binding, so tensors larger than
 * maxStorageBufferBindingSize still work. `tensors` are bound in order; the last is the output. Each chunk runs
 * the vec4 entry over its whole vec4s and the scalar entry over the last count % 4 elements.
 */
function pointwise(rt: Runtime, entry: 'unary' | 'unary_grad', op: number, tensors: Tensor[], a: number, b: number, what: string): void {
  const n = tensors[tensors.length - 1]!.size;
  // Binding offsets must be 256-byte aligned: chunks are multiples of 64 floats.
  const chunk = Math.floor(rt.limits.maxStorageBufferBindingSize / 4 / 64) * 64;
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const n4 = vec4Count(count);
    if (n4 > 0) {
      rt.dispatch({
        family: 'elementwise',
        entry: entry === 'unary' ? 'unary4' : 'unary_grad4',
        spec: { WG, OP: op, PER: VEC4_PER_INVOCATION },
        params: new Params().u32(n4).f32(a, b).u32(0),
        inputs: tensors.slice(0, -1).map((t) => ({ buffer: t.buffer, offset: start * 4, size: n4 * 16 })),
        outputs: [{ buffer: tensors[tensors.length - 1]!.buffer, offset: start * 4, size: n4 * 16 }],
        workgroups: rt.grid(Math.ceil(n4 / VEC4_PER_INVOCATION), WG),
        what,
      });
    }
    if (n4 * 4 === count) continue;
    const ranges: BufferRange[] = tensors.map((t) => ({ buffer: t.buffer, offset: start * 4, size: count * 4 }));
    rt.dispatch({
      family: 'elementwise',
      entry,
      spec: { WG, OP: op },
      params: new Params().u32(count).f32(a, b).u32(n4 * 4),
      inputs: ranges.slice(0, -1),
      outputs: ranges.slice(-1),
      workgroups: rt.grid(count - n4 * 4, WG),
      what,
    });
  }
}

function unary(op: UnaryOp, x: Tensor, a = 0, b = 0): Tensor {
  x.assertAlive(op);
  const rt = x.rt;
  const y = rt.empty(x.shape, op);
  pointwise(rt, 'unary', UNARY[op], [x, y], a, b, `${op} x${formatShape(x.shape)}`);
  return rt.record(y, op, [x], (g) => {
    const gx = rt.empty(x.shape, `${op} grad`);
    pointwise(rt, 'unary_grad', UNARY[op], [x, g, gx], a, b, `${op} backward x${formatShape(x.shape)}`);
    return [gx];
  });
}

export const relu = (x: Tensor): Tensor => unary('relu', x);
export const leakyRelu = (x: Tensor, slope = 0.01): Tensor => unary('leakyRelu', x, slope);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const atan = (x: Tensor): Tensor => unary('atan', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
/** torch.nn.functional.softplus(x, beta), linear above beta*x > 20 like PyTorch. */
export const softplus = (x: Tensor, beta = 1): Tensor => unary('softplus', x, beta);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const square = (x: Tensor): Tensor => unary('square', x);
export const abs = (x: Tensor): Tensor => unary('abs', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
/**
 * 1 where x >= threshold, else 0 (NaN gives 0), as a float mask computed on the GPU; its gradient is zero, as for
 * torch's (x >= t).float(). The threshold is rounded to float32 first, like any tensor value compared with it.
 */
export const atLeast = (x: Tensor, threshold: number): Tensor => unary('atLeast', x, threshold);
/** Clamps to [lo, hi]; the gradient passes where lo <= x <= hi (PyTorch's rule). */
export const clamp = (x: Tensor, lo = -Infinity, hi = Infinity): Tensor =>
  unary('clamp', x, Math.max(lo, -3.4e38), Math.min(hi, 3.4e38));
/** scale * x + shift. */
export const affine = (x: Tensor, scale: number, shift = 0): Tensor => unary('affine', x, scale, shift);
export const scale = (x: Tensor, s: number): Tensor => unary('affine', x, s, 0);
export const neg = (x: Tensor): Tensor => unary('affine', x, -1, 0);
export const addScalar = (x: Tensor, s: number): Tensor => unary('affine', x, 1, s);

/** A tensor filled with `value`. */
export function full(rt: Runtime, shape: Shape, value: number): Tensor {
  const y = rt.empty(shape, 'full');
  const n = y.size;
  rt.dispatch({
    family: 'elementwise',
    entry: 'fill',
    spec: { WG },
    params: new Params().u32(n).f32(value).u32(0, 0),
    inputs: [],
    outputs: [y],
    workgroups: rt.grid(n, WG),
    what: `full ${formatShape(shape)}`,
  });
  return y;
}

/** NumPy broadcasting of two shapes; throws naming both shapes when they are incompatible. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`texad: ${op}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  if (rank > MAX_RANK) throw new Error(`texad: ${op}: rank ${rank} exceeds the supported ${MAX_RANK}`);
  return out;
}

function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const rank = outShape.length;
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let i = rank - 1; i >= 0; i--) {
    const d = shape[shape.length - rank + i] ?? 1;
    strides[i] = d === 1 ? 0 : stride;
    stride *= d;
  }
  return strides;
}

function pad8(v: readonly number[]): number[] {
  return [...v, ...new Array<number>(MAX_RANK - v.length).fill(0)];
}

/**
 * Merges adjacent output dimensions that both operands traverse contiguously (or both broadcast), so the
 * kernel's per-element index walk runs over as few dimensions as possible: same-shape operands become rank 1.
 */
function collapsedBroadcast(a: Shape, b: Shape, out: Shape): { shape: number[]; sa: number[]; sb: number[] } {
  const sa = broadcastStrides(a, out);
  const sb = broadcastStrides(b, out);
  const shape: number[] = [];
  const ca: number[] = [];
  const cb: number[] = [];
  for (let d = out.length - 1; d >= 0; d--) {
    const k = shape.length - 1;
    if (k >= 0 && sa[d] === ca[k]! * shape[k]! && sb[d] === cb[k]! * shape[k]!) {
      shape[k] = shape[k]! * out[d]!;
      continue;
    }
    if (out[d] === 1) continue;
    shape.push(out[d]!);
    ca.push(sa[d]!);
    cb.push(sb[d]!);
  }
  if (shape.length === 0) return { shape: [1], sa: [0], sb: [0] };
  return { shape: shape.reverse(), sa: ca.reverse(), sb: cb.reverse() };
}

/**
 * Dispatches a binary entry over the output `y` of operands shaped `a` and `b`. Operands of the output's own
 * shape run the vec4 entry over the whole vec4s; the broadcasting scalar entry takes the rest (the last
 * size % 4 elements, or everything when an operand broadcasts). The collapsed rank is a specialisation constant.
 */
function binaryDispatch(rt: Runtime, entry: 'binary' | 'binary_grad', spec: Record<string, number>, a: Shape, b: Shape,
  inputs: Tensor[], y: Tensor, what: string): void {
  const c = collapsedBroadcast(a, b, y.shape);
  const rank = c.shape.length;
  const n4 = rank === 1 && c.sa[0] === 1 && c.sb[0] === 1 ? vec4Count(y.size) : 0;
  if (n4 > 0) {
    rt.dispatch({
      family: 'elementwise',
      entry: entry === 'binary' ? 'binary4' : 'binary_grad4',
      spec: { WG, ...spec, PER: VEC4_PER_INVOCATION },
      params: new Params().u32(n4, 0, 0, 0),
      inputs,
      outputs: [y],
      workgroups: rt.grid(Math.ceil(n4 / VEC4_PER_INVOCATION), WG),
      what,
    });
  }
  if (n4 * 4 === y.size) return;
  rt.dispatch({
    family: 'elementwise',
    entry,
    spec: { WG, ...spec, RANK: rank },
    params: new Params().u32(y.size, rank, n4 * 4, 0).u32(...pad8(c.shape)).u32(...pad8(c.sa)).u32(...pad8(c.sb)),
    inputs,
    outputs: [y],
    workgroups: rt.grid(y.size - n4 * 4, WG),
    what,
  });
}

/** Sums `g` down to `shape` over broadcast dimensions (the backward of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  const rt = g.rt;
  if (shapeSize(shape) === g.size) return g.reshape(shape);
  const rank = g.rank;
  const target = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const out = rt.empty(shape, 'sumTo');
  rt.dispatch({
    family: 'elementwise',
    entry: 'sum_to',
    spec: { WG },
    params: new Params().u32(out.size, rank, g.size / out.size, 0).u32(...pad8(g.shape)).u32(...pad8(target)),
    inputs: [g],
    outputs: [out],
    workgroups: rt.grid(out.size, WG),
    what: `sumTo ${formatShape(g.shape)} -> ${formatShape(shape)}`,
  });
  return rt.record(out, 'sumTo', [g], (go) => [expand(go, g.shape)]);
}

function binary(op: BinaryOp, a: Tensor, b: Tensor, outShape = broadcastShapes(a.shape, b.shape, op)): Tensor {
  a.assertAlive(op);
  b.assertAlive(op);
  if (a.rt !== b.rt) throw new Error(`texad: ${op}: tensors live on different runtimes`);
  const rt = a.rt;
  const y = rt.empty(outShape, op);
  const what = `${op} a${formatShape(a.shape)} b${formatShape(b.shape)}`;
  binaryDispatch(rt, 'binary', { OP: BINARY[op] }, a.shape, b.shape, [a, b], y, what);
  return rt.record(y, op, [a, b], (g) => {
    const grads: Array<Tensor | null> = [];
    for (const [which, operand] of [[0, a], [1, b]] as const) {
      // 'first' (expand) passes its operand twice; only the first slot carries the gradient.
      if (!needsGrad(operand) || (op === 'first' && which === 1)) {
        grads.push(null);
        continue;
      }
      const full_ = rt.empty(outShape, `${op} grad`);
      binaryDispatch(rt, 'binary_grad', { OP: BINARY[op], WHICH: which }, a.shape, b.shape, [a, b, g], full_, `${what} backward`);
      grads.push(sumTo(full_, operand.shape));
    }
    return grads;
  });
}

export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binary('div', a, b);
/** Elementwise max; on ties the gradient goes to `a`. */
export const maximum = (a: Tensor, b: Tensor): Tensor => binary('maximum', a, b);
/**
 * 1 where a >= b, else 0 (NaN compares false), broadcasting like the others; a mask carries no gradient, like
 * torch.ge's boolean result, so it is never recorded. The tensor form of atLeast, for thresholds computed on the
 * device (quantileTensor).
 */
export const greaterEqual = (a: Tensor, b: Tensor): Tensor => a.rt.noGrad(() => binary('greaterEqual', a, b));

/** Broadcasts `x` to `shape` (NumPy rules); the gradient sums back over the broadcast dimensions. */
export function expand(x: Tensor, shape: Shape): Tensor {
  const outShape = broadcastShapes(x.shape, shape, 'expand');
  if (outShape.length !== shape.length || outShape.some((d, i) => d !== shape[i])) {
    throw new Error(`texad: expand: ${formatShape(x.shape)} cannot be broadcast to ${formatShape(shape)}`);
  }
  return binary('first', x, x, outShape);
}
