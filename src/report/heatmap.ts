// Figure-6-style panels: input image | ground truth | anomaly map over the image.
import { encodePng } from '../data/encode.ts';

/** Jet-like colour ramp (blue → cyan → yellow → red) for v in [0, 1]. */
export function jet(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, v));
  const r = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 3)));
  const g = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 2)));
  const b = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 1)));
  return [r, g, b];
}

export interface PanelInput {
  /** CHW RGB in [0, 1], `height x width`. */
  image: Float32Array;
  /** 0/1 per pixel, or null for a normal image (drawn black). */
  mask: Uint8Array | null;
  /** Anomaly scores per pixel, same size as the image. */
  map: Float32Array;
  height: number;
  width: number;
  /** Scores mapped to the colour ramp's ends: the same range for every panel of a report keeps them comparable. */
  range: [number, number];
}

const GAP = 4;

/** Renders the three-panel strip as PNG bytes. */
export function renderPanel(p: PanelInput): Uint8Array {
  const { height: h, width: w } = p;
  const n = h * w;
  if (p.image.length !== 3 * n || p.map.length !== n || (p.mask && p.mask.length !== n)) {
    throw new Error(`texad: heatmap panel sizes disagree with ${h}x${w}`);
  }
  const outW = 3 * w + 2 * GAP;
  const out = new Uint8Array(outW * h * 3).fill(255);
  const [lo, hi] = p.range;
  const span = hi > lo ? hi - lo : 1;
  const put = (x: number, y: number, r: number, g: number, b: number) => {
    const o = (y * outW + x) * 3;
    out[o] = Math.round(255 * r);
    out[o + 1] = Math.round(255 * g);
    out[o + 2] = Math.round(255 * b);
  };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const r = p.image[i]!;
      const g = p.image[n + i]!;
      const b = p.image[2 * n + i]!;
      put(x, y, r, g, b);
      const m = p.mask?.[i] ? 1 : 0;
      put(w + GAP + x, y, m, m, m);
      const [hr, hg, hb] = jet((p.map[i]! - lo) / span);
      // Half-transparent overlay, as in the paper's figures.
      put(2 * (w + GAP) + x, y, 0.5 * r + 0.5 * hr, 0.5 * g + 0.5 * hg, 0.5 * b + 0.5 * hb);
    }
  }
  return encodePng(out, outW, h, 3);
}
