// Reference detectors: two deliberately trivial anomaly detectors, CPU only, that set the floor a benchmark's data
// must hold them to. If colour/contrast statistics of small patches, or the global colour distribution, separate
// defective from good test images, the data measures those statistics rather than anomaly detection. They calibrate
// the synthetic Texture-AD (`npm run calibrate`, README "Datasets") and are printed as a floor next to every run's
// figures (src/report). They implement the Detector interface so the evaluation harness and the detection tests treat
// them like methods, but they are not methods: they are not in the registry and `texad run --method` cannot pick them.
import type { Protocol } from '../data/protocol.ts';
import { Rng } from '../data/random.ts';
import type { Detector, DetectorState, FitReport, ImageBatch, Prediction, TrainingImages } from '../methods/detector.ts';
import { gaussianKernel1d } from '../ops/filter.ts';
import { evaluate, trainingImages, type MetricSet } from './evaluate.ts';

/** Side of the square patches and the step between them, in pixels of the detector's input. */
const PATCH = 6;
const STRIDE = 3;
/** Patch statistics: mean and std of R, G, B, mean absolute horizontal and vertical difference of R. */
const DIMS = 8;

function patchGrid(side: number): number {
  if (side < PATCH) throw new Error(`texad: reference patch-knn needs images of at least ${PATCH}px, got ${side}px`);
  return Math.floor((side - PATCH) / STRIDE) + 1;
}

/** The 8 statistics of every PATCH×PATCH patch on a STRIDE grid of one CHW image of side S. */
export function patchStatistics(img: Float32Array, S: number): Float32Array {
  const grid = patchGrid(S);
  const out = new Float32Array(grid * grid * DIMS);
  const n = S * S;
  const area = PATCH * PATCH;
  for (let gy = 0; gy < grid; gy++) {
    for (let gx = 0; gx < grid; gx++) {
      const f = (gy * grid + gx) * DIMS;
      for (let c = 0; c < 3; c++) {
        let s = 0;
        let s2 = 0;
        for (let y = 0; y < PATCH; y++) {
          for (let x = 0; x < PATCH; x++) {
            const v = img[c * n + (gy * STRIDE + y) * S + gx * STRIDE + x]!;
            s += v;
            s2 += v * v;
          }
        }
        out[f + c] = s / area;
        out[f + 3 + c] = Math.sqrt(Math.max(0, s2 / area - (s / area) ** 2));
      }
      let dx = 0;
      let dy = 0;
      for (let y = 0; y < PATCH - 1; y++) {
        for (let x = 0; x < PATCH - 1; x++) {
          const o = (gy * STRIDE + y) * S + gx * STRIDE + x;
          dx += Math.abs(img[o + 1]! - img[o]!);
          dy += Math.abs(img[o + S]! - img[o]!);
        }
      }
      out[f + 6] = dx / ((PATCH - 1) * (PATCH - 1));
      out[f + 7] = dy / ((PATCH - 1) * (PATCH - 1));
    }
  }
  return out;
}

function checkBatch(name: string, batch: ImageBatch, side: number): void {
  if (batch.height !== side || batch.width !== side || batch.images.length !== batch.count * 3 * side * side) {
    throw new Error(`texad: reference ${name} was built for ${side}x${side} images; got a batch of ${batch.count} ` +
      `${batch.height}x${batch.width} (${batch.images.length} values)`);
  }
}

function checkState(name: string, state: DetectorState, side: number): void {
  if (state.method !== name || state.config['size'] !== side) {
    throw new Error(`texad: cannot restore a '${state.method}' state of size ${String(state.config['size'])} into reference ${name} of size ${side}`);
  }
}

/** Flat-field sigma of the 'patch-knn-flat' reference, as a fraction of the side (the methods' quick presets' value). */
export const FLAT_FIELD_SIGMA = 1 / 16;

/**
 * The CPU twin of src/methods/components/illumination.ts (normalizeIllumination), for the CPU-only reference
 * detectors: per channel, x over its Gaussian blur (scipy's gaussian_filter, mode 'reflect', radius round(4 sigma),
 * floored at 1e-3), standardised over the plane, mapped to 0.5 + 0.2 z. test/illumination.test.ts holds the two
 * together.
 */
export function normalizeIlluminationCpu(img: Float32Array, S: number, sigmaFraction: number): Float32Array {
  const sigma = sigmaFraction * S;
  const radius = Math.floor(4 * sigma + 0.5);
  if (!(sigma > 0) || radius >= S) throw new Error(`texad: normalizeIlluminationCpu: sigma ${sigmaFraction} of ${S} px does not fit the image`);
  const taps = gaussianKernel1d(sigma, radius);
  const reflect = (i: number) => (i < 0 ? -i - 1 : i >= S ? 2 * S - i - 1 : i);
  const n = S * S;
  const out = new Float32Array(img.length);
  const rows = new Float64Array(n);
  for (let c = 0; c < img.length / n; c++) {
    const x = img.subarray(c * n, (c + 1) * n);
    for (let y = 0; y < S; y++) for (let u = 0; u < S; u++) {
      let acc = 0;
      for (let t = -radius; t <= radius; t++) acc += taps[t + radius]! * x[y * S + reflect(u + t)]!;
      rows[y * S + u] = acc;
    }
    const ratio = new Float64Array(n);
    let mean = 0;
    for (let y = 0; y < S; y++) for (let u = 0; u < S; u++) {
      let acc = 0;
      for (let t = -radius; t <= radius; t++) acc += taps[t + radius]! * rows[reflect(y + t) * S + u]!;
      ratio[y * S + u] = x[y * S + u]! / Math.max(acc, 1e-3);
      mean += ratio[y * S + u]! / n;
    }
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (ratio[i]! - mean) ** 2 / n;
    const scale = 0.2 / Math.sqrt(variance + 1e-6);
    for (let i = 0; i < n; i++) out[c * n + i] = 0.5 + (ratio[i]! - mean) * scale;
  }
  return out;
}

/**
 * Nearest-neighbour distance of 8-dimensional patch statistics to a bank of training patches (the detector of
 * issue 15): image score = the largest patch distance, map = each pixel's nearest patch distance. With
 * `flatField`, every image is illumination-normalised first (normalizeIlluminationCpu): the floor for methods
 * that normalise their inputs the same way.
 */
export class PatchStatsKnn implements Detector {
  readonly method: string;
  readonly trainingUnit = 'epochs';
  /** Inputs at their own (square) size: nothing to resize. */
  readonly resizeMode = 'square' as const;
  readonly resize: number;
  readonly inputSize: number;
  #bank = new Float32Array(0);

  /** `bank` patches are drawn (seeded) from all training patches. */
  constructor(readonly size: number, readonly bank = 2000, readonly seed = 0, readonly flatField = false) {
    patchGrid(size);
    this.method = flatField ? 'patch-knn-flat' : 'patch-knn';
    this.resize = size;
    this.inputSize = size;
  }

  private statistics(images: Float32Array, k: number): Float32Array {
    const S = this.size;
    const img = images.subarray(k * 3 * S * S, (k + 1) * 3 * S * S);
    return patchStatistics(this.flatField ? normalizeIlluminationCpu(img, S, FLAT_FIELD_SIGMA) : img, S);
  }

  async fit(train: TrainingImages): Promise<FitReport> {
    const start = performance.now();
    const all: Float32Array[] = [];
    const S = this.size;
    for await (const b of train.batches({ batchSize: 8, size: S })) {
      checkBatch(this.method, b, S);
      for (let k = 0; k < b.count; k++) all.push(this.statistics(b.images, k));
    }
    const perImage = patchGrid(S) ** 2;
    const total = all.length * perImage;
    if (total === 0) throw new Error('texad: reference patch-knn got no training images');
    // A seeded partial Fisher-Yates over patch indices: the same bank on every runtime.
    const rng = new Rng(this.seed, 0x6b6e6e);
    const idx = Int32Array.from({ length: total }, (_, i) => i);
    const n = Math.min(this.bank, total);
    this.#bank = new Float32Array(n * DIMS);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(rng.next() * (total - i));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      const p = idx[i]!;
      this.#bank.set(all[Math.floor(p / perImage)]!.subarray((p % perImage) * DIMS, (p % perImage + 1) * DIMS), i * DIMS);
    }
    return { length: 0, unit: 'epochs', seconds: (performance.now() - start) / 1000, finalLoss: 0 };
  }

  async predict(batch: ImageBatch): Promise<Prediction> {
    const S = this.size;
    checkBatch(this.method, batch, S);
    if (this.#bank.length === 0) throw new Error('texad: reference patch-knn: predict() before fit()');
    const grid = patchGrid(S);
    const bank = this.#bank;
    const scores = new Float32Array(batch.count);
    const maps = new Float32Array(batch.count * S * S);
    const dist = new Float32Array(grid * grid);
    // Pixel → the patch whose centre is nearest.
    const cell = Int32Array.from({ length: S }, (_, x) =>
      Math.min(grid - 1, Math.max(0, Math.round((x + 0.5 - PATCH / 2) / STRIDE))));
    for (let k = 0; k < batch.count; k++) {
      const f = this.statistics(batch.images, k);
      let worst = 0;
      for (let p = 0; p < grid * grid; p++) {
        let best = Infinity;
        for (let q = 0; q < bank.length; q += DIMS) {
          let d = 0;
          for (let j = 0; j < DIMS; j++) d += (f[p * DIMS + j]! - bank[q + j]!) ** 2;
          if (d < best) best = d;
        }
        dist[p] = Math.sqrt(best);
        if (dist[p]! > worst) worst = dist[p]!;
      }
      scores[k] = worst;
      const m = maps.subarray(k * S * S, (k + 1) * S * S);
      for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) m[y * S + x] = dist[cell[y]! * grid + cell[x]!]!;
    }
    return { scores, maps, height: S, width: S };
  }

  async state(): Promise<DetectorState> {
    return { method: this.method, training: {}, config: { size: this.size, bank: this.bank, seed: this.seed, flatField: this.flatField },
      tensors: { bank: { shape: [this.#bank.length / DIMS, DIMS], data: this.#bank.slice() } } };
  }

  async restore(state: DetectorState): Promise<void> {
    checkState(this.method, state, this.size);
    this.#bank = state.tensors['bank']!.data.slice();
  }

  dispose(): void {
    this.#bank = new Float32Array(0);
  }
}

/** Bins per channel of the joint RGB histogram. */
const BINS = 8;

function binOf(img: Float32Array, n: number, i: number): number {
  const q = (v: number) => Math.min(BINS - 1, Math.max(0, Math.floor(v * BINS)));
  return (q(img[i]!) * BINS + q(img[n + i]!)) * BINS + q(img[2 * n + i]!);
}

function histogram(img: Float32Array, n: number): Float32Array {
  const h = new Float32Array(BINS ** 3);
  for (let i = 0; i < n; i++) h[binOf(img, n, i)]! += 1 / n;
  return h;
}

/**
 * Global colour distribution: image score = chi-squared distance of the image's joint RGB histogram (8 bins per
 * channel) to the nearest training image's; map = each pixel's colour rarity, -log of its bin's share of all
 * training pixels.
 */
export class ColourHistogram implements Detector {
  readonly method = 'colour-histogram';
  readonly trainingUnit = 'epochs';
  readonly resizeMode = 'square' as const;
  readonly resize: number;
  readonly inputSize: number;
  #train: Float32Array[] = [];

  constructor(readonly size: number) {
    this.resize = size;
    this.inputSize = size;
  }

  async fit(train: TrainingImages): Promise<FitReport> {
    const start = performance.now();
    const S = this.size;
    this.#train = [];
    for await (const b of train.batches({ batchSize: 8, size: S })) {
      checkBatch(this.method, b, S);
      for (let k = 0; k < b.count; k++) this.#train.push(histogram(b.images.subarray(k * 3 * S * S, (k + 1) * 3 * S * S), S * S));
    }
    if (this.#train.length === 0) throw new Error('texad: reference colour-histogram got no training images');
    return { length: 0, unit: 'epochs', seconds: (performance.now() - start) / 1000, finalLoss: 0 };
  }

  async predict(batch: ImageBatch): Promise<Prediction> {
    const S = this.size;
    const n = S * S;
    checkBatch(this.method, batch, S);
    if (this.#train.length === 0) throw new Error('texad: reference colour-histogram: predict() before fit()');
    const pooled = new Float32Array(BINS ** 3);
    for (const h of this.#train) for (let b = 0; b < h.length; b++) pooled[b]! += h[b]! / this.#train.length;
    const rarity = pooled.map((p) => -Math.log(p + 1e-6));
    const scores = new Float32Array(batch.count);
    const maps = new Float32Array(batch.count * n);
    for (let k = 0; k < batch.count; k++) {
      const img = batch.images.subarray(k * 3 * n, (k + 1) * 3 * n);
      const h = histogram(img, n);
      let best = Infinity;
      for (const t of this.#train) {
        let d = 0;
        for (let b = 0; b < h.length; b++) {
          const s = h[b]! + t[b]!;
          if (s > 0) d += (h[b]! - t[b]!) ** 2 / s;
        }
        if (d < best) best = d;
      }
      scores[k] = best;
      for (let i = 0; i < n; i++) maps[k * n + i] = rarity[binOf(img, n, i)]!;
    }
    return { scores, maps, height: S, width: S };
  }

  async state(): Promise<DetectorState> {
    const data = new Float32Array(this.#train.length * BINS ** 3);
    this.#train.forEach((h, i) => data.set(h, i * BINS ** 3));
    return { method: this.method, training: {}, config: { size: this.size },
      tensors: { histograms: { shape: [this.#train.length, BINS ** 3], data } } };
  }

  async restore(state: DetectorState): Promise<void> {
    checkState(this.method, state, this.size);
    const t = state.tensors['histograms']!;
    this.#train = Array.from({ length: t.shape[0]! }, (_, i) => t.data.slice(i * BINS ** 3, (i + 1) * BINS ** 3));
  }

  dispose(): void {
    this.#train = [];
  }
}

/**
 * The side, in pixels, that `texad run` resizes every image to (squared) for the reference floor: the tiny
 * synthetic preset's own size, so a tiny run's floor equals the calibration table's, and enough for trivial
 * statistics on larger images at a cost that stays small next to any method.
 */
export const REFERENCE_SIZE = 128;

/**
 * The detectors the synthetic data is calibrated against (their image AUROC held at or below 0.70 on tiny; README
 * "Datasets"). 'patch-knn-flat' is reported beside them, not held: illumination normalisation removes most of the
 * test-time optical shift, so it is the floor for methods that normalise their inputs the same way.
 */
export const CALIBRATION_DETECTORS = ['patch-knn', 'colour-histogram'] as const;

/** The reference detectors by name, each built for square inputs of `size` pixels. */
export const REFERENCE_DETECTORS: Record<string, (size: number) => Detector> = {
  'patch-knn': (size) => new PatchStatsKnn(size),
  'colour-histogram': (size) => new ColourHistogram(size),
  'patch-knn-flat': (size) => new PatchStatsKnn(size, 2000, 0, true),
};

/**
 * Fits every reference detector on `protocol`'s training images and evaluates it on its test images at `size`
 * pixels: the floor a method's figures on the same data have to be read against.
 */
export async function referenceFloor(protocol: Protocol, size: number): Promise<Record<string, MetricSet>> {
  const out: Record<string, MetricSet> = {};
  for (const [name, make] of Object.entries(REFERENCE_DETECTORS)) {
    const detector = make(size);
    try {
      await detector.fit(trainingImages(protocol));
      out[name] = (await evaluate(protocol, detector, size, size)).metrics;
    } finally {
      detector.dispose();
    }
  }
  return out;
}
