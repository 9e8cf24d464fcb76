// Counter-based random numbers on the GPU (shaders/random.wgsl) and their CPU twin. A draw is a pure function
// of (key, stream, element index), so it is reproducible across runs, runtimes and workgroup sizes; each call
// on a GpuRng consumes the next stream number.
import { Params, type BufferRange, type Runtime } from '../runtime/runtime.ts';
import { formatShape, type Shape, type Tensor } from '../runtime/tensor.ts';

const WG = 256;
const DIST = { uniform: 0, normal: 1, mask: 2 } as const;
/** 2^-24: the spacing of the 24-bit uniforms. */
const ULP24 = 5.9604644775390625e-8;
const PI_F32 = Math.fround(Math.PI);

/** The 64-bit Philox key as two u32 words (low, high). */
export type RngKey = readonly [number, number];

// ---- CPU twin of the generator ------------------------------------------------------------------------

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const cross = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (cross >>> 16)) >>> 0;
}

/** Philox4x32-10 of one 128-bit counter under a 64-bit key (the same function as the shader's `philox`). */
export function philox4x32(counter: readonly [number, number, number, number], key: RngKey): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0) as [number, number, number, number];
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const n0 = (mulhi(M1, c2) ^ c1 ^ k0) >>> 0;
    const n1 = Math.imul(M1, c2) >>> 0;
    const n2 = (mulhi(M0, c0) ^ c3 ^ k1) >>> 0;
    const n3 = Math.imul(M0, c0) >>> 0;
    [c0, c1, c2, c3] = [n0, n1, n2, n3];
  }
  return [c0, c1, c2, c3];
}

/** Splits a seed (integer in [0, 2^53)) into a Philox key; keys pass through unchanged. */
export function rngKey(seed: number | RngKey): RngKey {
  if (typeof seed !== 'number') {
    if (seed.length !== 2 || !seed.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
      throw new Error(`texad: GpuRng key must be two u32 words, got [${seed.join(', ')}]`);
    }
    return [seed[0], seed[1]];
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`texad: GpuRng seed must be an integer in [0, 2^53), got ${seed}`);
  }
  return [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
}

function checkStream(stream: number): void {
  if (!Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) {
    throw new Error(`texad: GpuRng stream must be a u32, got ${stream}`);
  }
}

/** The raw 32-bit words of elements [0, n) of (seed, stream). */
function cpuWords(seed: number | RngKey, stream: number, n: number): Uint32Array {
  const key = rngKey(seed);
  checkStream(stream);
  const out = new Uint32Array(Math.ceil(n / 4) * 4);
  for (let b = 0; b < out.length / 4; b++) out.set(philox4x32([b, stream, 0, 0], key), b * 4);
  return out;
}

/** CPU twin of GpuRng.uniform for elements [0, n) of (seed, stream): bit-identical to the GPU for [0, 1). */
export function cpuUniform(seed: number | RngKey, stream: number, n: number, lo = 0, hi = 1): Float32Array {
  const w = cpuWords(seed, stream, n);
  // The shader's f32 steps: a + (b - a) * u with a and b rounded to f32.
  const a = Math.fround(lo);
  const span = Math.fround(Math.fround(hi) - a);
  return Float32Array.from({ length: n }, (_, i) => a + Math.fround(span * ((w[i]! >>> 8) * ULP24)));
}

/** CPU twin of GpuRng.normal (Box-Muller in f64; the GPU's f32 log/sin/cos differ by a few ulp). */
export function cpuNormal(seed: number | RngKey, stream: number, n: number, mean = 0, std = 1): Float32Array {
  const w = cpuWords(seed, stream, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = ((w[i]! >>> 8) + 1) * ULP24;
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = Math.fround(PI_F32 * (2 * (w[i + 1]! >>> 8) * ULP24 - 1));
    out[i] = mean + std * r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(theta);
  }
  return out;
}

// ---- GPU generator ------------------------------------------------------------------------------------

function checkProbability(p: number, what: string): void {
  if (!(p >= 0 && p <= 1)) throw new Error(`texad: ${what}: p must be in [0, 1], got ${p}`);
}

/** Dropout mask parameters: survive when the top 24 bits reach ceil(p 2^24), which is exactly u >= p. */
function maskParams(p: number): { threshold: number; scale: number } {
  return { threshold: Math.ceil(p * 2 ** 24), scale: p === 1 ? 0 : 1 / (1 - p) };
}

interface Draw {
  entry: 'draw' | 'dropout';
  dist?: number;
  key: RngKey;
  stream: number;
  threshold?: number;
  a: number;
  b: number;
  what: string;
}

/**
 * Runs a random kernel over `out` (and `input` for dropout) in chunks that each fit one storage binding. Chunks
 * start at multiples of 64 elements (256-byte binding alignment), which keeps Philox blocks whole; each chunk
 * passes its first element index so the counters continue across chunks.
 */
function runDraw(rt: Runtime, d: Draw, out: Tensor, input?: Tensor): void {
  const n = out.size;
  const chunk = Math.floor(rt.limits.maxStorageBufferBindingSize / 4 / 64) * 64;
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const range = (t: Tensor): BufferRange => ({ buffer: t.buffer, offset: start * 4, size: count * 4 });
    rt.dispatch({
      family: 'random',
      entry: d.entry,
      spec: d.dist === undefined ? { WG } : { WG, DIST: d.dist },
      params: new Params().u32(count, start, d.key[0], d.key[1], d.stream, d.threshold ?? 0).f32(d.a, d.b),
      inputs: input ? [range(input)] : [],
      outputs: [range(out)],
      workgroups: rt.grid(Math.ceil(count / 4), WG),
      what: d.what,
    });
  }
}

/**
 * A seeded stream of GPU random tensors. Every call (uniform, normal, dropoutMask, dropout, fork) consumes the
 * next stream number, so a program that makes the same calls in the same order gets the same numbers.
 */
export class GpuRng {
  readonly key: RngKey;
  private next = 0;

  constructor(readonly rt: Runtime, seed: number | RngKey) {
    this.key = rngKey(seed);
  }

  /** The stream number the next call will use (element i of that call = cpuUniform(key, stream, ...)[i]). */
  get stream(): number {
    return this.next;
  }

  /** Reserves the next stream number. */
  takeStream(): number {
    if (this.next > 0xffffffff) throw new Error('texad: GpuRng exhausted its 2^32 streams; fork() a new generator');
    return this.next++;
  }

  /** Uniform floats in [lo, hi) (24 random bits each). */
  uniform(shape: Shape, lo = 0, hi = 1): Tensor {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo <= hi)) {
      throw new Error(`texad: GpuRng.uniform ${formatShape(shape)}: need finite lo <= hi, got [${lo}, ${hi})`);
    }
    return this.draw(shape, DIST.uniform, lo, hi, `GpuRng.uniform ${formatShape(shape)}`);
  }

  /** Normal floats N(mean, std^2) by Box-Muller. */
  normal(shape: Shape, mean = 0, std = 1): Tensor {
    if (!Number.isFinite(mean) || !(std >= 0 && Number.isFinite(std))) {
      throw new Error(`texad: GpuRng.normal ${formatShape(shape)}: need a finite mean and std >= 0, got mean ${mean}, std ${std}`);
    }
    return this.draw(shape, DIST.normal, mean, std, `GpuRng.normal ${formatShape(shape)}`);
  }

  /** Dropout mask: each element 0 with probability p, else 1/(1-p) (all 0 when p = 1, like PyTorch). */
  dropoutMask(shape: Shape, p: number): Tensor {
    const what = `GpuRng.dropoutMask ${formatShape(shape)}`;
    checkProbability(p, what);
    const { threshold, scale } = maskParams(p);
    const y = this.rt.empty(shape, 'dropoutMask');
    runDraw(this.rt, { entry: 'draw', dist: DIST.mask, key: this.key, stream: this.takeStream(), threshold, a: scale, b: 0, what }, y);
    return y;
  }

  /** An independent generator whose 64-bit key is drawn from this one (a reserved counter domain). */
  fork(): GpuRng {
    const [k0, k1] = philox4x32([0, this.takeStream(), 1, 0], this.key);
    return new GpuRng(this.rt, [k0, k1]);
  }

  private draw(shape: Shape, dist: number, a: number, b: number, what: string): Tensor {
    const y = this.rt.empty(shape, 'random');
    runDraw(this.rt, { entry: 'draw', dist, key: this.key, stream: this.takeStream(), a, b, what }, y);
    return y;
  }
}

/**
 * Inverted dropout (torch.nn.functional.dropout in training mode): zeroes each element with probability p and
 * scales the rest by 1/(1-p). The mask is regenerated from its Philox stream in backward, never stored.
 */
export function dropout(x: Tensor, p: number, rng: GpuRng): Tensor {
  const what = `dropout x${formatShape(x.shape)} p=${p}`;
  x.assertAlive('dropout');
  checkProbability(p, what);
  if (rng.rt !== x.rt) throw new Error(`texad: ${what}: the GpuRng belongs to another runtime`);
  const rt = x.rt;
  const { threshold, scale } = maskParams(p);
  const d: Draw = { entry: 'dropout', key: rng.key, stream: rng.takeStream(), threshold, a: scale, b: 0, what };
  const y = rt.empty(x.shape, 'dropout');
  runDraw(rt, d, y, x);
  return rt.record(y, 'dropout', [x], (g) => {
    const gx = rt.empty(x.shape, 'dropout grad');
    runDraw(rt, { ...d, what: `${what} backward` }, gx, g);
    return [gx];
  });
}
