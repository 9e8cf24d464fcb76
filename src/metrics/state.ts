// The exact, mergeable summary behind every metric: for each distinct score, how many negatives and positives have
// it (and, for pixel metrics, how much per-region-overlap mass its positives carry). Scores are held as
// order-preserving integer keys (assembly/keys.ts), split into 65536 partitions by their top 16 bits; a partition
// keeps the remaining bits ("suffixes") and the counts as ascending columnar runs in ordinary JS typed arrays, so
// the state is bounded by host memory, not by wasm32's 4 GiB. Memory grows with the number of distinct scores,
// never with the number of scores.
//
// Invariant: run arrays are never written after construction (merges build new ones), so states may share them.
import type { Kernel } from './kernel.ts';

export type Kind = 'image' | 'pixel';
export type KeyBits = 32 | 64;
/** 32-bit keys keep their low 16 bits (u16); 64-bit keys their low 48 bits as exact integers in f64. */
export type Suffixes = Uint16Array | Float64Array;

export interface Runs {
  suf: Suffixes;
  cnt: Uint32Array;
  /** Per-region-overlap mass as 32.64 fixed point: whole regions, then the high and low 32 fraction bits. */
  whole?: Uint32Array;
  hi?: Uint32Array;
  lo?: Uint32Array;
}

export const PARTITIONS = 65536;
const U32 = 4294967296;

export class RunState {
  readonly neg: (Runs | undefined)[] = new Array<Runs | undefined>(PARTITIONS);
  readonly pos: (Runs | undefined)[] = new Array<Runs | undefined>(PARTITIONS);
  negatives = 0;
  positives = 0;
  regions = 0;

  constructor(
    readonly kind: Kind,
    public keyBits: KeyBits,
  ) {}

  get pro(): boolean {
    return this.kind === 'pixel';
  }

  /**
   * Adds `n` ascending chunk runs read from kernel memory: `keys` holds u32 keys, or u64 keys as (low, high) u32
   * pairs. Counts and mass columns are copied, so the kernel buffers are free again afterwards.
   */
  ingest(positive: boolean, keys: Uint32Array, n: number, cnt: Uint32Array, mass?: [Uint32Array, Uint32Array, Uint32Array]): void {
    const table = positive ? this.pos : this.neg;
    const wide = this.keyBits === 64;
    let a = 0;
    while (a < n) {
      const prefix = wide ? keys[2 * a + 1]! >>> 16 : keys[a]! >>> 16;
      // Keys are sorted, so the prefix's runs end where the next prefix starts.
      let lo = a + 1;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((wide ? keys[2 * mid + 1]! >>> 16 : keys[mid]! >>> 16) === prefix) lo = mid + 1;
        else hi = mid;
      }
      const b = lo;
      let suf: Suffixes;
      if (wide) {
        const s = new Float64Array(b - a);
        for (let i = a; i < b; i++) s[i - a] = (keys[2 * i + 1]! & 0xffff) * U32 + keys[2 * i]!;
        suf = s;
      } else {
        const s = new Uint16Array(b - a);
        for (let i = a; i < b; i++) s[i - a] = keys[i]! & 0xffff;
        suf = s;
      }
      const runs: Runs = { suf, cnt: cnt.slice(a, b) };
      if (mass) {
        runs.whole = mass[0].slice(a, b);
        runs.hi = mass[1].slice(a, b);
        runs.lo = mass[2].slice(a, b);
      }
      const old = table[prefix];
      table[prefix] = old ? mergeRuns(old, runs) : runs;
      a = b;
    }
  }

  /** Adds another state of the same kind into this one. */
  merge(other: RunState): void {
    if (other.kind !== this.kind) {
      throw new Error(`cannot merge ${other.kind} metrics into ${this.kind} metrics`);
    }
    if (this.keyBits !== other.keyBits) {
      if (this.keyBits === 32) this.widen();
      else other = other.widened();
    }
    for (let p = 0; p < PARTITIONS; p++) {
      const on = other.neg[p];
      if (on) this.neg[p] = this.neg[p] ? mergeRuns(this.neg[p]!, on) : on;
      const op = other.pos[p];
      if (op) this.pos[p] = this.pos[p] ? mergeRuns(this.pos[p]!, op) : op;
    }
    this.negatives += other.negatives;
    this.positives += other.positives;
    this.regions += other.regions;
    this.checkTotals();
  }

  /** Totals are JS numbers: exact up to 2^53 (9e15), refused beyond rather than rounded. */
  checkTotals(): void {
    if (![this.negatives, this.positives, this.regions].every(Number.isSafeInteger)) {
      throw new Error('more than 2^53 scores of one class: counts would stop being exact; evaluate in parts');
    }
  }

  /** Re-keys a 32-bit state as 64-bit (float32 scores as the float64 values they are exactly). */
  widen(): void {
    if (this.keyBits === 64) return;
    const w = this.widened();
    for (let p = 0; p < PARTITIONS; p++) {
      this.neg[p] = w.neg[p];
      this.pos[p] = w.pos[p];
    }
    this.keyBits = 64;
  }

  private widened(): RunState {
    const out = new RunState(this.kind, 64);
    out.negatives = this.negatives;
    out.positives = this.positives;
    out.regions = this.regions;
    for (const positive of [false, true]) {
      const src = positive ? this.pos : this.neg;
      // float32 -> float64 is monotone, so the 32-bit runs of all partitions, in order, are ascending 64-bit keys.
      let n = 0;
      for (let p = 0; p < PARTITIONS; p++) n += src[p]?.suf.length ?? 0;
      const pairs = new Uint32Array(2 * n);
      const cnt = new Uint32Array(n);
      const mass = this.pro && positive ? [new Uint32Array(n), new Uint32Array(n), new Uint32Array(n)] as const : undefined;
      let m = 0;
      for (let p = 0; p < PARTITIONS; p++) {
        const r = src[p];
        if (!r) continue;
        cnt.set(r.cnt, m);
        if (mass) {
          mass[0].set(r.whole!, m);
          mass[1].set(r.hi!, m);
          mass[2].set(r.lo!, m);
        }
        for (let i = 0; i < r.suf.length; i++, m++) {
          const [lo, hi] = widenKey(((p << 16) | r.suf[i]!) >>> 0);
          pairs[2 * m] = lo;
          pairs[2 * m + 1] = hi;
        }
      }
      out.ingest(positive, pairs, n, cnt, mass && [mass[0], mass[1], mass[2]]);
    }
    return out;
  }

  /** Score value of a full key given as 32-bit halves. */
  keyScore(lo: number, hi: number): number {
    return this.keyBits === 32 ? unflip32(lo) : unflip64(hi, lo);
  }

  /** Runs the metric sweep over all partitions, highest scores first. */
  sweep(k: Kernel): void {
    const x = k.x;
    const wide = this.keyBits === 64;
    const sw = wide ? 8 : 2;
    let maxNeg = 0;
    let maxPos = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      maxNeg = Math.max(maxNeg, this.neg[p]?.suf.length ?? 0);
      maxPos = Math.max(maxPos, this.pos[p]?.suf.length ?? 0);
    }
    // The chunk is empty while sweeping, so its memory is reused from the base.
    const a = (n: number): number => Math.ceil(n / 8) * 8;
    const negSuf = k.base;
    const negCnt = negSuf + a(sw * maxNeg);
    const posSuf = negCnt + a(4 * maxNeg);
    const posCnt = posSuf + a(sw * maxPos);
    const posWhole = posCnt + a(4 * maxPos);
    const posHi = posWhole + a(4 * maxPos);
    const posLo = posHi + a(4 * maxPos);
    k.reserve(posLo + a(4 * maxPos));
    // Whole-memory views, made once: per-partition views would cost more than the copies.
    const mem = x.memory.buffer;
    const u16 = new Uint16Array(mem);
    const u32 = new Uint32Array(mem);
    const f64 = new Float64Array(mem);
    const suffixes = (dst: number, src: Suffixes): void => {
      if (src instanceof Float64Array) f64.set(src, dst / 8);
      else u16.set(src, dst / 2);
    };
    x.walkBegin(this.negatives, this.positives, this.pro ? this.regions : 0);
    const walk = wide ? x.walk48 : x.walk16;
    for (let p = PARTITIONS - 1; p >= 0; p--) {
      const n = this.neg[p];
      const q = this.pos[p];
      if (!n && !q) continue;
      if (n) {
        suffixes(negSuf, n.suf);
        u32.set(n.cnt, negCnt / 4);
      }
      if (q) {
        suffixes(posSuf, q.suf);
        u32.set(q.cnt, posCnt / 4);
        if (this.pro) {
          u32.set(q.whole!, posWhole / 4);
          u32.set(q.hi!, posHi / 4);
          u32.set(q.lo!, posLo / 4);
        }
      }
      walk(p, negSuf, negCnt, n ? n.suf.length : 0, posSuf, posCnt, this.pro ? posWhole : 0, posHi, posLo, q ? q.suf.length : 0);
    }
  }
}

/**
 * Merges two ascending run lists into a new one. Equal keys combine unless their count would leave u32; then both
 * runs stay, one after the other, and every reader sums runs with equal keys.
 */
export function mergeRuns(a: Runs, b: Runs): Runs {
  const na = a.suf.length;
  const nb = b.suf.length;
  const cap = na + nb;
  const suf = a.suf instanceof Float64Array ? new Float64Array(cap) : new Uint16Array(cap);
  const cnt = new Uint32Array(cap);
  const pro = a.whole !== undefined;
  const whole = pro ? new Uint32Array(cap) : undefined;
  const hi = pro ? new Uint32Array(cap) : undefined;
  const lo = pro ? new Uint32Array(cap) : undefined;
  let i = 0;
  let j = 0;
  let m = 0;
  const take = (r: Runs, k: number): void => {
    suf[m] = r.suf[k]!;
    cnt[m] = r.cnt[k]!;
    if (pro) {
      whole![m] = r.whole![k]!;
      hi![m] = r.hi![k]!;
      lo![m] = r.lo![k]!;
    }
    m++;
  };
  while (i < na && j < nb) {
    const sa = a.suf[i]!;
    const sb = b.suf[j]!;
    if (sa < sb) take(a, i++);
    else if (sb < sa) take(b, j++);
    else {
      const c = a.cnt[i]! + b.cnt[j]!;
      if (c >= U32) {
        take(a, i++);
        continue;
      }
      suf[m] = sa;
      cnt[m] = c;
      if (pro) {
        // Whole regions never exceed the pixel count, so they fit u32 whenever the count does.
        const l = a.lo![i]! + b.lo![j]!;
        const h = a.hi![i]! + b.hi![j]! + (l >= U32 ? 1 : 0);
        lo![m] = l;
        hi![m] = h;
        whole![m] = a.whole![i]! + b.whole![j]! + (h >= U32 ? 1 : 0);
      }
      m++;
      i++;
      j++;
    }
  }
  while (i < na) take(a, i++);
  while (j < nb) take(b, j++);
  if (m === cap) return { suf, cnt, whole, hi, lo };
  return {
    suf: suf.slice(0, m),
    cnt: cnt.slice(0, m),
    whole: whole?.slice(0, m),
    hi: hi?.slice(0, m),
    lo: lo?.slice(0, m),
  };
}

const f32 = new Float32Array(1);
const u32of32 = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const u32of64 = new Uint32Array(f64.buffer);

function unflip32(key: number): number {
  u32of32[0] = key & 0x80000000 ? key ^ 0x80000000 : ~key;
  return f32[0]!;
}

function unflip64(hi: number, lo: number): number {
  if (hi & 0x80000000) {
    u32of64[1] = hi ^ 0x80000000;
    u32of64[0] = lo;
  } else {
    u32of64[1] = ~hi;
    u32of64[0] = ~lo;
  }
  return f64[0]!;
}

/** 64-bit key (low, high words) of the float64 equal to the float32 with 32-bit key `key`. */
function widenKey(key: number): [number, number] {
  f64[0] = unflip32(key);
  const hi = u32of64[1]!;
  const lo = u32of64[0]!;
  return hi & 0x80000000 ? [~lo >>> 0, ~hi >>> 0] : [lo, (hi | 0x80000000) >>> 0];
}

// ---- Serialised form (little-endian):
//   0  "TXMS"            4  u32 version (1)     8  u32 kind (0 image, 1 pixel)    12 u32 key bits (32 | 64)
//   16 f64 negatives     24 f64 positives       32 f64 regions                    40 u32 partitions   44 u32 0
//   then per non-empty partition, ascending: u32 prefix, u32 negative runs, u32 positive runs, u32 0, followed by
//   the columns negative suffixes, negative counts, positive suffixes, positive counts and (pixel) whole, fraction
//   high, fraction low; every column starts 8-byte aligned. Suffixes are u16 (32-bit keys) or f64 (64-bit keys).

const MAGIC = 0x534d5854; // "TXMS"
const VERSION = 1;
const HEADER = 48;

function pad8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export function serializeState(s: RunState): Uint8Array {
  const sw = s.keyBits === 64 ? 8 : 2;
  const proCols = s.pro ? 3 : 0;
  let size = HEADER;
  let parts = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const nn = s.neg[p]?.suf.length ?? 0;
    const np = s.pos[p]?.suf.length ?? 0;
    if (nn + np === 0) continue;
    parts++;
    size += 16 + pad8(sw * nn) + pad8(4 * nn) + pad8(sw * np) + (1 + proCols) * pad8(4 * np);
  }
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, VERSION, true);
  dv.setUint32(8, s.kind === 'pixel' ? 1 : 0, true);
  dv.setUint32(12, s.keyBits, true);
  dv.setFloat64(16, s.negatives, true);
  dv.setFloat64(24, s.positives, true);
  dv.setFloat64(32, s.regions, true);
  dv.setUint32(40, parts, true);
  let o = HEADER;
  const put = (a: Uint16Array | Uint32Array | Float64Array): void => {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += pad8(a.byteLength);
  };
  for (let p = 0; p < PARTITIONS; p++) {
    const n = s.neg[p];
    const q = s.pos[p];
    if (!n && !q) continue;
    dv.setUint32(o, p, true);
    dv.setUint32(o + 4, n?.suf.length ?? 0, true);
    dv.setUint32(o + 8, q?.suf.length ?? 0, true);
    o += 16;
    if (n) {
      put(n.suf);
      put(n.cnt);
    }
    if (q) {
      put(q.suf);
      put(q.cnt);
      if (s.pro) {
        put(q.whole!);
        put(q.hi!);
        put(q.lo!);
      }
    }
  }
  assertLittleEndian();
  return out;
}

export function deserializeState(bytes: Uint8Array): RunState {
  assertLittleEndian();
  const bad = (why: string): Error => new Error(`not a texad metrics state: ${why}`);
  if (bytes.length < HEADER) throw bad(`${bytes.length} bytes is shorter than the header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw bad('it does not start with "TXMS"');
  const version = dv.getUint32(4, true);
  if (version !== VERSION) throw bad(`format version ${version}; this texad reads version ${VERSION}`);
  const kindCode = dv.getUint32(8, true);
  const keyBits = dv.getUint32(12, true);
  if (kindCode > 1) throw bad(`unknown kind ${kindCode}`);
  if (keyBits !== 32 && keyBits !== 64) throw bad(`key width ${keyBits}`);
  const s = new RunState(kindCode === 1 ? 'pixel' : 'image', keyBits);
  s.negatives = dv.getFloat64(16, true);
  s.positives = dv.getFloat64(24, true);
  s.regions = dv.getFloat64(32, true);
  for (const t of [s.negatives, s.positives, s.regions]) {
    if (!Number.isSafeInteger(t) || t < 0) throw bad(`total ${t} is not a count`);
  }
  const parts = dv.getUint32(40, true);
  let o = HEADER;
  const column = <T>(n: number, width: number, make: (b: ArrayBuffer) => T): T => {
    const len = n * width;
    if (o + len > bytes.length) throw bad('it is truncated');
    // A copy, aligned for its element type (Node Buffers' slice() would return a view).
    const copy = new Uint8Array(len);
    copy.set(bytes.subarray(o, o + len));
    o += pad8(len);
    return make(copy.buffer);
  };
  const suffixes = (n: number): Suffixes =>
    keyBits === 64 ? column(n, 8, (b) => new Float64Array(b)) : column(n, 2, (b) => new Uint16Array(b));
  const u32 = (n: number): Uint32Array => column(n, 4, (b) => new Uint32Array(b));
  let last = -1;
  const sums = [0, 0];
  for (let k = 0; k < parts; k++) {
    if (o + 16 > bytes.length) throw bad('it is truncated');
    const p = dv.getUint32(o, true);
    const nn = dv.getUint32(o + 4, true);
    const np = dv.getUint32(o + 8, true);
    o += 16;
    if (p <= last || p >= PARTITIONS) throw bad(`partition ${p} is out of order or range`);
    last = p;
    for (const positive of [false, true]) {
      const n = positive ? np : nn;
      if (n === 0) continue;
      const r: Runs = { suf: suffixes(n), cnt: u32(n) };
      if (positive && s.pro) {
        r.whole = u32(n);
        r.hi = u32(n);
        r.lo = u32(n);
      }
      for (let i = 0; i < n; i++) {
        const v = r.suf[i]!;
        if (i > 0 && v < r.suf[i - 1]!) throw bad(`partition ${p} is not sorted`);
        if (keyBits === 64 && !(Number.isInteger(v) && v >= 0 && v < 2 ** 48)) throw bad(`suffix ${v} is out of range`);
        if (r.cnt[i] === 0) throw bad(`partition ${p} holds an empty run`);
        if (r.whole && r.whole[i]! > r.cnt[i]!) throw bad(`partition ${p} holds more regions than pixels`);
        sums[positive ? 1 : 0] += r.cnt[i]!;
      }
      (positive ? s.pos : s.neg)[p] = r;
    }
  }
  if (o !== bytes.length) throw bad(`its length ${bytes.length} does not match its contents (${o} bytes)`);
  if (sums[0] !== s.negatives || sums[1] !== s.positives) throw bad('its run counts disagree with its totals');
  return s;
}

function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('texad metrics states are little-endian; this host is big-endian');
  }
}
