// Woven cloth: warp threads run down the image, weft threads across; the weave decides which is on top at each
// crossing. Each thread is shaded as a round yarn (dark gaps between threads, dips where it dives under the other
// set), with plied twist, fibre streaks along its length, per-thread irregularity and slow dye mottling.
import type { Rng } from '../random.ts';
import { Canvas, type Rgb } from './canvas.ts';
import { CoarseField, Noise2, hash01 } from './noise.ts';

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

const REPEAT: Record<Weave, number> = { plain: 2, twill: 4, satin: 5 };

interface WeaveTable {
  repeat: number;
  up: Uint8Array;
  /** Where the float through a crossing starts, relative to it, and how many crossings it spans. */
  start: Int8Array;
  length: Int8Array;
}

/** The weave's repeat unit with every crossing's float precomputed: the per-sample shading only looks it up. */
function weaveTable(weave: Weave): WeaveTable {
  const r = REPEAT[weave];
  const t: WeaveTable = { repeat: r, up: new Uint8Array(r * r), start: new Int8Array(r * r), length: new Int8Array(r * r) };
  for (let j = 0; j < r; j++) {
    for (let i = 0; i < r; i++) {
      const up = warpUp(weave, i, j);
      let start = 0;
      let end = 0;
      if (up) {
        while (start > -r && warpUp(weave, i, j + start - 1)) start--;
        while (end < r && warpUp(weave, i, j + end + 1)) end++;
      } else {
        while (start > -r && !warpUp(weave, i + start - 1, j)) start--;
        while (end < r && !warpUp(weave, i + end + 1, j)) end++;
      }
      t.up[j * r + i] = up ? 1 : 0;
      t.start[j * r + i] = start;
      t.length[j * r + i] = end - start + 1;
    }
  }
  return t;
}

/** sin(πt)^0.35 for t in [0, 1]: the flat-topped rise and fall of a yarn float. */
const DIVE = Float32Array.from({ length: 257 }, (_, k) => Math.pow(Math.sin((Math.PI * k) / 256), 0.35));

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
  const { hairiness, slub } = design;
  const table = weaveTable(design.weave);

  // Sub-samples only where threads are a few pixels wide: their edges alias there, not at 8+ pixels per thread.
  const SUB = p < 7 ? 2 : 1;
  const data = canvas.data;
  // Cloth never lies perfectly flat: a slow wander of the thread lines; and dye is never perfectly even.
  const step = Math.max(2, size / 64);
  const wander = (dx: number) => new CoarseField(size, step, (x, y) => 0.25 * noise.at((x / size) * 2.3 + dx,
    (y / size) * 2.3 + dx));
  const wanderU = wander(0);
  const wanderV = wander(40);
  const dye = new CoarseField(size, step, (x, y) => 1 + 0.05 * noise.fbm((x / size) * 3 + 13, (y / size) * 3 + 7, 3));
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const wu = wanderU.at(px + 0.5, py + 0.5);
      const wv = wanderV.at(px + 0.5, py + 0.5);
      const mottle = dye.at(px + 0.5, py + 0.5);
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = 0; sy < SUB; sy++) {
        for (let sx = 0; sx < SUB; sx++) {
          const x = px + (sx + 0.5) / SUB;
          const y = py + (sy + 0.5) / SUB;
          const u = (cos * x - sin * y + ox) / p + wu;
          const v = (sin * x + cos * y + oy) / p + wv;
          const i = Math.floor(u);
          const j = Math.floor(v);
          const cell = mod(j, table.repeat) * table.repeat + mod(i, table.repeat);
          const up = table.up[cell] === 1;
          const start = table.start[cell]!;
          const len = table.length[cell]!;
          const across = up ? u - i : v - j;
          const along = up ? (v - (j + start)) / len : (u - (i + start)) / len;
          const thread = up ? i : j;
          const width = 0.86 + slub * (hash01(thread, up ? 1 : 2, seed) - 0.5);
          const d = Math.abs(across - 0.5) / (width / 2);
          const round = d < 1 ? Math.sqrt(1 - d * d) : 0;
          const dive = DIVE[Math.round(Math.min(Math.max(along, 0), 1) * 256)]!;
          const twist = 0.06 * Math.sin(2 * Math.PI * (across * 1.2 + (up ? v : u) * 1.7));
          const fibre = up ? noise.at(u * 5.3, v * 0.7) : noise.at(u * 0.7 + 71, v * 5.3);
          const irregular = 1 + slub * (hash01(thread, up ? 3 : 4, seed) - 0.5);
          const shade = (0.3 + 0.7 * round) * (0.62 + 0.38 * dive) * (1 + twist + hairiness * fibre) * irregular;
          const colours = up ? design.warp : design.weft;
          const c = colours[mod(Math.floor(thread / (up ? design.warpRepeat : design.weftRepeat)), colours.length)]!;
          r += c[0] * shade;
          g += c[1] * shade;
          b += c[2] * shade;
        }
      }
      const o = (py * size + px) * 3;
      const k = mottle / (SUB * SUB);
      data[o] = r * k;
      data[o + 1] = g * k;
      data[o + 2] = b * k;
    }
  }
  return canvas;
}
