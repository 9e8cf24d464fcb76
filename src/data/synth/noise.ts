// Seeded 2-D gradient noise (Perlin's improved noise in two dimensions) and fractal sums of it: the raw material
// of yarn fibres, brushed grain, thin-film tint and stain outlines.
import type { Rng } from '../random.ts';

const D = Math.SQRT1_2;
const GRAD_X = Float64Array.of(1, -1, 0, 0, D, -D, D, -D);
const GRAD_Y = Float64Array.of(0, 0, 1, -1, D, D, -D, -D);

function fade(t: number): number {
  return t * t * t * (t * (t * 6 - 15) + 10);
}

export class Noise2 {
  readonly #perm = new Uint8Array(512);

  constructor(rng: Rng) {
    const p = Array.from({ length: 256 }, (_, i) => i);
    rng.shuffle(p);
    for (let i = 0; i < 512; i++) this.#perm[i] = p[i & 255]!;
  }

  /** Roughly in [-1, 1], zero at integer lattice points, smooth at scale 1. */
  at(x: number, y: number): number {
    const xi = Math.floor(x);
    const yi = Math.floor(y);
    const fx = x - xi;
    const fy = y - yi;
    const p = this.#perm;
    const X = xi & 255;
    const Y = yi & 255;
    const h00 = p[p[X]! + Y]! & 7;
    const h10 = p[p[X + 1]! + Y]! & 7;
    const h01 = p[p[X]! + Y + 1]! & 7;
    const h11 = p[p[X + 1]! + Y + 1]! & 7;
    const n00 = GRAD_X[h00]! * fx + GRAD_Y[h00]! * fy;
    const n10 = GRAD_X[h10]! * (fx - 1) + GRAD_Y[h10]! * fy;
    const n01 = GRAD_X[h01]! * fx + GRAD_Y[h01]! * (fy - 1);
    const n11 = GRAD_X[h11]! * (fx - 1) + GRAD_Y[h11]! * (fy - 1);
    const u = fade(fx);
    const v = fade(fy);
    const a = n00 + u * (n10 - n00);
    const b = n01 + u * (n11 - n01);
    return 1.4 * (a + v * (b - a));
  }

  /** Fractal sum of `octaves` layers, each twice the frequency and `gain` times the amplitude; normalised. */
  fbm(x: number, y: number, octaves: number, gain = 0.5): number {
    let sum = 0;
    let amp = 1;
    let norm = 0;
    let f = 1;
    for (let o = 0; o < octaves; o++) {
      sum += amp * this.at(x * f + o * 17.3, y * f - o * 9.1);
      norm += amp;
      amp *= gain;
      f *= 2;
    }
    return sum / norm;
  }
}

/** Integer hash → [0, 1): per-thread and per-die jitter that needs no state. */
export function hash01(a: number, b = 0, seed = 0): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b ^ 0x7f4a7c15, 0xc2b2ae35) ^ seed;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return ((h ^ (h >>> 15)) >>> 0) / 4294967296;
}

/**
 * A smooth field sampled every `step` pixels and bilinearly interpolated: for noise that varies over tens of
 * pixels, evaluating it at every pixel is wasted work.
 */
export class CoarseField {
  readonly #grid: Float32Array;
  readonly #n: number;

  constructor(readonly size: number, readonly step: number, f: (x: number, y: number) => number) {
    this.#n = Math.ceil(size / step) + 2;
    this.#grid = new Float32Array(this.#n * this.#n);
    for (let gy = 0; gy < this.#n; gy++) {
      for (let gx = 0; gx < this.#n; gx++) this.#grid[gy * this.#n + gx] = f(gx * step, gy * step);
    }
  }

  at(x: number, y: number): number {
    const fx = x / this.step;
    const fy = y / this.step;
    const ix = Math.min(this.#n - 2, Math.max(0, Math.floor(fx)));
    const iy = Math.min(this.#n - 2, Math.max(0, Math.floor(fy)));
    const tx = fx - ix;
    const ty = fy - iy;
    const g = this.#grid;
    const o = iy * this.#n + ix;
    const a = g[o]! + tx * (g[o + 1]! - g[o]!);
    const b = g[o + this.#n]! + tx * (g[o + this.#n + 1]! - g[o + this.#n]!);
    return a + ty * (b - a);
  }
}
