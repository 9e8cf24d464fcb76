// Woven cloth: warp threads run down the image, weft threads across; the weave decides which is on top at each
// crossing. Each thread is shaded as a round yarn (dark gaps between threads, dips where it dives under the other
// set), with plied twist, fibre streaks along its length, per-thread irregularity and slow dye mottling.
import type { Rng } from '../random.ts';
import { Canvas, paint, type Rgb } from './canvas.ts';
import { Noise2, hash01 } from './noise.ts';

export type Weave = 'plain' | 'twill' | 'satin';

export interface ClothDesign {
  weave: Weave;
  /** Threads across the image width (both sets use the same count). */
  threads: number;
  /** Warp colours cycle every `warpRepeat` threads: one colour is a solid, two make stripes or houndstooth. */
  warp: readonly Rgb[];
  warpRepeat: number;
  weft: readonly Rgb[];
  weftRepeat: number;
  /** Amplitude of fibre streaks (0.1 smooth filament … 0.4 hairy spun yarn). */
  hairiness: number;
  /** Thread-to-thread thickness/brightness irregularity (slubs of linen and canvas). */
  slub: number;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** True where the warp (vertical) thread lies on top of the weft at crossing (i, j). */
function warpUp(weave: Weave, i: number, j: number): boolean {
  switch (weave) {
    case 'plain':
      return mod(i + j, 2) === 0;
    case 'twill':
      return mod(i + j, 4) < 3;
    case 'satin':
      return mod(2 * i - j, 5) !== 0;
  }
}

/** Length of the float through (i, j) along the thread on top, and where (i, j) starts within it. */
function floatRun(weave: Weave, i: number, j: number, up: boolean): [start: number, length: number] {
  let start = 0;
  let end = 0;
  if (up) {
    while (start > -6 && warpUp(weave, i, j + start - 1)) start--;
    while (end < 6 && warpUp(weave, i, j + end + 1)) end++;
  } else {
    while (start > -6 && !warpUp(weave, i + start - 1, j)) start--;
    while (end < 6 && !warpUp(weave, i + end + 1, j)) end++;
  }
  return [start, end - start + 1];
}

export function renderCloth(design: ClothDesign, size: number, rng: Rng): Canvas {
  const canvas = new Canvas(size, size);
  const noise = new Noise2(rng);
  const p = size / design.threads;
  const angle = rng.range(-0.02, 0.02);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const ox = rng.range(0, 100 * p);
  const oy = rng.range(0, 100 * p);
  const seed = rng.nextU32();
  const { weave, hairiness, slub } = design;

  // The slow fields (thread wander, dye mottling) are evaluated once per pixel, not per sub-sample.
  let px = -1;
  let py = -1;
  let wu = 0;
  let wv = 0;
  let mottle = 1;
  paint(canvas, 2, (x, y, out) => {
    if (Math.floor(x) !== px || Math.floor(y) !== py) {
      px = Math.floor(x);
      py = Math.floor(y);
      const X = (px + 0.5) / size;
      const Y = (py + 0.5) / size;
      // Cloth never lies perfectly flat: a slow wander of the thread lines.
      wu = 0.25 * noise.at(X * 2.3, Y * 2.3);
      wv = 0.25 * noise.at(X * 2.3 + 40, Y * 2.3 + 40);
      mottle = 1 + 0.05 * noise.fbm(X * 3 + 13, Y * 3 + 7, 3);
    }
    const u = (cos * x - sin * y + ox) / p + wu;
    const v = (sin * x + cos * y + oy) / p + wv;
    const i = Math.floor(u);
    const j = Math.floor(v);
    const up = warpUp(weave, i, j);
    const [start, len] = floatRun(weave, i, j, up);
    const across = up ? u - i : v - j;
    const along = up ? (v - (j + start)) / len : (u - (i + start)) / len;
    const thread = up ? i : j;
    const width = 0.86 + slub * (hash01(thread, up ? 1 : 2, seed) - 0.5);
    const d = Math.abs(across - 0.5) / (width / 2);
    const round = d < 1 ? Math.sqrt(1 - d * d) : 0;
    const dive = Math.pow(Math.sin(Math.PI * Math.min(Math.max(along, 0), 1)), 0.35);
    const twist = 0.06 * Math.sin(2 * Math.PI * (across * 1.2 + (up ? v : u) * 1.7));
    const fibre = up ? noise.at(u * 5.3, v * 0.7) : noise.at(u * 0.7 + 71, v * 5.3);
    const irregular = 1 + slub * (hash01(thread, up ? 3 : 4, seed) - 0.5);
    const shade = (0.3 + 0.7 * round) * (0.62 + 0.38 * dive) * (1 + twist + hairiness * fibre) * irregular * mottle;
    const colours = up ? design.warp : design.weft;
    const repeat = up ? design.warpRepeat : design.weftRepeat;
    const c = colours[mod(Math.floor(thread / repeat), colours.length)]!;
    out[0] = c[0] * shade;
    out[1] = c[1] * shade;
    out[2] = c[2] * shade;
  });
  return canvas;
}
