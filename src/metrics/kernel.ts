// Loads the AssemblyScript metric kernels (assembly/, embedded as base64 by tools/embed.mjs) and lays out their
// buffers. Every accumulator owns one instance, so its linear memory is released with it.
import { WASM_BASE64 } from '../generated/wasm.ts';

export interface MetricsExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  keysF32(ptr: number, n: number): number;
  keysF64(ptr: number, n: number): number;
  firstNonFiniteF64(ptr: number, n: number): number;
  f64FitsF32(ptr: number, n: number): number;
  demoteF64(ptr: number, n: number): void;
  promoteF32(ptr: number, n: number): void;
  firstBadLabel(ptr: number, n: number): number;
  anyNonZero(ptr: number, n: number): number;
  chunkNegatives(): number;
  chunkPositives(): number;
  chunkReset(): void;
  splitLabels32(keys: number, labels: number, n: number, base: number, cap: number): void;
  splitLabels64(keys: number, labels: number, n: number, base: number, cap: number): void;
  splitSizes32(keys: number, sizes: number, n: number, base: number, pay: number, cap: number): void;
  splitSizes64(keys: number, sizes: number, n: number, base: number, pay: number, cap: number): void;
  appendNegatives(keys: number, n: number, base: number, keyBytes: number): void;
  sort32(keys: number, pay: number, tmp: number, tmpPay: number, n: number): void;
  sort64(keys: number, pay: number, tmp: number, tmpPay: number, n: number): void;
  runs32(keys: number, n: number, cnt: number): number;
  runs64(keys: number, n: number, cnt: number): number;
  proRuns32(keys: number, sizes: number, n: number, cnt: number, whole: number, hi: number, lo: number): number;
  proRuns64(keys: number, sizes: number, n: number, cnt: number, whole: number, hi: number, lo: number): number;
  regionSizes(mask: number, h: number, w: number, out: number, parent: number, count: number): number;
  walkBegin(negatives: number, positives: number, regions: number): void;
  walk16(prefix: number, negSuf: number, negCnt: number, nNeg: number, posSuf: number, posCnt: number,
    posWhole: number, posHi: number, posLo: number, nPos: number): void;
  walk48(prefix: number, negSuf: number, negCnt: number, nNeg: number, posSuf: number, posCnt: number,
    posWhole: number, posHi: number, posLo: number, nPos: number): void;
  walk32(negKeys: number, negCnt: number, nNeg: number, posKeys: number, posCnt: number,
    posWhole: number, posHi: number, posLo: number, nPos: number): void;
  walk64(negKeys: number, negCnt: number, nNeg: number, posKeys: number, posCnt: number,
    posWhole: number, posHi: number, posLo: number, nPos: number): void;
  walkULo(): bigint;
  walkUHi(): bigint;
  walkAp(): number;
  walkF1(): number;
  walkF1KeyLo(): number;
  walkF1KeyHi(): number;
  walkProArea(): number;
}

let compiled: WebAssembly.Module | undefined;

function wasmBytes(): Uint8Array {
  const b64 = WASM_BASE64['metrics'];
  if (b64 === undefined) {
    throw new Error('texad metrics: the wasm kernels are not embedded; run `npm run asbuild && npm run embed`');
  }
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/**
 * Compiles the metric kernels asynchronously. Optional in Node and Deno (first use compiles synchronously);
 * call it once in browsers, whose main thread refuses synchronous compilation of modules this size.
 */
export async function initMetrics(): Promise<void> {
  compiled ??= await WebAssembly.compile(wasmBytes() as Uint8Array<ArrayBuffer>);
}

const PAGE = 65536;
const MAX_BYTES = 65536 * PAGE; // wasm32: 4 GiB

export interface Layout {
  keyBits: 32 | 64;
  pixel: boolean;
  /** Scores per chunk (sorted together). */
  cap: number;
  /** Scores staged per call into the kernels. */
  stage: number;
  /** Staged scores, 8 bytes each (f32 or f64). */
  F: number;
  /** Staged labels or mask, 1 byte each. */
  M: number;
  /** Region size per staged pixel (pixel mode). */
  Z: number;
  /** Chunk keys, cap + 1 slots. */
  K: number;
  /** Chunk payload (region sizes of positives), cap + 1 u32 slots (pixel mode). */
  P: number;
  /** Sort scratch keys, cap slots; then run counts. */
  T: number;
  /** Sort scratch payload, cap u32 (pixel mode); labelling scratch. */
  U: number;
  /** Whole-region counts of runs, cap u32 (pixel mode); labelling scratch. */
  X: number;
}

function align(n: number, to = 64): number {
  return Math.ceil(n / to) * to;
}

export class Kernel {
  readonly x: MetricsExports;
  readonly base: number;
  layout: Layout | undefined;

  constructor() {
    compiled ??= new WebAssembly.Module(wasmBytes() as Uint8Array<ArrayBuffer>);
    this.x = new WebAssembly.Instance(compiled, {}).exports as unknown as MetricsExports;
    this.base = align(this.x.heapBase() >>> 0);
  }

  /** Linear memory size in bytes. */
  get bytes(): number {
    return this.x.memory.buffer.byteLength;
  }

  /** Forgets the layout and any chunk contents, for reuse by another accumulator. */
  reset(): void {
    this.layout = undefined;
    this.x.chunkReset();
  }

  /** Lays out the chunk buffers. Only valid while the chunk is empty: pointers move. */
  configure(keyBits: 32 | 64, pixel: boolean, cap: number, stage: number): Layout {
    const kw = keyBits / 8;
    let p = this.base;
    const take = (bytes: number): number => {
      const at = p;
      p = align(p + bytes);
      return at;
    };
    const F = take(8 * stage);
    const M = take(stage);
    const Z = pixel ? take(4 * stage) : 0;
    const K = take(kw * (cap + 1));
    const P = pixel ? take(4 * (cap + 1)) : 0;
    const T = take(kw * cap);
    const U = pixel ? take(4 * cap) : 0;
    const X = pixel ? take(4 * cap) : 0;
    this.reserve(p);
    this.layout = { keyBits, pixel, cap, stage, F, M, Z, K, P, T, U, X };
    return this.layout;
  }

  /** Grows linear memory to at least `end` bytes. */
  reserve(end: number): void {
    if (end > MAX_BYTES) {
      throw new Error(
        `texad metrics: buffers need ${(end / 2 ** 30).toFixed(2)} GiB of wasm memory (4 GiB at most); ` +
          'use a smaller chunkSize',
      );
    }
    const have = this.x.memory.buffer.byteLength;
    if (end > have) this.x.memory.grow(Math.ceil((end - have) / PAGE));
  }

  // Views are made per use: growing memory detaches earlier ones.
  u8(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.x.memory.buffer, ptr, n);
  }
  u32(ptr: number, n: number): Uint32Array {
    return new Uint32Array(this.x.memory.buffer, ptr, n);
  }
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.x.memory.buffer, ptr, n);
  }
  f64(ptr: number, n: number): Float64Array {
    return new Float64Array(this.x.memory.buffer, ptr, n);
  }
}
