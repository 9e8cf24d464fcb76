// A second method for CLI tests of multi-method runs, registered by the test only: scores an image by its mean
// absolute difference from the mean training image, on the CPU, in milliseconds. It gives no anomaly maps
// (pixelMaps: false), so it also exercises the "–" cells of the tables.
import type { Detector, DetectorState, ImageBatch, TrainingImages } from '../../src/methods/detector.ts';
import { defineMethod, METHODS, type RegisteredMethod } from '../../src/methods/index.ts';

const SIDE = 32;

class ImageMean implements Detector {
  readonly method = 'imagemean';
  readonly resize = SIDE;
  readonly inputSize = SIDE;
  readonly trainingUnit = 'epochs' as const;
  private mean = new Float32Array(3 * SIDE * SIDE);

  async fit(train: TrainingImages) {
    const sum = new Float64Array(this.mean.length);
    let n = 0;
    for await (const b of train.batches({ batchSize: 4, size: SIDE })) {
      for (let i = 0; i < b.count; i++) for (let j = 0; j < sum.length; j++) sum[j]! += b.images[i * sum.length + j]!;
      n += b.count;
    }
    this.mean = Float32Array.from(sum, (v) => v / n);
    return { length: 1, unit: this.trainingUnit, seconds: 0, finalLoss: 0 };
  }

  async predict(b: ImageBatch) {
    const px = this.mean.length;
    const scores = new Float32Array(b.count);
    for (let i = 0; i < b.count; i++) {
      let s = 0;
      for (let j = 0; j < px; j++) s += Math.abs(b.images[i * px + j]! - this.mean[j]!);
      scores[i] = s / px;
    }
    return { scores, maps: new Float32Array(b.count * SIDE * SIDE), height: SIDE, width: SIDE };
  }

  async state(): Promise<DetectorState> {
    return { method: this.method, config: { side: SIDE }, training: {}, tensors: { mean: { shape: [3, SIDE, SIDE], data: this.mean } } };
  }

  async restore(state: DetectorState) {
    this.mean = state.tensors['mean']!.data;
  }

  dispose() {}
}

export const IMAGE_MEAN: RegisteredMethod = defineMethod('imagemean', {
  description: 'test only: distance to the mean training image',
  presets: { quick: { side: SIDE }, paper: { side: SIDE } },
  unit: 'epochs',
  validation: false,
  pixelMaps: false,
  resources: () => ({}),
  create: async () => new ImageMean(),
  tinyConfig: {},
});

/** Registers `imagemean` for the calling test file; returns the function that removes it again. */
export function registerImageMean(): () => void {
  METHODS['imagemean'] = IMAGE_MEAN;
  return () => {
    delete METHODS['imagemean'];
  };
}
