// Anomaly-map post-processing shared by the methods: a low-resolution score grid becomes a map at the input size
// (bilinear, align_corners=False as F.interpolate), smoothed by a Gaussian of the official sigma, and per-image
// scores come from a reducer over the grid or the map.
import { gaussianBlur } from '../../ops/filter.ts';
import { resizeBilinear } from '../../ops/resize.ts';
import type { Tensor } from '../../runtime/tensor.ts';

/**
 * Score grid [B, 1, h, w] → map [B, 1, height, width]: bilinear upsampling, then a Gaussian blur of `sigma` pixels
 * (truncated at 4 sigma like scipy.ndimage.gaussian_filter; sigma 0 = no blur).
 */
export function anomalyMap(grid: Tensor, size: [number, number], sigma: number): Tensor {
  if (grid.shape.length !== 4 || grid.shape[1] !== 1) {
    throw new Error(`texad: anomalyMap wants a score grid [B, 1, h, w], got [${grid.shape.join(', ')}]`);
  }
  if (!(sigma >= 0)) throw new Error(`texad: anomalyMap sigma must be >= 0, got ${sigma}`);
  const up = resizeBilinear(grid, size, { alignCorners: false });
  return sigma > 0 ? gaussianBlur(up, sigma) : up;
}

/** How an image score is drawn from its values: the maximum, or the mean of the k largest (e.g. PatchCore-style). */
export type ScoreReducer = { kind: 'max' } | { kind: 'top-k-mean'; k: number };

/**
 * Per-image scores of `values` holding `count` images of equal size: max, or the mean (in float64) of the k largest
 * values. Exact, so the same grid gives the same score whichever runtime computed it.
 */
export function imageScores(values: Float32Array, count: number, reducer: ScoreReducer): Float32Array {
  if (count <= 0 || values.length % count !== 0) {
    throw new Error(`texad: imageScores: ${values.length} values do not split into ${count} images`);
  }
  const per = values.length / count;
  if (reducer.kind === 'top-k-mean' && !(Number.isInteger(reducer.k) && reducer.k >= 1 && reducer.k <= per)) {
    throw new Error(`texad: imageScores: top-k-mean k must be an integer in [1, ${per}] (values per image), got ${reducer.k}`);
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const image = values.subarray(i * per, (i + 1) * per);
    if (reducer.kind === 'max') {
      let m = -Infinity;
      for (const v of image) m = v > m || Number.isNaN(v) ? v : m;
      out[i] = m;
    } else {
      const top = Float32Array.from(image).sort().subarray(per - reducer.k);
      let s = 0;
      for (const v of top) s += v;
      out[i] = s / reducer.k;
    }
  }
  return out;
}
