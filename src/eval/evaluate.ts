// The evaluation harness: a protocol's images → a detector (pixels only) → exact metrics, pooled over the
// category and broken down per subclass on the evaluation side.
import type { DecodePool } from '../data/decode-pool.ts';
import { BatchLoader, loadImage, type Batch, type ByteSource } from '../data/loader.ts';
import type { Protocol, SampleRef } from '../data/protocol.ts';
import { seededShuffle } from '../data/random.ts';
import { type Detector, type ImageBatch, type TrainingImages } from '../methods/detector.ts';
import { createImageMetrics, createPixelMetrics, type Curve, type ImageMetrics, type PixelMetrics } from '../metrics/index.ts';

/**
 * Every metric texad reports, listed once: its key in results.json / MetricSet and its label in tables
 * (the paper's names where it has them). Order = column order.
 */
export const METRIC_LABELS = {
  imageAUROC: 'I-AUROC',
  pixelAUROC: 'P-AUROC',
  aupro: 'AUPRO',
  imageF1max: 'I-F1max',
  pixelF1max: 'P-F1max',
  imageAP: 'I-AP',
  pixelAP: 'P-AP',
} as const;
export type MetricKey = keyof typeof METRIC_LABELS;
export const METRIC_KEYS = Object.keys(METRIC_LABELS) as MetricKey[];

/** One evaluation: every metric (image- and pixel-level AUROC, AP, F1-max; AUPRO) and the image counts. */
export type MetricSet = Record<MetricKey, number> & { images: number; defective: number };

export interface HeatmapSample {
  id: string;
  subclass: string;
  defectType: string;
  label: 0 | 1;
  score: number;
  image: Float32Array;
  mask: Uint8Array;
  map: Float32Array;
  size: number;
}

/**
 * The pooled curves of one evaluation, read from the exact metric state and kept within CURVE_TOLERANCE of it,
 * and every test image's score by subclass and label (for the report's histograms).
 */
export interface EvaluationCurves {
  imageROC: Curve | null;
  pixelROC: Curve | null;
  pro: Curve | null;
  scores: Record<string, { good: number[]; defective: number[] }>;
}

/** How far (fraction of an axis) the report's curves may depart from the exact ones: far below a plotted pixel. */
export const CURVE_TOLERANCE = 1e-3;

export interface CategoryEvaluation {
  category: string;
  metrics: MetricSet;
  perSubclass: Record<string, MetricSet>;
  /** Score range of every map in the test set, for comparable heatmap colours. */
  mapRange: [number, number];
  heatmaps: HeatmapSample[];
  curves: EvaluationCurves;
  seconds: { predict: number };
  testImages: number;
}

function toImageBatch(b: Batch): ImageBatch {
  return { images: b.images, count: b.count, height: b.size, width: b.size };
}

export interface LoaderOptions {
  memoryBudget?: number;
  read?: ByteSource;
  /** Decode in these worker threads (BatchOptions.decodePool); the caller closes it. */
  decodePool?: DecodePool;
}

/** The method-facing view of a protocol's training split: pixels through the streaming loader, nothing else. */
export function trainingImages(protocol: Protocol, opts: LoaderOptions = {}): TrainingImages {
  return imagesOf(protocol, protocol.trainItems, opts);
}

/** The protocol's validation images (defect-free, held out from training) for FitOptions.validation. */
export function validationImages(protocol: Protocol, opts: LoaderOptions = {}): TrainingImages {
  return imagesOf(protocol, protocol.validationItems, opts);
}

/**
 * Auxiliary images from files (a method resource such as DRAEM's anomaly textures), decoded one batch at a time,
 * resized to `size` and centre-cropped like training images.
 */
export function fileImages(paths: readonly string[], opts: { read?: ByteSource } = {}): TrainingImages {
  return {
    count: paths.length,
    async *batches({ batchSize, size, crop, mode, shuffleSeed }) {
      const order = shuffleSeed === undefined ? paths : seededShuffle(paths, shuffleSeed);
      const side = crop ?? size;
      for (let start = 0; start < order.length; start += batchSize) {
        const picked = order.slice(start, start + batchSize);
        const images = new Float32Array(picked.length * 3 * side * side);
        for (let k = 0; k < picked.length; k++) {
          const image = await loadImage(picked[k]!, {
            size, crop: side, mode: mode ?? 'square', ...(opts.read ? { read: opts.read } : {}),
          });
          images.set(image.data, k * 3 * side * side);
        }
        yield { images, count: picked.length, height: side, width: side };
      }
    },
  };
}

function imagesOf(protocol: Protocol, refs: readonly SampleRef[], opts: LoaderOptions): TrainingImages {
  return {
    count: refs.length,
    async *batches({ batchSize, size, crop, mode, shuffleSeed }) {
      const order = shuffleSeed === undefined ? refs : seededShuffle(refs, shuffleSeed);
      const loader = new BatchLoader(protocol, order, { size, batchSize, ...(crop !== undefined ? { crop } : {}),
        ...(mode ? { mode } : {}), ...opts });
      for await (const b of loader) yield toImageBatch(b);
    },
  };
}

export interface EvaluateOptions extends LoaderOptions {
  /** Images per predict() call. */
  batchSize?: number;
  /** Defective (and half as many good) test images kept for heatmap panels. */
  heatmaps?: number;
  onProgress?: (done: number, total: number) => void;
}

class Accumulators {
  readonly image: ImageMetrics = createImageMetrics();
  readonly pixel: PixelMetrics = createPixelMetrics();
  images = 0;
  defective = 0;

  add(scores: Float32Array, labels: Uint8Array, maps: Float32Array, masks: Uint8Array, size: number): void {
    this.image.add(scores, labels);
    this.pixel.add(maps, masks, size, size);
    this.images += scores.length;
    for (const l of labels) this.defective += l;
  }

  result(): MetricSet {
    const i = this.image.compute();
    const p = this.pixel.compute();
    return {
      imageAUROC: i.auroc,
      pixelAUROC: p.auroc,
      aupro: p.aupro,
      imageF1max: i.f1max,
      pixelF1max: p.f1max,
      imageAP: i.ap,
      pixelAP: p.ap,
      images: this.images,
      defective: this.defective,
    };
  }
}

/**
 * Runs `detector` (already fitted) over the pooled test split, images and masks transformed the detector's way
 * (its resizeMode, `resize`, then the centre `crop`). The detector receives pixels only; labels, masks and
 * subclasses are looked up here, by id, for the metrics.
 */
export async function evaluate(
  protocol: Protocol,
  detector: Detector,
  resize: number,
  crop: number,
  opts: EvaluateOptions = {},
): Promise<CategoryEvaluation> {
  const started = performance.now();
  const refs = protocol.testItems;
  const loader = new BatchLoader(protocol, refs, {
    size: resize,
    crop,
    mode: detector.resizeMode,
    batchSize: opts.batchSize ?? 8,
    masks: true,
    ...(opts.memoryBudget ? { memoryBudget: opts.memoryBudget } : {}),
    ...(opts.read ? { read: opts.read } : {}),
    ...(opts.decodePool ? { decodePool: opts.decodePool } : {}),
  });
  const pooled = new Accumulators();
  const bySubclass = new Map<string, Accumulators>();
  const heatmaps: HeatmapSample[] = [];
  const scores: EvaluationCurves['scores'] = {};
  const wantDefective = opts.heatmaps ?? 0;
  const wantGood = Math.ceil(wantDefective / 2);
  let lo = Infinity;
  let hi = -Infinity;
  let done = 0;
  for await (const b of loader) {
    const batch = toImageBatch(b);
    const masks = b.masks!;
    const pred = await detector.predict(batch);
    if (pred.height !== crop || pred.width !== crop || pred.scores.length !== b.count) {
      throw new Error(`texad: ${detector.method}.predict returned ${pred.scores.length} scores and ${pred.height}x${pred.width} maps for ${b.count} images of ${crop}x${crop}`);
    }
    for (const v of pred.maps) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const px = crop * crop;
    const records = b.ids.map((id) => protocol.record(id));
    const labels = Uint8Array.from(records, (r) => r.label);
    pooled.add(pred.scores, labels, pred.maps, masks, crop);
    records.forEach((r, k) => {
      let acc = bySubclass.get(r.subclass);
      if (!acc) bySubclass.set(r.subclass, (acc = new Accumulators()));
      acc.add(pred.scores.subarray(k, k + 1), labels.subarray(k, k + 1), pred.maps.subarray(k * px, (k + 1) * px),
        masks.subarray(k * px, (k + 1) * px), crop);
      const bucket = (scores[r.subclass] ??= { good: [], defective: [] });
      (r.label ? bucket.defective : bucket.good).push(pred.scores[k]!);
      const kept = heatmaps.filter((h) => h.label === r.label).length;
      if (kept < (r.label ? wantDefective : wantGood)) {
        heatmaps.push({
          id: r.id, subclass: r.subclass, defectType: r.defectType, label: r.label, score: pred.scores[k]!,
          image: batch.images.slice(k * 3 * px, (k + 1) * 3 * px), mask: masks.slice(k * px, (k + 1) * px),
          map: pred.maps.slice(k * px, (k + 1) * px), size: crop,
        });
      }
    });
    done += b.count;
    opts.onProgress?.(done, refs.length);
  }
  const perSubclass: Record<string, MetricSet> = {};
  for (const name of [...bySubclass.keys()].sort()) perSubclass[name] = bySubclass.get(name)!.result();
  const metrics = pooled.result();
  const tolerance = CURVE_TOLERANCE;
  return {
    category: protocol.category,
    metrics,
    perSubclass,
    mapRange: [lo, hi],
    heatmaps,
    curves: {
      imageROC: pooled.image.rocCurve({ tolerance }),
      pixelROC: pooled.pixel.rocCurve({ tolerance }),
      pro: pooled.pixel.proCurve({ tolerance }),
      scores,
    },
    seconds: { predict: (performance.now() - started) / 1000 },
    testImages: refs.length,
  };
}
