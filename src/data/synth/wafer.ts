// Semiconductor wafer surface: a grid of identical dies separated by scribe lines. One die is drawn once into a
// tile from a list of rectangles and discs (bond pads, bumps, memory arrays, logic blocks, routing), then every
// pixel of the image looks its die position up in that tile; thin-film colour drifts slowly across the wafer.
import { Rng } from '../random.ts';
import { Canvas, paint, type Rgb } from './canvas.ts';
import { CoarseField, Noise2, hash01 } from './noise.ts';

export type PadStyle = 'perimeter' | 'dual' | 'bumps' | 'edge';
export type CoreStyle = 'memory' | 'logic' | 'lines';

export interface WaferDesign {
  diesX: number;
  diesY: number;
  pads: PadStyle;
  core: CoreStyle;
  /** Passivation colour of the die field. */
  base: Rgb;
  /** Colour of exposed metal (pads, bumps, routing). */
  metal: Rgb;
  /** Seed of the die's floor plan, so one subclass keeps one design. */
  layout: number;
}

interface Shape {
  kind: 'rect' | 'disc' | 'grating';
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  colour: Rgb;
  /** Grating period (die units) and orientation, for memory arrays. */
  period?: number;
  vertical?: boolean;
}

const SCRIBE_COLOUR: Rgb = [0.62, 0.63, 0.66];
const SCRIBE = 0.07;

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function floorPlan(d: WaferDesign, rng: Rng): Shape[] {
  const shapes: Shape[] = [];
  const m = SCRIBE / 2;
  const dark = mix(d.base, [0, 0, 0], 0.35);
  const lit = mix(d.base, [1, 1, 1], 0.18);
  const rect = (x0: number, y0: number, x1: number, y1: number, colour: Rgb): void => {
    shapes.push({ kind: 'rect', x0, y0, x1, y1, colour });
  };
  // Seal ring just inside the scribe.
  rect(m + 0.01, m + 0.01, 1 - m - 0.01, 1 - m - 0.01, mix(d.metal, d.base, 0.4));
  rect(m + 0.025, m + 0.025, 1 - m - 0.025, 1 - m - 0.025, d.base);
  const pad = 0.07 * (d.diesX <= 3 ? 0.7 : 1);
  const padsOnSide = (along: 'x' | 'y', at: number, n: number): void => {
    for (let k = 0; k < n; k++) {
      const c = 0.2 + (0.6 * (k + 0.5)) / n;
      const [x, y] = along === 'x' ? [c, at] : [at, c];
      rect(x - pad / 2, y - pad / 2, x + pad / 2, y + pad / 2, mix(d.metal, dark, 0.25));
      rect(x - pad / 2 + 0.012, y - pad / 2 + 0.012, x + pad / 2 - 0.012, y + pad / 2 - 0.012, d.metal);
    }
  };
  let inner = m + 0.05;
  if (d.pads === 'perimeter' || d.pads === 'dual' || d.pads === 'edge') {
    const n = rng.int(4, 7);
    const ring = m + 0.035 + pad / 2;
    padsOnSide('x', ring, n);
    padsOnSide('x', 1 - ring, n);
    if (d.pads !== 'edge') {
      padsOnSide('y', ring, n);
      padsOnSide('y', 1 - ring, n);
    }
    if (d.pads === 'dual') {
      padsOnSide('x', ring + pad * 1.4, n - 1);
      padsOnSide('x', 1 - ring - pad * 1.4, n - 1);
      inner = ring + pad * 2.2;
    } else inner = ring + pad;
  }
  const lo = inner + 0.03;
  const hi = 1 - inner - 0.03;
  if (d.core === 'memory') {
    const banks = rng.int(2, 3);
    const w = (hi - lo) / banks;
    for (let b = 0; b < banks; b++) {
      for (let r = 0; r < 2; r++) {
        const y0 = lo + ((hi - lo) / 2) * r;
        shapes.push({ kind: 'grating', x0: lo + w * b + 0.015, y0: y0 + 0.015, x1: lo + w * (b + 1) - 0.015,
          y1: y0 + (hi - lo) / 2 - 0.015, colour: mix(d.metal, d.base, 0.5), period: 0.025, vertical: r === 0 });
      }
    }
  } else if (d.core === 'logic') {
    for (let k = 0; k < 9; k++) {
      const w = rng.range(0.08, 0.3) * (hi - lo);
      const h = rng.range(0.08, 0.3) * (hi - lo);
      const x = rng.range(lo, hi - w);
      const y = rng.range(lo, hi - h);
      rect(x, y, x + w, y + h, rng.chance(0.5) ? dark : lit);
    }
  } else {
    for (let k = 0; k < 7; k++) {
      const y = lo + ((hi - lo) * (k + 0.5)) / 7;
      rect(lo, y - 0.008, hi, y + 0.008, mix(d.metal, d.base, 0.3));
    }
    rect(lo + 0.1, lo, lo + 0.12, hi, mix(d.metal, d.base, 0.3));
  }
  if (d.pads === 'bumps') {
    const n = rng.int(4, 6);
    const r = 0.28 / n;
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        const cx = lo + ((hi - lo) * (a + 0.5)) / n;
        const cy = lo + ((hi - lo) * (b + 0.5)) / n;
        shapes.push({ kind: 'disc', x0: cx - r, y0: cy - r, x1: cx + r, y1: cy + r, colour: d.metal });
      }
    }
  }
  // Alignment mark in one corner: makes the die asymmetric, as real dies are.
  rect(m + 0.04, m + 0.04, m + 0.07, m + 0.11, d.metal);
  rect(m + 0.04, m + 0.04, m + 0.11, m + 0.07, d.metal);
  return shapes;
}

function shadeDie(shapes: readonly Shape[], base: Rgb, u: number, v: number, out: Float32Array): void {
  const m = SCRIBE / 2;
  if (u < m || u > 1 - m || v < m || v > 1 - m) {
    out[0] = SCRIBE_COLOUR[0];
    out[1] = SCRIBE_COLOUR[1];
    out[2] = SCRIBE_COLOUR[2];
    return;
  }
  let c: Rgb = base;
  let gloss = 0;
  for (const s of shapes) {
    if (u < s.x0 || u >= s.x1 || v < s.y0 || v >= s.y1) continue;
    if (s.kind === 'rect') c = s.colour;
    else if (s.kind === 'disc') {
      const rx = (s.x1 - s.x0) / 2;
      const dx = (u - (s.x0 + rx)) / rx;
      const dy = (v - (s.y0 + rx)) / rx;
      const r2 = dx * dx + dy * dy;
      if (r2 < 1) {
        c = s.colour;
        // Solder bumps are domes: a highlight up-left, a darker rim.
        gloss = 0.5 * Math.exp(-((dx + 0.35) ** 2 + (dy + 0.35) ** 2) * 6) - 0.25 * r2 * r2;
      }
    } else {
      const t = ((s.vertical ? u : v) / s.period!) % 1;
      if (t < 0.5) c = s.colour;
    }
  }
  out[0] = c[0] * (1 + gloss);
  out[1] = c[1] * (1 + gloss);
  out[2] = c[2] * (1 + gloss);
}

/** Dies are drawn at this many tile pixels per image pixel before being averaged down. */
const TILE_OVERSAMPLE = 2;

// Every image of a subclass shares its die; drawing it once per design and size makes wafers as cheap as cloth.
const tileCache = new Map<string, Canvas>();
const TILE_CACHE_SIZE = 16;

function dieTile(design: WaferDesign, tw: number, th: number): Canvas {
  const key = `${JSON.stringify(design)}/${tw}x${th}`;
  let tile = tileCache.get(key);
  if (!tile) {
    const plan = floorPlan(design, new Rng(design.layout));
    tile = new Canvas(tw, th);
    paint(tile, 2, (x, y, out) => shadeDie(plan, design.base, x / tw, y / th, out));
    if (tileCache.size >= TILE_CACHE_SIZE) tileCache.delete(tileCache.keys().next().value!);
    tileCache.set(key, tile);
  }
  return tile;
}

export function renderWafer(design: WaferDesign, size: number, rng: Rng): Canvas {
  const pitchX = size / design.diesX;
  const pitchY = size / design.diesY;
  const tw = Math.max(8, Math.ceil(pitchX * TILE_OVERSAMPLE));
  const th = Math.max(8, Math.ceil(pitchY * TILE_OVERSAMPLE));
  const tile = dieTile(design, tw, th);

  const noise = new Noise2(rng);
  // Crops of a real wafer never align with the die grid.
  const ox = rng.range(0, pitchX);
  const oy = rng.range(0, pitchY);
  const seed = rng.nextU32();
  const px = new Float32Array(3);
  const canvas = new Canvas(size, size);
  const film = new CoarseField(size, Math.max(2, size / 64), (x, y) => 0.06 * noise.fbm((x / size) * 1.5,
    (y / size) * 1.5, 2));
  // Per-die brightness and grain vary slowly against the sub-sample spacing: once per pixel.
  let cx = -1;
  let cy = -1;
  let r = 1;
  let g = 1;
  let b = 1;
  paint(canvas, 2, (x, y, out) => {
    const gx = (x + ox) / pitchX;
    const gy = (y + oy) / pitchY;
    const ix = Math.floor(gx);
    const iy = Math.floor(gy);
    if (Math.floor(x) !== cx || Math.floor(y) !== cy) {
      cx = Math.floor(x);
      cy = Math.floor(y);
      const f = film.at(cx + 0.5, cy + 0.5);
      const die = 1 + 0.03 * (hash01(ix, iy, seed) - 0.5);
      const grain = 1 + 0.015 * noise.at(cx * 0.8, cy * 0.8);
      r = die * grain * (1 + f);
      g = die * grain * (1 - 0.4 * f);
      b = die * grain * (1 - f);
    }
    tile.sample((gx - ix) * tw, (gy - iy) * th, px);
    out[0] = px[0]! * r;
    out[1] = px[1]! * g;
    out[2] = px[2]! * b;
  });
  return canvas;
}
