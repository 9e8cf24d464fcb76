// Public entry of texad's anomaly-detection metrics: exact (scikit-learn-equal) AUROC, AP and F1-max, and MVTec AD's
// AUPRO, computed by AssemblyScript SIMD kernels with streaming, serialisable and mergeable state.
import {
  ImageMetrics,
  PixelMetrics,
  oneShot,
  type ImageMetricsResult,
  type LabelArray,
  type MetricsOptions,
  type PixelMetricsResult,
  type ScoreArray,
} from './accumulator.ts';

export { initMetrics } from './kernel.ts';
export { curveArea, type Curve, type CurveOptions } from './curves.ts';
export {
  ImageMetrics,
  PixelMetrics,
  deserializeMetrics,
  releaseMetricsMemory,
  type ImageMetricsResult,
  type LabelArray,
  type MetricName,
  type MetricsOptions,
  type PixelMetricsResult,
  type ScoreArray,
} from './accumulator.ts';

/** Largest chunk a one-shot call sorts at once; beyond it the scores stream through chunks of this size. */
const ONE_SHOT_CHUNK = 1 << 26;

/** A streaming accumulator for image-level metrics: add(scores, labels) any number of times, then compute(). */
export function createImageMetrics(options?: MetricsOptions): ImageMetrics {
  return new ImageMetrics(options);
}

/** A streaming accumulator for pixel-level metrics: add(scores, mask, height, width) per image, then compute(). */
export function createPixelMetrics(options?: MetricsOptions): PixelMetrics {
  return new PixelMetrics(options);
}

/** AUROC, AP and F1-max of scores against 0/1 labels in one call. */
export function imageMetrics(scores: ScoreArray, labels: LabelArray): ImageMetricsResult {
  const chunkSize = Math.min(Math.max(scores.length, 1), ONE_SHOT_CHUNK);
  return oneShot(new ImageMetrics({ chunkSize }), (acc) => acc.add(scores, labels).compute());
}

/** Pixel AUROC, AUPRO, AP and F1-max of k anomaly maps against their masks (k * height * width values each). */
export function pixelMetrics(scores: ScoreArray, masks: LabelArray, height: number, width: number): PixelMetricsResult {
  return oneShot(new PixelMetrics(), (acc) => acc.add(scores, masks, height, width).compute());
}

/** Exact AUROC (scikit-learn roc_auc_score); NaN when only one class is present. */
export function auroc(scores: ScoreArray, labels: LabelArray): number {
  return imageMetrics(scores, labels).auroc;
}
