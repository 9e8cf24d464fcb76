// The CPU's seeded randomness, for every layer: xoshiro128** (Blackman & Vigna), 32-bit integer ops only so
// per-pixel noise stays fast, plus the one string hash and the epoch-order shuffle. A seed reproduces a dataset,
// a split or a shuffle bit for bit on every runtime. (GPU tensors of random numbers: GpuRng in src/ops/random.ts.)

/** 32-bit FNV-1a: turns labels ("cloth/plain_white/test/17") and shader sources into seed material and keys. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * splitmix32 step: spreads a 32-bit seed over the generator state so nearby seeds give unrelated streams. Also a
 * stateless hash (tools/golden/draem.py rebuilds its weights from it in Python).
 */
export function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) >>> 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spare: number | undefined;

  constructor(seed: number, stream = 0) {
    let x = (splitmix32(seed >>> 0) ^ splitmix32((stream ^ 0x5bd1e995) >>> 0)) >>> 0;
    this.#a = x = splitmix32(x);
    this.#b = x = splitmix32(x ^ 0x6a09e667);
    this.#c = x = splitmix32(x ^ 0xbb67ae85);
    this.#d = splitmix32(x ^ 0x3c6ef372) | 1;
  }

  /** An independent generator for (seed, labels); lets any one image be regenerated without the others. */
  static derive(seed: number, ...labels: (string | number)[]): Rng {
    return new Rng(seed >>> 0, hashString(labels.join('/')));
  }

  nextU32(): number {
    const b = this.#b;
    const t = b << 9;
    let r = Math.imul(b, 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
    this.#c ^= this.#a;
    this.#d ^= b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = (this.#d << 11) | (this.#d >>> 21);
    return r >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Log-uniform in [lo, hi); for sizes, where small values should be as common as large ones per octave. */
  logRange(lo: number, hi: number): number {
    return Math.exp(this.range(Math.log(lo), Math.log(hi)));
  }

  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Fisher–Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    return fisherYates(items, (n) => Math.floor(this.next() * n));
  }
}

/** Fisher–Yates in place; `below(n)` draws an integer in [0, n). */
function fisherYates<T>(items: T[], below: (n: number) => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = below(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * A shuffled copy of `items`, from `seed` alone: the epoch order of training images. Its xorshift32 stream
 * predates Rng and is kept because recorded runs (SimpleNet's epoch orders, hence its results) depend on it bit
 * for bit; new code that needs more than one shuffle should draw from an Rng.
 */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  let s = (seed >>> 0) ^ 0x9e3779b9 || 1;
  return fisherYates([...items], (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  });
}
