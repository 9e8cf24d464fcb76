// Mean-Shift (Reiss & Hoshen, AAAI 2023) behind the Detector interface: a ResNet fine-tuned with the mean-shifted
// contrastive loss on augmented views of the training images; the image score is the sum of the squared distances
// to the 2 nearest training features. Image-level only: see `pixelMaps` in the registry entry.
import type { Backbone } from '../../backbones/index.ts';
import type { WeightsSource } from '../../backbones/weights.ts';
import { knnSquaredDistance } from '../../ops/distance.ts';
import { concat } from '../../ops/layout.ts';
import { l2Normalize, mean, sum } from '../../ops/reduce.ts';
import { backward } from '../../runtime/autograd.ts';
import { DeviceLimitError } from '../../runtime/buffers.ts';
import { SGD } from '../../runtime/optim.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { readModule, writeModule } from '../../nn/layers.ts';
import {
  throwIfAborted, type Detector, type DetectorState, type FitOptions, type FitReport, type ImageBatch, type Prediction,
  type TrainingImages,
} from '../detector.ts';
import { checkRestorable } from '../checkpoint.ts';
import { augmentViews, drawViews } from './augment.ts';
import type { MeanShiftConfig } from './config.ts';
import { features, loadMeanShiftNetwork } from './model.ts';
import { meanShiftLoss, meanShiftStep } from './train.ts';

export { PAPER, QUICK, PRESETS, type MeanShiftConfig } from './config.ts';

/** k of the official faiss search (score = sum of the squared distances to the k nearest training features). */
const K = 2;

export class MeanShift implements Detector {
  readonly method = 'meanshift';
  readonly trainingUnit = 'epochs';
  /** The official eval transform Resize(256) + CenterCrop(224): shorter side, then the centre. */
  readonly resizeMode = 'shorter-side' as const;
  /** Mean of the normalised training features before training [1, D]; null until the first fit or a restore. */
  private center: Tensor | null = null;
  /** Normalised features of every training image after training [M, D], the kNN bank. */
  private bank: Tensor | null = null;

  private constructor(private readonly rt: Runtime, readonly config: MeanShiftConfig, private readonly net: Backbone) {}

  static async create(rt: Runtime, config: MeanShiftConfig, weights: WeightsSource = 'random'): Promise<MeanShift> {
    return new MeanShift(rt, config, await loadMeanShiftNetwork(rt, config, weights));
  }

  get inputSize(): number {
    return this.config.imagesize;
  }

  get resize(): number {
    return this.config.resize;
  }

  /** Normalised features [N, D] of every training image under the eval transform, without a tape. */
  private async bankOf(train: TrainingImages, opts: FitOptions, what: string): Promise<Tensor> {
    const { rt, config } = this;
    const rows: Tensor[] = [];
    let done = 0;
    for await (const b of train.batches({ batchSize: config.batch_size, size: config.resize, crop: config.imagesize, mode: this.resizeMode })) {
      throwIfAborted(opts.signal, what);
      rows.push(rt.tidy(() => rt.noGrad(() => features(this.net, rt.tensor(b.images, [b.count, 3, b.height, b.width])))));
      done += b.count;
      opts.onProgress?.({ phase: 'features', done, total: train.count });
    }
    const all = rows.length === 1 ? rows[0]! : rt.noGrad(() => concat(rows, 0));
    if (all !== rows[0]) for (const r of rows) r.dispose();
    return all;
  }

  async fit(train: TrainingImages, opts: FitOptions = {}): Promise<FitReport> {
    const { rt, config } = this;
    const started = performance.now();
    if (train.count < K + 1) {
      throw new Error(`texad: Mean-Shift needs at least ${K + 1} training images (each is scored by its ${K} nearest ` +
        `training features, and a training image is its own nearest), got ${train.count}`);
    }
    const epochs = opts.length ?? config.epochs;
    const startEpoch = opts.start ?? 0;
    const sgd = new SGD(this.net.trainable(), { lr: config.lr, weightDecay: config.weight_decay });
    let finalLoss = NaN;
    try {
      if (!this.center || startEpoch === 0) {
        // The official centre: mean of the normalised features before training, normalised only under --angular.
        const before = await this.bankOf(train, opts, 'Mean-Shift centre');
        this.center?.dispose();
        this.center = rt.tidy(() => rt.noGrad(() => {
          const c = mean(before, [0], true);
          return config.angular ? l2Normalize(c, 1) : c;
        }));
        before.dispose();
      }
      const center = this.center;
      for (let epoch = startEpoch; epoch < epochs; epoch++) {
        let step = 0;
        let last: Tensor | null = null;
        for await (const b of train.batches({ batchSize: config.batch_size, size: config.resize, mode: this.resizeMode, shuffleSeed: config.seed * 7919 + epoch })) {
          throwIfAborted(opts.signal, 'Mean-Shift training');
          last?.dispose();
          // Streams name (epoch, step, view): a resumed epoch draws the same views as an uninterrupted run.
          const views = [0, 1].map((v) => drawViews(config, b.width, b.count, config.seed, (epoch << 16) + 2 * step + v));
          last = rt.tidy(() => {
            const images = rt.tensor(b.images, [b.count, 3, b.height, b.width]);
            const [x1, x2] = views.map((p) => augmentViews(images, p, config.imagesize)) as [Tensor, Tensor];
            return meanShiftStep(this.net, x1, x2, center, sgd, config);
          });
          step++;
        }
        finalLoss = last ? (await last.read())[0]! : NaN;
        last?.dispose();
        await sgd.checkFinite();
        opts.onProgress?.({ phase: 'train', done: epoch + 1, total: epochs, unit: 'epochs', loss: finalLoss });
        await opts.onCheckpoint?.(epoch + 1);
      }
    } catch (e) {
      // The centre's features and the training steps both take `batch_size` images; training needs the most.
      if (e instanceof DeviceLimitError) throw this.batchTooLarge(e, Math.min(config.batch_size, train.count), sgd);
      throw e;
    } finally {
      sgd.dispose();
    }
    this.bank?.dispose();
    this.bank = await this.bankOf(train, opts, 'Mean-Shift training features');
    return { length: epochs, unit: 'epochs', seconds: (performance.now() - started) / 1000, finalLoss };
  }

  /**
   * The refusal of a training batch over a device limit, naming the largest batch that fits. NT-Xent couples every
   * pair of rows in the batch, so splitting it into accumulated micro-batches would change the loss: the batch is
   * refused instead. The largest batch is found by bisection with probe steps (forward, loss and backward of
   * constant images, no update): exact whatever the network's largest buffer is, and only paid on this error path.
   */
  private batchTooLarge(e: DeviceLimitError, count: number, sgd: SGD): Error {
    const { rt, config } = this;
    const size = config.imagesize;
    const fitsBatchOf = (n: number): boolean => {
      try {
        rt.tidy(() => {
          const x = rt.tensor(new Float32Array(n * 3 * size * size).fill(0.5), [n, 3, size, size]);
          const z = features(this.net, x);
          const [, d] = z.shape as [number, number];
          const center = this.center ?? rt.tensor(new Float32Array(d), [1, d]);
          backward(meanShiftLoss(z, features(this.net, x), center, config.temperature, config.angular));
        });
        return true;
      } catch (again) {
        if (!(again instanceof DeviceLimitError)) throw again;
        return false;
      } finally {
        sgd.zeroGrad();
      }
    };
    let fits = 0;
    if (fitsBatchOf(2)) {
      let fails = count;
      fits = 2;
      while (fails - fits > 1) {
        const mid = Math.floor((fits + fails) / 2);
        if (fitsBatchOf(mid)) fits = mid;
        else fails = mid;
      }
    }
    const advice = fits >= 2
      ? `the largest batch that fits is ${fits}: set --config '{"batch_size": ${fits}}'`
      : `not even a batch of 2 fits at ${size} px: use a smaller imagesize`;
    return new Error(
      `texad: Mean-Shift training batch of ${count} images at ${size} px is over the device's ${e.limitName} ` +
        `(${e.bytes} bytes > ${e.limit}); ${advice}. (NT-Xent couples every pair of the batch, so it is not split ` +
        `into accumulated micro-batches.) Cause: ${e.message}`,
    );
  }

  async predict(batch: ImageBatch): Promise<Prediction> {
    const { rt } = this;
    const bank = this.bank;
    if (!bank) throw new Error('texad: Mean-Shift.predict before fit() or restore(): there are no training features to compare with');
    return rt.tidyAsync(async () => {
      const distances = rt.noGrad(() => {
        const z = features(this.net, rt.tensor(batch.images, [batch.count, 3, batch.height, batch.width]));
        return sum(knnSquaredDistance(z, bank, K).distances, [1]);
      });
      const scores = await distances.read();
      // No anomaly map (image-level method, registry pixelMaps: false): each map holds its image's score.
      const px = batch.height * batch.width;
      const maps = new Float32Array(batch.count * px);
      scores.forEach((s, i) => maps.fill(s, i * px, (i + 1) * px));
      return { scores, maps, height: batch.height, width: batch.width };
    });
  }

  async state(): Promise<DetectorState> {
    const tensors: DetectorState['tensors'] = await readModule(this.net);
    if (this.center) tensors['center'] = { shape: [...this.center.shape], data: await this.center.read() };
    if (this.bank) tensors['train_features'] = { shape: [...this.bank.shape], data: await this.bank.read() };
    // SGD without momentum keeps no optimizer state.
    return { method: this.method, config: { ...this.config }, training: {}, tensors };
  }

  async restore(state: DetectorState): Promise<void> {
    checkRestorable(this.method, 'Mean-Shift', state, this.config);
    const { center, train_features: bank, ...net } = state.tensors;
    writeModule(this.net, net, 'Mean-Shift.restore');
    this.center?.dispose();
    this.bank?.dispose();
    this.center = center ? this.rt.tensor(center.data, center.shape) : null;
    this.bank = bank ? this.rt.tensor(bank.data, bank.shape) : null;
  }

  dispose(): void {
    this.center?.dispose();
    this.bank?.dispose();
    this.net.dispose();
  }
}
