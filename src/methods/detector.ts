// The one interface through which the CLI and apps touch a method. Methods see images only: never subclass
// labels, defect types or masks.
import { seededShuffle } from '../data/random.ts';
import type { ResizeMode } from '../data/image.ts';

export type { ResizeMode } from '../data/image.ts';

/** A batch of RGB images, NCHW planes in [0, 1]: `images.length === count * 3 * height * width`. */
export interface ImageBatch {
  images: Float32Array;
  count: number;
  height: number;
  width: number;
}

/** Training images as a method sees them: pixels only, delivered at the size the method asks for. */
export interface TrainingImages {
  readonly count: number;
  /**
   * Yields batches of `batchSize` (the last may be smaller), images resized to `size` (as `mode` says, default
   * 'square') and, with `crop`, centre-cropped to `crop` x `crop`; reshuffled per call when `shuffleSeed` is set.
   */
  batches(opts: { batchSize: number; size: number; crop?: number; mode?: ResizeMode; shuffleSeed?: number }): AsyncIterable<ImageBatch>;
}

/** How a method counts training: passes over the training set, or optimizer steps. */
export type TrainingUnit = 'epochs' | 'iterations';

export interface Progress {
  phase: 'features' | 'train' | 'predict';
  /** Work done and total in this phase: images while extracting features, `unit`s while training. */
  done: number;
  total: number;
  /** What `done` counts in the 'train' phase (the detector's trainingUnit). */
  unit?: TrainingUnit;
  /** Latest training loss, when known. */
  loss?: number;
}

export interface FitOptions {
  /** Overrides the preset's training length, in the detector's `trainingUnit` (epochs or iterations). */
  length?: number;
  /**
   * Held-out defect-free images, given when the method's registry entry asks for validation (`validation: true`);
   * e.g. EfficientAD normalises its maps on them. Under the Texture-AD protocol without a validation split these are
   * a seeded 10% of the good training images, which `train` then does not contain (src/data/protocol.ts
   * holdOutValidation).
   */
  validation?: TrainingImages;
  onProgress?: (p: Progress) => void;
  /** Aborting stops training at the next step boundary with an AbortError; the model keeps its last state. */
  signal?: AbortSignal;
  /**
   * Called at each checkpoint boundary (after every epoch, or every so many iterations as the method documents) with
   * the units done; a long fit persists itself here (state()) so an interrupted run can resume with `start`.
   */
  onCheckpoint?: (done: number) => Promise<void>;
  /** Units already done: a fit resumed after restore() of a state written at onCheckpoint(start). */
  start?: number;
}

export interface FitReport {
  /** Training length run, in `unit`s (including any done before a resume). */
  length: number;
  unit: TrainingUnit;
  seconds: number;
  finalLoss: number;
}

/** Per-image scores (higher = more anomalous) and anomaly maps at the method's input resolution. */
export interface Prediction {
  scores: Float32Array;
  /**
   * [count, height, width]. A method without anomaly maps (registry entry `pixelMaps: false`, e.g. Mean-Shift) fills
   * each image's map with its score, so the evaluator's shapes hold and heatmaps show the score as one colour.
   */
  maps: Float32Array;
  height: number;
  width: number;
}

/**
 * A method's complete state (written as one safetensors file by src/methods/checkpoint.ts): JSON `config` and
 * `training`, and named float32 tensors.
 */
export interface DetectorState {
  method: string;
  /** Hyper-parameters only, under the official names: what results.json reports as the configuration run. */
  config: Record<string, unknown>;
  /**
   * What fit() counted or measured besides tensors: optimizer bookkeeping (src/methods/checkpoint.ts
   * packOptimizerState; the moments themselves go to `tensors`), step counters, statistics of the training data
   * (e.g. SimpleNet's noise_std_effective). Needed to resume or to predict identically; not a hyper-parameter.
   */
  training: Record<string, unknown>;
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
}

export interface Detector {
  readonly method: string;
  /**
   * The method's official input transform: images are resized to `resize` the `resizeMode` way ('shorter-side':
   * torchvision Resize(resize); 'square': Resize((resize, resize))), then centre-cropped to `inputSize` x
   * `inputSize`. Every method declares the mode its official code uses (README "Methods").
   */
  readonly resizeMode: ResizeMode;
  readonly resize: number;
  readonly inputSize: number;
  /** What FitOptions.length/start and Progress.done count while training. */
  readonly trainingUnit: TrainingUnit;
  fit(train: TrainingImages, opts?: FitOptions): Promise<FitReport>;
  predict(batch: ImageBatch): Promise<Prediction>;
  /** Everything needed to rebuild the trained detector; see saveDetector/loadDetector for files. */
  state(): Promise<DetectorState>;
  /** Restores a state() of the same method and configuration (throws naming the mismatch otherwise). */
  restore(state: DetectorState): Promise<void>;
  dispose(): void;
}

/** Thrown by fit() when its signal aborts. */
export class AbortError extends Error {
  constructor(what: string) {
    super(`texad: ${what} was aborted`);
    this.name = 'AbortError';
  }
}

/** Throws an AbortError naming `what` (e.g. 'SimpleNet training') once `signal` has aborted; call at step boundaries. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(what);
}

/**
 * TrainingImages over images already in memory at the detector's input size (`inputSize` x `inputSize`, CHW
 * RGB in [0, 1]), e.g. decoded in a browser. Shuffling uses `shuffleSeed` like the file loader.
 */
export function imagesInMemory(images: readonly Float32Array[], side: number): TrainingImages {
  images.forEach((img, i) => {
    if (img.length !== 3 * side * side) {
      throw new Error(`texad: image ${i} has ${img.length} values; expected 3 x ${side} x ${side} (CHW RGB at the detector's inputSize)`);
    }
  });
  return {
    count: images.length,
    async *batches({ batchSize, size, crop, shuffleSeed }) {
      if ((crop ?? size) !== side) {
        throw new Error(`texad: the detector wants ${crop ?? size}px inputs; these images are ${side}px (resize them to inputSize first)`);
      }
      const indices = images.map((_, i) => i);
      const order = shuffleSeed === undefined ? indices : seededShuffle(indices, shuffleSeed);
      for (let start = 0; start < order.length; start += batchSize) {
        const picked = order.slice(start, start + batchSize);
        const out = new Float32Array(picked.length * 3 * side * side);
        picked.forEach((idx, k) => out.set(images[idx]!, k * 3 * side * side));
        yield { images: out, count: picked.length, height: side, width: side };
      }
    },
  };
}
