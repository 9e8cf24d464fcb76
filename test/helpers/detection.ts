// Does a detector detect? A small, deterministic set of one texture with a planted, clear defect (a dark disc),
// checked the way a user reads results: every defective image scores above every normal image, and each defective
// image's anomaly map peaks inside its defect (a few pixels of tolerance). A flipped score sign, a transposed or
// mirrored map, or a map registered to the wrong pixels fails it. Used for SimpleNet (test/simplenet-detection.test.ts)
// and meant for the per-method conformance test: `await expectDetects(() => createDetector(rt, name, opts))`.
import { expect } from 'vitest';
import { Rng } from '../../src/data/random.ts';
import { SUBCLASSES } from '../../src/data/synth/catalogue.ts';
import { renderSurface } from '../../src/data/synth/generate.ts';
import { imagesInMemory, type Detector } from '../../src/methods/detector.ts';

export interface DetectsOptions {
  /** Defect-free training images (default 6). */
  train?: number;
  /** Defect-free validation images handed to fit() as FitOptions.validation (default 0: none given). */
  validation?: number;
  /**
   * Whether to check where the maps peak (default true). False for image-level methods (registry `pixelMaps:
   * false`), whose maps carry no location.
   */
  maps?: boolean;
  /** Normal and defective test images (default 3 each). */
  normal?: number;
  defective?: number;
  /** How far (pixels, Chebyshev) the map's maximum may lie outside the defect mask (default 4). */
  tolerance?: number;
  /** Seed of the generated images (default 7). */
  seed?: number;
  /**
   * How far the disc darkens the surface, 0 … 1 (default 0.5). Not near-black on purpose: a defect far outside
   * anything seen in training can drive a learned score to extremes of either sign, so a flipped sign could
   * still find it; a clear but moderate one is found only with the right sign.
   */
  depth?: number;
}

export interface PlantedSet {
  side: number;
  train: Float32Array[];
  validation: Float32Array[];
  /** Normal test images first, then defective ones. */
  test: Float32Array[];
  labels: number[];
  /** Per test image: the defect mask (all zero for normal images). */
  masks: Uint8Array[];
}

/**
 * Brushed-metal images of `side` pixels (CHW, [0, 1]); each defective image gets a dark disc of radius
 * side/14 at its own off-diagonal position (x ≠ y, so a transposed map points elsewhere).
 */
export function plantedSet(side: number, opts: DetectsOptions = {}): PlantedSet {
  const seed = opts.seed ?? 7;
  const design = SUBCLASSES.metal[0]!.design;
  const surface = (label: string, k: number): Float32Array => {
    const canvas = renderSurface(design, side, Rng.derive(seed, 'detects', label, k));
    const n = side * side;
    const chw = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) chw[c * n + i] = canvas.data[i * 3 + c]!;
    return chw;
  };
  const set: PlantedSet = { side, train: [], validation: [], test: [], labels: [], masks: [] };
  for (let k = 0; k < (opts.train ?? 6); k++) set.train.push(surface('train', k));
  for (let k = 0; k < (opts.validation ?? 0); k++) set.validation.push(surface('validation', k));
  const n = side * side;
  for (let k = 0; k < (opts.normal ?? 3); k++) {
    set.test.push(surface('normal', k));
    set.labels.push(0);
    set.masks.push(new Uint8Array(n));
  }
  const r = Math.max(3, side / 14);
  const depth = opts.depth ?? 0.5;
  const spots = [[0.72, 0.28], [0.25, 0.62], [0.6, 0.8], [0.35, 0.2]] as const;
  for (let k = 0; k < (opts.defective ?? 3); k++) {
    const img = surface('defective', k);
    const [fx, fy] = spots[k % spots.length]!;
    const cx = fx * side;
    const cy = fy * side;
    const mask = new Uint8Array(n);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        if (Math.hypot(x + 0.5 - cx, y + 0.5 - cy) > r) continue;
        mask[y * side + x] = 1;
        for (let c = 0; c < 3; c++) img[c * n + y * side + x]! += depth * (0.04 - img[c * n + y * side + x]!);
      }
    }
    set.test.push(img);
    set.labels.push(1);
    set.masks.push(mask);
  }
  return set;
}

export interface DetectsResult {
  scores: number[];
  labels: number[];
  /** Per defective image: the map's maximum (x, y) and its Chebyshev distance to the nearest defect pixel. */
  peaks: { x: number; y: number; distance: number }[];
}

function distanceToMask(mask: Uint8Array, side: number, x: number, y: number): number {
  let best = Infinity;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) best = Math.min(best, Math.max(Math.abs((i % side) - x), Math.abs(Math.floor(i / side) - y)));
  }
  return best;
}

/**
 * Fits the detector from `make()` on the planted set's training images (at its inputSize) and asserts that it
 * detects: defective scores above every normal score, and (unless `maps: false`) every defective map's maximum
 * within `tolerance` pixels of the defect. Disposes the detector; returns what it measured for messages and reports.
 */
export async function expectDetects(make: () => Detector | Promise<Detector>, opts: DetectsOptions = {}): Promise<DetectsResult> {
  const detector = await make();
  try {
    const side = detector.inputSize;
    const set = plantedSet(side, opts);
    await detector.fit(imagesInMemory(set.train, side),
      set.validation.length > 0 ? { validation: imagesInMemory(set.validation, side) } : {});
    const batch = new Float32Array(set.test.length * 3 * side * side);
    set.test.forEach((img, k) => batch.set(img, k * 3 * side * side));
    const pred = await detector.predict({ images: batch, count: set.test.length, height: side, width: side });
    expect(pred.height, `${detector.method}: map height`).toBe(side);
    expect(pred.width, `${detector.method}: map width`).toBe(side);
    const scores = Array.from(pred.scores);
    const peaks: DetectsResult['peaks'] = [];
    set.labels.forEach((label, k) => {
      if (!label) return;
      const map = pred.maps.subarray(k * side * side, (k + 1) * side * side);
      let at = 0;
      for (let i = 1; i < map.length; i++) if (map[i]! > map[at]!) at = i;
      const x = at % side;
      const y = Math.floor(at / side);
      peaks.push({ x, y, distance: distanceToMask(set.masks[k]!, side, x, y) });
    });
    const normal = scores.filter((_, k) => !set.labels[k]);
    const defective = scores.filter((_, k) => set.labels[k]);
    const result = { scores, labels: set.labels, peaks };
    const detail = `scores normal [${normal.map((s) => s.toPrecision(4)).join(', ')}], defective ` +
      `[${defective.map((s) => s.toPrecision(4)).join(', ')}]`;
    expect(Math.min(...defective), `${detector.method}: every defective image must score above every normal one; ${detail}`)
      .toBeGreaterThan(Math.max(...normal));
    const tolerance = opts.tolerance ?? 4;
    if (opts.maps === false) return result;
    peaks.forEach((p, k) => {
      expect(p.distance, `${detector.method}: defective image ${k}'s map peaks at (x ${p.x}, y ${p.y}), ${p.distance} px ` +
        `from its defect (tolerance ${tolerance} px)`).toBeLessThanOrEqual(tolerance);
    });
    return result;
  } finally {
    detector.dispose();
  }
}
