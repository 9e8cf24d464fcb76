// Defects painted onto a clean surface, each with its exact pixel mask. Every defect first draws a coverage field
// (alpha); the mask is alpha ≥ MASK_ALPHA and only masked pixels are changed, so the mask marks precisely the
// pixels that differ from the defect-free image.
import type { Rng } from '../random.ts';
import { Canvas, type Rgb } from './canvas.ts';
import { Noise2 } from './noise.ts';

export const DEFECT_TYPES = ['scratch', 'stain', 'water_mark', 'black_dot', 'white_dot', 'thread', 'cut', 'wrinkle',
  'uneven_weave', 'color_variation', 'pencil', 'marker', 'pattern'] as const;
export type DefectType = (typeof DEFECT_TYPES)[number];

export interface DefectOptions {
  /** Defect area as a fraction of the image, drawn log-uniformly from [min, max]. */
  area: readonly [number, number];
  /** Least mean per-pixel change (max over channels) over the mask; weaker draws are redrawn. */
  minContrast: number;
  /**
   * The drawn change is scaled by a factor log-uniform in [min, max] (default [1, 1]): factors well below 1 give
   * the faint, low-contrast defects that sit next to obvious ones in Texture-AD.
   */
  strength?: readonly [number, number];
}

export interface Defect {
  type: DefectType;
  /** 1 where the image was changed. */
  mask: Uint8Array;
  /** Fraction of the image covered by the mask. */
  area: number;
}

const MASK_ALPHA = 0.25;
const ATTEMPTS = 12;

type Pt = readonly [number, number];

class Field {
  readonly a: Float32Array;
  constructor(readonly size: number) {
    this.a = new Float32Array(size * size);
  }

  put(x: number, y: number, v: number): void {
    const i = y * this.size + x;
    if (v > this.a[i]!) this.a[i] = v;
  }

  /** Soft-edged polyline; `width(t)` gives the width in pixels at fraction t of the length. */
  stroke(pts: readonly Pt[], width: (t: number) => number, soft = 0.7): void {
    const n = pts.length - 1;
    for (let s = 0; s < n; s++) {
      const [x0, y0] = pts[s]!;
      const [x1, y1] = pts[s + 1]!;
      const w0 = width(s / n);
      const w1 = width((s + 1) / n);
      const pad = Math.max(w0, w1) / 2 + 2;
      const dx = x1 - x0;
      const dy = y1 - y0;
      const len2 = dx * dx + dy * dy || 1e-9;
      const xa = Math.max(0, Math.floor(Math.min(x0, x1) - pad));
      const xb = Math.min(this.size - 1, Math.ceil(Math.max(x0, x1) + pad));
      const ya = Math.max(0, Math.floor(Math.min(y0, y1) - pad));
      const yb = Math.min(this.size - 1, Math.ceil(Math.max(y0, y1) + pad));
      for (let y = ya; y <= yb; y++) {
        for (let x = xa; x <= xb; x++) {
          const px = x + 0.5 - x0;
          const py = y + 0.5 - y0;
          const t = Math.min(1, Math.max(0, (px * dx + py * dy) / len2));
          const d = Math.hypot(px - t * dx, py - t * dy);
          const w = w0 + (w1 - w0) * t;
          this.put(x, y, Math.min(1, Math.max(0, (w / 2 - d) / soft + 0.5)));
        }
      }
    }
  }

  /** Irregular blob; `profile(r)` maps normalised depth (0 edge … 1 centre) to coverage. */
  blob(cx: number, cy: number, r: number, noise: Noise2, irregular: number, profile: (depth: number) => number): void {
    const reach = r * (1 + irregular) + 2;
    const ox = cx * 0.37;
    for (let y = Math.max(0, Math.floor(cy - reach)); y <= Math.min(this.size - 1, Math.ceil(cy + reach)); y++) {
      for (let x = Math.max(0, Math.floor(cx - reach)); x <= Math.min(this.size - 1, Math.ceil(cx + reach)); x++) {
        const dx = x + 0.5 - cx;
        const dy = y + 0.5 - cy;
        const d = Math.hypot(dx, dy);
        const rr = r * (1 + irregular * noise.fbm(ox + (dx / (d || 1)) * 1.3, (dy / (d || 1)) * 1.3, 3));
        if (d < rr + 1) this.put(x, y, profile(Math.min(1, Math.max(0, (rr - d) / Math.max(rr, 1)))));
      }
    }
  }
}

function wander(rng: Rng, start: Pt, length: number, step: number, bend: number): Pt[] {
  const pts: Pt[] = [start];
  let dir = rng.range(0, 2 * Math.PI);
  let turn = 0;
  let [x, y] = start;
  for (let l = 0; l < length; l += step) {
    turn = 0.8 * turn + rng.normal() * bend;
    dir += turn;
    x += Math.cos(dir) * step;
    y += Math.sin(dir) * step;
    pts.push([x, y]);
  }
  return pts;
}

/** Applies `change` where the field reaches MASK_ALPHA; everything else stays bit-identical. */
function composite(canvas: Canvas, clean: Canvas, field: Field, change: (rgb: Float32Array, a: number, x: number,
  y: number) => void): Uint8Array {
  const n = canvas.width;
  const mask = new Uint8Array(n * n);
  const px = new Float32Array(3);
  for (let i = 0; i < n * n; i++) {
    const a = field.a[i]!;
    if (a < MASK_ALPHA) continue;
    mask[i] = 1;
    const o = i * 3;
    px[0] = clean.data[o]!;
    px[1] = clean.data[o + 1]!;
    px[2] = clean.data[o + 2]!;
    change(px, a, i % n, Math.floor(i / n));
    canvas.data[o] = px[0]!;
    canvas.data[o + 1] = px[1]!;
    canvas.data[o + 2] = px[2]!;
  }
  return mask;
}

function contrast(canvas: Canvas, clean: Canvas, mask: Uint8Array): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const o = i * 3;
    sum += Math.max(Math.abs(canvas.data[o]! - clean.data[o]!), Math.abs(canvas.data[o + 1]! - clean.data[o + 1]!),
      Math.abs(canvas.data[o + 2]! - clean.data[o + 2]!));
    n++;
  }
  return n ? sum / n : 0;
}

function lerp(px: Float32Array, c: Rgb, t: number): void {
  px[0] = px[0]! + (c[0] - px[0]!) * t;
  px[1] = px[1]! + (c[1] - px[1]!) * t;
  px[2] = px[2]! + (c[2] - px[2]!) * t;
}

function luminance(canvas: Canvas): number {
  let s = 0;
  for (let i = 0; i < canvas.data.length; i += 3) {
    s += 0.299 * canvas.data[i]! + 0.587 * canvas.data[i + 1]! + 0.114 * canvas.data[i + 2]!;
  }
  return (3 * s) / canvas.data.length;
}

/** Draws one attempt of `type` covering about `area` pixels into `canvas` (a copy of `clean`); returns the mask. */
function drawOnce(type: DefectType, canvas: Canvas, clean: Canvas, bright: number, area: number, rng: Rng): Uint8Array {
  const S = canvas.width;
  const field = new Field(S);
  const noise = new Noise2(rng);
  const margin = 0.1 * S;
  const cx = rng.range(margin, S - margin);
  const cy = rng.range(margin, S - margin);
  /** A stroke of this width, as long as the area allows (within sensible bounds). */
  const strokeLength = (w: number): number => Math.min(0.7 * S, Math.max(0.06 * S, area / w));
  switch (type) {
    case 'scratch': {
      const w = rng.range(1, 2);
      const pts = wander(rng, [cx, cy], strokeLength(w), 2, 0.015);
      field.stroke(pts, (t) => w * (0.5 + 0.5 * Math.sin(Math.PI * t)) + 0.4);
      const up = bright < 0.55 || rng.chance(0.6);
      const k = rng.range(0.45, 0.75);
      return composite(canvas, clean, field, (px, a) => lerp(px, up ? [1, 1, 1] : [0.05, 0.05, 0.05], k * a));
    }
    case 'stain':
    case 'color_variation': {
      const r = Math.sqrt(area / Math.PI);
      field.blob(cx, cy, r, noise, 0.35, (d) => Math.min(1, d * 4));
      if (type === 'stain') {
        const tint: Rgb = rng.pick([[0.35, 0.25, 0.12], [0.2, 0.2, 0.22], [0.45, 0.4, 0.2]] as const);
        const k = rng.range(0.35, 0.6);
        return composite(canvas, clean, field, (px, a, x, y) =>
          lerp(px, tint, k * a * (0.75 + 0.25 * noise.at(x * 0.15, y * 0.15))));
      }
      const shift = rng.range(0.12, 0.3) * (rng.chance(0.5) ? 1 : -1);
      const g: Rgb = [1 + shift * rng.range(-1, 1), 1 + shift * rng.range(-1, 1), 1 + shift * rng.range(-1, 1)];
      return composite(canvas, clean, field, (px, a) => {
        for (let c = 0; c < 3; c++) px[c] = px[c]! * (1 + (g[c]! - 1) * a);
      });
    }
    case 'water_mark': {
      const r = Math.sqrt(area / Math.PI);
      const ring = Math.max(1.2, r * 0.18);
      field.blob(cx, cy, r, noise, 0.25, (d) => Math.min(1, d * 6));
      const inner = new Field(S);
      inner.blob(cx, cy, r, noise, 0.25, (d) => d);
      const dark = rng.chance(0.6);
      const k = rng.range(0.35, 0.55);
      return composite(canvas, clean, field, (px, _a, x, y) => {
        const depth = inner.a[y * S + x]! * r;
        const edge = Math.exp(-((depth / ring) ** 2));
        lerp(px, dark ? [0.1, 0.1, 0.1] : [0.95, 0.95, 0.92], k * (0.3 + 0.7 * edge));
      });
    }
    case 'black_dot':
    case 'white_dot': {
      const n = rng.int(1, 3);
      const r = Math.max(1.2, Math.sqrt(area / (n * Math.PI)));
      for (let k = 0; k < n; k++) {
        const x = cx + rng.normal() * r * 2.5;
        const y = cy + rng.normal() * r * 2.5;
        field.blob(x, y, r * rng.range(0.7, 1.2), noise, 0.2, (d) => Math.min(1, d * 3 + 0.3));
      }
      const c: Rgb = type === 'black_dot' ? [0.03, 0.03, 0.03] : [0.97, 0.97, 0.95];
      return composite(canvas, clean, field, (px, a) => lerp(px, c, Math.min(1, 0.9 * a + 0.1)));
    }
    case 'thread': {
      const w = rng.range(1.4, 2.4);
      const pts = wander(rng, [cx, cy], strokeLength(w), 1.5, 0.06);
      field.stroke(pts, () => w, 0.6);
      const base = bright > 0.5 ? rng.range(0.05, 0.3) : rng.range(0.7, 0.95);
      const hue: Rgb = [base * rng.range(0.8, 1.2), base * rng.range(0.8, 1.2), base * rng.range(0.8, 1.2)];
      return composite(canvas, clean, field, (px, a, x, y) => {
        const fibre = 1 + 0.15 * noise.at(x * 0.9, y * 0.9);
        lerp(px, [hue[0] * fibre, hue[1] * fibre, hue[2] * fibre], Math.min(1, a * 1.1));
      });
    }
    case 'cut': {
      const w = rng.range(1.5, 3);
      const len = Math.min(0.3 * S, strokeLength(w));
      const dir = rng.range(0, Math.PI);
      const pts: Pt[] = [[cx - (Math.cos(dir) * len) / 2, cy - (Math.sin(dir) * len) / 2],
        [cx + (Math.cos(dir) * len) / 2, cy + (Math.sin(dir) * len) / 2]];
      const segs: Pt[] = [];
      for (let k = 0; k <= 12; k++) {
        const t = k / 12;
        segs.push([pts[0]![0] + (pts[1]![0] - pts[0]![0]) * t + rng.normal() * 0.4,
          pts[0]![1] + (pts[1]![1] - pts[0]![1]) * t + rng.normal() * 0.4]);
      }
      field.stroke(segs, (t) => w * (0.4 + 0.6 * Math.sin(Math.PI * t)) + 0.8, 0.5);
      return composite(canvas, clean, field, (px, a, x, y) =>
        lerp(px, [0.02, 0.02, 0.02], Math.min(1, a * (0.85 + 0.15 * noise.at(x * 0.7, y * 0.7)))));
    }
    case 'wrinkle':
    case 'uneven_weave': {
      const len = rng.range(0.2, 0.5) * S;
      const h = Math.max(2, Math.min(0.08 * S, area / (2 * len)));
      const dir = rng.range(0, Math.PI);
      const tx = Math.cos(dir);
      const ty = Math.sin(dir);
      const amp = (type === 'wrinkle' ? rng.range(0.8, 1.6) : rng.range(0.5, 0.9)) * h;
      const shadeK = type === 'wrinkle' ? rng.range(0.7, 1.2) : 0;
      const disp = new Float32Array(S * S * 2);
      const shade = new Float32Array(S * S);
      const reach = len / 2 + 3 * h;
      for (let y = Math.max(0, Math.floor(cy - reach)); y < Math.min(S, Math.ceil(cy + reach)); y++) {
        for (let x = Math.max(0, Math.floor(cx - reach)); x < Math.min(S, Math.ceil(cx + reach)); x++) {
          const px = x + 0.5 - cx;
          const py = y + 0.5 - cy;
          const along = (px * tx + py * ty) / (len / 2);
          if (Math.abs(along) >= 1) continue;
          const s = (-px * ty + py * tx) / h;
          const g = Math.cos((Math.PI / 2) * along) ** 2;
          const bump = Math.exp(-s * s) * g;
          const i = y * S + x;
          field.a[i] = bump;
          // A fold pushes the surface sideways and tilts it: one flank catches the light, the other is shaded.
          const d = type === 'wrinkle' ? amp * bump : amp * s * bump;
          disp[2 * i] = -ty * d;
          disp[2 * i + 1] = tx * d;
          shade[i] = 1 - shadeK * s * bump;
        }
      }
      return composite(canvas, clean, field, (px, _a, x, y) => {
        const i = y * S + x;
        clean.sample(x + 0.5 - disp[2 * i]!, y + 0.5 - disp[2 * i + 1]!, px);
        for (let c = 0; c < 3; c++) px[c] = px[c]! * shade[i]!;
      });
    }
    case 'pencil': {
      const strokes = rng.int(1, 3);
      const w = rng.range(1.1, 1.8);
      const each = strokeLength(w) / strokes;
      for (let k = 0; k < strokes; k++) {
        const start: Pt = [cx + rng.normal() * 4, cy + rng.normal() * 4];
        field.stroke(wander(rng, start, each, 1.5, 0.04), () => w, 0.6);
      }
      // Graphite on light surfaces, tailor's chalk on dark ones: a mark is made to be seen.
      const lead: Rgb = bright < 0.45 ? [0.86, 0.86, 0.83] : [0.22, 0.22, 0.24];
      const k = rng.range(0.45, 0.7);
      return composite(canvas, clean, field, (px, a, x, y) => {
        const grain = 0.7 + 0.3 * noise.at(x * 1.7, y * 1.7);
        lerp(px, lead, k * a * grain);
      });
    }
    case 'marker': {
      const w = rng.range(2.5, 5);
      field.stroke(wander(rng, [cx, cy], strokeLength(w), 2, 0.05), () => w, 1);
      const k = rng.range(0.6, 0.85);
      if (bright < 0.4) {
        // Dye inks vanish on dark cloth; what shows there is an opaque paint marker.
        const paint: Rgb = rng.pick([[0.95, 0.85, 0.25], [0.92, 0.92, 0.9], [0.95, 0.5, 0.6]] as const);
        return composite(canvas, clean, field, (px, a) => lerp(px, paint, k * a));
      }
      const ink: Rgb = rng.pick([[0.1, 0.15, 0.6], [0.08, 0.08, 0.1], [0.7, 0.1, 0.12], [0.1, 0.45, 0.2]] as const);
      return composite(canvas, clean, field, (px, a) => {
        for (let c = 0; c < 3; c++) px[c] = px[c]! * (1 + (ink[c]! - 1) * k * a);
      });
    }
    case 'pattern': {
      const aspect = rng.logRange(0.33, 3);
      const w = Math.max(3, Math.min(0.4 * S, Math.sqrt(area * aspect)));
      const h = Math.max(3, Math.min(0.4 * S, area / w));
      const x0 = Math.floor(cx - w / 2);
      const y0 = Math.floor(cy - h / 2);
      for (let y = Math.max(0, y0); y < Math.min(S, y0 + h); y++) {
        for (let x = Math.max(0, x0); x < Math.min(S, x0 + w); x++) field.a[y * S + x] = 1;
      }
      // A misregistered exposure: the die pattern shifted, or a bridge of metal where there should be none.
      const dx = rng.range(0.05, 0.15) * S * (rng.chance(0.5) ? 1 : -1);
      const dy = rng.range(0.05, 0.15) * S * (rng.chance(0.5) ? 1 : -1);
      const bridge = rng.chance(0.35);
      return composite(canvas, clean, field, (px, _a, x, y) => {
        if (bridge) lerp(px, [0.85, 0.85, 0.88], 0.8);
        else clean.sample(x + 0.5 + dx, y + 0.5 + dy, px);
      });
    }
  }
}

/**
 * Paints one defect of `type` onto `canvas` (which holds a clean surface) and returns its mask. Draws are
 * repeated until the change is visible enough (opts.minContrast); the strongest draw is kept if none is.
 */
export function applyDefect(canvas: Canvas, type: DefectType, rng: Rng, opts: DefectOptions): Defect {
  const clean = canvas.clone();
  const S = canvas.width;
  const bright = luminance(clean);
  let best: { canvas: Canvas; mask: Uint8Array; score: number } | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const trial = clean.clone();
    const area = rng.logRange(opts.area[0], opts.area[1]) * S * S;
    const mask = drawOnce(type, trial, clean, bright, area, rng);
    let count = 0;
    for (let i = 0; i < mask.length; i++) count += mask[i]!;
    if (count < 4) continue;
    const score = contrast(trial, clean, mask);
    if (!best || score > best.score) best = { canvas: trial, mask, score };
    if (score >= opts.minContrast) break;
  }
  if (!best) throw new Error(`synthetic defect '${type}' could not be placed on a ${S}×${S} image`);
  const [lo, hi] = opts.strength ?? [1, 1];
  const k = lo === hi ? lo : rng.logRange(lo, hi);
  const d = best.canvas.data;
  for (let i = 0; i < best.mask.length; i++) {
    if (!best.mask[i]) continue;
    for (let c = i * 3; c < i * 3 + 3; c++) d[c] = clean.data[c]! + k * (d[c]! - clean.data[c]!);
  }
  canvas.data.set(d);
  let count = 0;
  for (let i = 0; i < best.mask.length; i++) count += best.mask[i]!;
  return { type, mask: best.mask, area: count / (S * S) };
}
