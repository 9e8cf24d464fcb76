// Exact selection statistics of whole tensors: quantile and mean of the k largest. Two exact methods:
//
// - 'gpu' (shaders/select.wgsl): radix selection. Floats map to order-preserving u32 keys; four passes each
//   histogram one 8-bit digit of the keys still in the running, and one invocation on the device picks the digit
//   holding the wanted rank. Both ranks a quantile interpolates between share the passes, and the prefixes stay
//   on the device: quantileTensor() needs no readback at all (EfficientAD's training step thresholds with it),
//   quantile() and topKMean() read back one number. Tensors over one storage binding are histogrammed in chunks.
// - 'cpu': read the tensor back and quickselect in JavaScript.
//
// Measured on lavapipe (2 cores shared with other jobs, so ranges), q = 0.999: 1e7 floats 'gpu' 450-750 ms
// (workgroup atomics run lane by lane; the first pass, with an atomic per element, is ~370 ms) vs 'cpu'
// 110-180 ms (readback ~35 ms + quickselect; a median takes ~2x longer); 1.2e6 floats ~100 vs 20-50 ms.
// A software adapter is a CPU, so there the CPU method is the default for the number-returning functions; on
// hardware adapters the histogram passes avoid copying the whole tensor to the host and selecting
// single-threaded.
import { Params, type BufferRange } from '../runtime/runtime.ts';
import { Tensor, formatShape } from '../runtime/tensor.ts';
import { add, affine, relu, sub } from './elementwise.ts';
import { u32Tensor } from './layout.ts';
import { sum } from './reduce.ts';

const WG = 256;
/** Histogram workgroups: enough to fill a GPU; each loops over a grid-strided share of the elements. */
const MAX_GROUPS = 1024;
/** Elements per thread below which fewer workgroups are launched (each flushes a local histogram). */
const MIN_PER_THREAD = 16;
const NAN_BIN = 512;
/** Quickselect rounds after which the remaining range is sorted instead (guards adversarial inputs). */
const MAX_ROUNDS = 64;

export interface SelectOptions {
  /** 'gpu' radix selection or 'cpu' readback + quickselect; default: 'cpu' on software adapters, else 'gpu'. */
  method?: 'gpu' | 'cpu';
}

/** The float whose order-preserving key is `key` (the inverse of float_to_key in select.wgsl). */
function keyToFloat(key: number): number {
  const bits = key & 0x80000000 ? (key ^ 0x80000000) >>> 0 : ~key >>> 0;
  return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
}

/**
 * Queues the radix selection of ascending ranks r0 <= r1 (0-based) of all elements of `x`; returns the state
 * tensor of select.wgsl ([prefix0, prefix1, rank0, rank1, nan flag] as u32; the prefixes are the two keys once
 * the passes have run). Nothing is read back.
 */
function radixSelect(x: Tensor, r0: number, r1: number, what: string): Tensor {
  const rt = x.rt;
  const n = x.size;
  // Binding offsets must be 256-byte aligned: chunks are multiples of 64 floats.
  const chunk = Math.floor(rt.limits.maxStorageBufferBindingSize / 4 / 64) * 64;
  const state = u32Tensor(rt, [0, 0, r0, r1, 0]);
  for (let pass = 0; pass < 4; pass++) {
    const hist = rt.zeros([NAN_BIN + 1]);
    for (let start = 0; start < n; start += chunk) {
      const count = Math.min(chunk, n - start);
      const range: BufferRange = { buffer: x.buffer, offset: start * 4, size: count * 4 };
      rt.dispatch({
        family: 'select',
        entry: 'histogram',
        spec: { WG, FIRST: pass === 0 },
        params: new Params().u32(count, 24 - 8 * pass, 0, 0),
        inputs: [range, state],
        outputs: [hist],
        workgroups: [Math.max(1, Math.min(MAX_GROUPS, Math.ceil(count / (WG * MIN_PER_THREAD))))],
        what,
      });
    }
    rt.dispatch({
      family: 'select', entry: 'pick', spec: { FIRST: pass === 0 }, params: new Params(), inputs: [hist], outputs: [state], workgroups: [1], what,
    });
    // Released buffers are reused only after the next submit, which runs the pick first.
    hist.dispose();
  }
  return state;
}

/** The [1] tensor of the value at weight w in [0, 1) between the two selected ranks; NaN if x held a NaN. */
function finish(state: Tensor, w: number, what: string): Tensor {
  const rt = state.rt;
  const out = rt.empty([1], 'select');
  rt.dispatch({ family: 'select', entry: 'finish', params: new Params().f32(w, 0, 0, 0), inputs: [state], outputs: [out], workgroups: [1], what });
  return out;
}

/** The values at ascending ranks r0 <= r1 (0-based) of all elements of `x` by radix selection; null on NaN. */
async function gpuSelect(x: Tensor, r0: number, r1: number, what: string): Promise<[number, number] | null> {
  const state = radixSelect(x, r0, r1, what);
  const words = new Uint32Array((await state.read()).buffer);
  state.dispose();
  if (words[4]! !== 0) return null;
  return [keyToFloat(words[0]!), keyToFloat(words[1]!)];
}

/**
 * Reorders `a` so a[k] holds the value of ascending rank k, with no larger value before it and no smaller one
 * after it (Hoare quickselect with median-of-three pivots).
 */
function quickselect(a: Float32Array, k: number): void {
  let lo = 0;
  let hi = a.length - 1;
  for (let round = 0; lo < hi; round++) {
    if (round === MAX_ROUNDS) {
      a.subarray(lo, hi + 1).sort();
      return;
    }
    const [p, q, r] = [a[lo]!, a[(lo + hi) >>> 1]!, a[hi]!];
    const pivot = Math.max(Math.min(p, q), Math.min(Math.max(p, q), r));
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** x's values on the CPU with a[k] at ascending rank k (see quickselect), or null when x holds a NaN. */
async function cpuSelect(x: Tensor, k: number): Promise<Float32Array | null> {
  const a = await x.read();
  for (let i = 0; i < a.length; i++) if (a[i] !== a[i]) return null;
  quickselect(a, k);
  return a;
}

function useGpu(x: Tensor, opts: SelectOptions): boolean {
  return (opts.method ?? (x.rt.gpu.adapter.isFallbackAdapter ? 'cpu' : 'gpu')) === 'gpu';
}

function assertSelectable(x: Tensor, op: string, opts: SelectOptions): void {
  x.assertAlive(op);
  if (x.size === 0) throw new Error(`texad: ${op}: x${formatShape(x.shape)} is empty`);
  if (x.size > 0xffffffff) throw new Error(`texad: ${op}: x${formatShape(x.shape)} has over 2^32 elements; split it`);
  if (opts.method !== undefined && opts.method !== 'gpu' && opts.method !== 'cpu') {
    throw new Error(`texad: ${op}: method must be 'gpu' or 'cpu', got '${String(opts.method)}'`);
  }
}

/** torch.quantile's linear interpolation of n sorted values: ranks lo and hi = lo + 1 (clamped) and the weight of hi. */
function interpolationRanks(n: number, q: number, what: string): { lo: number; hi: number; w: number } {
  if (!(q >= 0 && q <= 1)) throw new Error(`texad: ${what}: q must be in [0, 1]`);
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  return { lo, hi: Math.min(lo + 1, n - 1), w: pos - lo };
}

/**
 * The q-quantile of all elements of x with torch.quantile's default linear interpolation: sorted values v,
 * position q (n - 1), result v[lo] + (pos - lo) (v[lo + 1] - v[lo]) in float64 with torch.lerp's formula.
 * NaN if x holds a NaN, like torch.quantile; unlike it, an integral position returns that element even when
 * it is infinite (torch gives NaN there).
 */
export async function quantile(x: Tensor, q: number, opts: SelectOptions = {}): Promise<number> {
  assertSelectable(x, 'quantile', opts);
  const what = `quantile x${formatShape(x.shape)} q ${q}`;
  const { lo, hi, w } = interpolationRanks(x.size, q, what);
  const n = x.size;
  let a: number;
  let b: number;
  if (useGpu(x, opts)) {
    const values = await gpuSelect(x, lo, hi, what);
    if (!values) return NaN;
    [a, b] = values;
  } else {
    const values = await cpuSelect(x, lo);
    if (!values) return NaN;
    a = values[lo]!;
    // Rank lo + 1 is the smallest value after position lo.
    b = a;
    if (hi > lo) {
      b = values[hi]!;
      for (let i = hi + 1; i < n; i++) if (values[i]! < b) b = values[i]!;
    }
  }
  if (w === 0) return a;
  // torch.lerp's two-sided formula, so results match torch.quantile to the last bit.
  return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w);
}

/**
 * Mean of the k largest elements of x (MSFlow's image score: the top 3% of a map); NaN if x holds a NaN.
 * The CPU method sums them in float64; the GPU method, with t the k-th largest value, computes
 * t + sum(max(x - t, 0)) / k, which needs no care for ties at t.
 */
export async function topKMean(x: Tensor, k: number, opts: SelectOptions = {}): Promise<number> {
  assertSelectable(x, 'topKMean', opts);
  const n = x.size;
  const what = `topKMean x${formatShape(x.shape)} k ${k}`;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`texad: ${what}: k must be an integer in 1..${n}`);
  if (!useGpu(x, opts)) {
    const values = await cpuSelect(x, n - k);
    if (!values) return NaN;
    let s = 0;
    for (let i = n - k; i < n; i++) s += values[i]!;
    return s / k;
  }
  const rt = x.rt;
  // One readback: the k-th largest value t, the excess over it and the mean all stay on the device.
  const mean = await rt.tidyAsync(() => rt.noGrad(() => {
    const t = finish(radixSelect(x, n - k, n - k, what), 0, what);
    return add(t, affine(sum(relu(sub(x, t))), 1 / k)).read();
  }));
  return mean[0]!;
}

/**
 * The q-quantile of all elements of x as a [1] tensor, computed on the device with nothing read back: the same
 * exact radix selection as quantile(x, q, { method: 'gpu' }), interpolated in f32 with torch.lerp's formula, as
 * torch.quantile does on float32 tensors (quantile() interpolates in float64: the two can differ in the last bit).
 * NaN if x holds a NaN. For thresholds used by later kernels in the same step (EfficientAD's hard-feature mask),
 * where a readback would stall the queue; no gradient flows through it.
 */
export function quantileTensor(x: Tensor, q: number): Tensor {
  assertSelectable(x, 'quantileTensor', {});
  const what = `quantileTensor x${formatShape(x.shape)} q ${q}`;
  const { lo, hi, w } = interpolationRanks(x.size, q, what);
  const state = radixSelect(x, lo, hi, what);
  const out = finish(state, w, what);
  state.dispose();
  return out;
}
