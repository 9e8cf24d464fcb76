// The evaluation harness: a protocol's images → a detector (pixels only) → exact metrics, pooled over the
// category and broken down per subclass on the evaluation side.
import { BatchLoader, loadImage, type Batch, type ByteSource } from '../data/loader.ts';
import type { Protocol, SampleRef } from '../data/protocol.ts';
import { seededShuffle } from '../data/random.ts';
import { type Detector, type ImageBatch, type TrainingImages } from '../methods/detector.ts';
import { createImageMetrics, createPixelMetrics, type ImageMetrics, type PixelMetrics } from '../metrics/index.ts';

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

/** The metrics computed from anomaly maps: undefined for a method without maps (registry `pixelMaps: false`). */
export const PIXEL_METRICS: readonly MetricKey[] = ['pixelAUROC', 'aupro', 'pixelF1max', 'pixelAP'];

/** `m` with its pixel metrics set to NaN (written as null in results.json), for a method without anomaly maps. */
export function withoutPixelMetrics(m: MetricSet): MetricSet {
  return { ...m, ...Object.fromEntries(PIXEL_METRICS.map((k) => [k, NaN])) };
}

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

export interface CategoryEvaluation {
  category: string;
  metrics: MetricSet;
  perSubclass: Record<string, MetricSet>;
  /** Score range of every map in the test set, for comparable heatmap colours. */
  mapRange: [number, number];
  heatmaps: HeatmapSample[];
  seconds: { predict: number };
  testImages: number;
}

/** Crops the centre `crop` x `crop` of square planes of side `size` (channels-first, `planes` per image). */
export function centreCrop<T extends Float32Array | Uint8Array>(data: T, count: number, planes: number, size: number, crop: number): T {
  if (crop === size) return data;
  if (crop > size) throw new Error(`texad: cannot centre-crop ${size}px images to ${crop}px`);
  const off = Math.floor((size - crop) / 2);
  const out = new (data.constructor as new (n: number) => T)(count * planes * crop * crop);
  for (let p = 0; p < count * planes; p++) {
    for (let y = 0; y < crop; y++) {
      const src = p * size * size + (y + off) * size + off;
      out.set(data.subarray(src, src + crop), p * crop * crop + y * crop);
    }
  }
  return out;
}

function toImageBatch(b: Batch, crop: number): ImageBatch {
  return { images: centreCrop(b.images, b.count, 3, b.size, crop), count: b.count, height: crop, width: crop };
}

export interface LoaderOptions {
  memoryBudget?: number;
  read?: ByteSource;
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
    async *batches({ batchSize, size, crop, shuffleSeed }) {
      const order = shuffleSeed === undefined ? paths : seededShuffle(paths, shuffleSeed);
      for (let start = 0; start < order.length; start += batchSize) {
        const picked = order.slice(start, start + batchSize);
        const images = new Float32Array(picked.length * 3 * size * size);
        for (let k = 0; k < picked.length; k++) {
          images.set((await loadImage(picked[k]!, { size, ...(opts.read ? { read: opts.read } : {}) })).data, k * 3 * size * size);
        }
        const side = crop ?? size;
        yield { images: centreCrop(images, picked.length, 3, size, side), count: picked.length, height: side, width: side };
      }
    },
  };
}

function imagesOf(protocol: Protocol, refs: readonly SampleRef[], opts: LoaderOptions): TrainingImages {
  return {
    count: refs.length,
    async *batches({ batchSize, size, crop, shuffleSeed }) {
      const order = shuffleSeed === undefined ? refs : seededShuffle(refs, shuffleSeed);
      const loader = new BatchLoader(protocol, order, { size, batchSize, ...opts });
      for await (const b of loader) yield toImageBatch(b, crop ?? size);
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
 * Runs `detector` (already fitted) over the pooled test split. The detector receives pixels only; labels,
 * masks and subclasses are looked up here, by id, for the metrics.
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
    batchSize: opts.batchSize ?? 8,
    masks: true,
    ...(opts.memoryBudget ? { memoryBudget: opts.memoryBudget } : {}),
    ...(opts.read ? { read: opts.read } : {}),
  });
  const pooled = new Accumulators();
  const bySubclass = new Map<string, Accumulators>();
  const heatmaps: HeatmapSample[] = [];
  const wantDefective = opts.heatmaps ?? 0;
  const wantGood = Math.ceil(wantDefective / 2);
  let lo = Infinity;
  let hi = -Infinity;
  let done = 0;
  for await (const b of loader) {
    const batch = toImageBatch(b, crop);
    const masks = centreCrop(b.masks!, b.count, 1, b.size, crop);
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
  return {
    category: protocol.category,
    metrics: pooled.result(),
    perSubclass,
    mapRange: [lo, hi],
    heatmaps,
    seconds: { predict: (performance.now() - started) / 1000 },
    testImages: refs.length,
  };
}
