// The one interface through which the CLI and apps touch a method. Methods see images only: never subclass
// labels, defect types or masks.
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

export interface Progress {
  phase: 'features' | 'train' | 'predict';
  /** Work done and total in this phase (e.g. epochs, images). */
  done: number;
  total: number;
  /** Latest training loss, when known. */
  loss?: number;
}

export interface FitOptions {
  /** Overrides the preset's epoch count. */
  epochs?: number;
  onProgress?: (p: Progress) => void;
  /** Aborting stops training at the next step boundary with an AbortError; the model keeps its last state. */
  signal?: AbortSignal;
  /**
   * Called after each epoch with the epoch number; a long fit persists itself here (save()) so an interrupted
   * run can resume with `startEpoch`.
   */
  onEpochEnd?: (epoch: number) => Promise<void>;
  /** First epoch to run (a resumed fit after load()). */
  startEpoch?: number;
}

export interface FitReport {
  epochs: number;
  seconds: number;
  finalLoss: number;
}

/** Per-image scores (higher = more anomalous) and anomaly maps at the method's input resolution. */
export interface Prediction {
  scores: Float32Array;
  /** [count, height, width] */
  maps: Float32Array;
  height: number;
  width: number;
}

/** A method's complete state: its JSON config and named float32 tensors (written as safetensors). */
export interface DetectorState {
  method: string;
  config: Record<string, unknown>;
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

/** A seeded Fisher-Yates shuffle (xorshift32): the epoch order of training images, the same in every runtime. */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = (seed >>> 0) ^ 0x9e3779b9 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
