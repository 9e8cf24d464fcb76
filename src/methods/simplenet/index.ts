// SimpleNet behind the Detector interface: frozen backbone features → projection + discriminator trained on
// feature-space Gaussian anomalies → per-location scores, an upsampled and blurred map, and the max as the image score.
import type { Backbone } from '../../backbones/index.ts';
import type { WeightsSource } from '../../backbones/weights.ts';
import { neg } from '../../ops/elementwise.ts';
import { GpuRng } from '../../ops/random.ts';
import { backward } from '../../runtime/autograd.ts';
import { Adam, AdamW, type Optimizer } from '../../runtime/optim.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { Initializer, readModule, writeModule, type Module } from '../../nn/layers.ts';
import { checkRestorable, packOptimizerState, unpackOptimizerState, type PackedOptimizer } from '../checkpoint.ts';
import { anomalyMap, imageScores } from '../components/anomaly-map.ts';
import { DEFAULT_FEATURE_CACHE_BYTES, FeatureCache } from '../components/feature-cache.ts';
import { loadFrozenBackbone } from '../components/frozen-backbone.ts';
import {
  throwIfAborted, type Detector, type DetectorState, type FitOptions, type FitReport, type ImageBatch, type Prediction,
  type TrainingImages,
} from '../detector.ts';
import { simpleNetConfig, type PresetName, type SimpleNetConfig } from './config.ts';
import { Discriminator, Projection, embedPatches } from './model.ts';
import { simpleNetLoss } from './train.ts';

export { PAPER, QUICK, simpleNetConfig, type SimpleNetConfig } from './config.ts';

export interface SimpleNetOptions {
  preset?: PresetName;
  config?: Partial<SimpleNetConfig>;
  /** Backbone weights: a safetensors path/bytes, or 'random' for the documented seeded initialisation. */
  weights?: WeightsSource;
  /** Bytes of embedded training features kept on the CPU between epochs; beyond it they are recomputed. */
  featureCacheBytes?: number;
}

export class SimpleNet implements Detector {
  readonly method = 'simplenet';
  readonly trainingUnit = 'epochs';
  /** The official datasets' transforms.Resize(resize) + CenterCrop(imagesize) (DonaldRR/SimpleNet datasets/mvtec.py). */
  readonly resizeMode = 'shorter-side' as const;
  private readonly projection: Projection;
  private readonly discriminator: Discriminator;
  /** noise_std in effect: the configured one, or the one measured by the first fit under noise_std_relative. */
  private noiseStd: number;
  /** Created by the first fit() or by restore(); kept so that a resumed fit continues the same Adam moments. */
  private optimizers: { proj: AdamW; dsc: Adam } | null = null;

  private constructor(
    private readonly rt: Runtime,
    readonly config: SimpleNetConfig,
    private readonly backbone: Backbone,
    private readonly featureCacheBytes: number,
  ) {
    const init = new Initializer(config.seed);
    this.projection = new Projection(rt, config, init);
    this.discriminator = new Discriminator(rt, config, init);
    this.noiseStd = config.noise_std;
  }

  static async create(rt: Runtime, opts: SimpleNetOptions = {}): Promise<SimpleNet> {
    const config = simpleNetConfig(opts.preset ?? 'paper', opts.config);
    // random_init shapes only random weights; a weights file passes through.
    const backbone = await loadFrozenBackbone(rt, config.backbone, opts.weights ?? 'random', config.random_init, config.layers);
    return new SimpleNet(rt, config, backbone, opts.featureCacheBytes ?? DEFAULT_FEATURE_CACHE_BYTES);
  }

  get inputSize(): number {
    return this.config.imagesize;
  }

  get resize(): number {
    return this.config.resize;
  }

  private get modules(): Module[] {
    return [this.projection, this.discriminator];
  }

  /** Embedded features [B*h*w, D] of a batch; no gradient reaches the frozen backbone. */
  private embed(batch: ImageBatch): Tensor {
    const { rt } = this;
    return rt.noGrad(() => {
      const images = rt.tensor(batch.images, [batch.count, 3, batch.height, batch.width]);
      const taps = this.backbone.forward(images);
      return embedPatches(this.config.layers.map((l) => taps[l]!), this.config).rows;
    });
  }

  private batchesOf(train: TrainingImages, shuffleSeed?: number): AsyncIterable<ImageBatch> {
    const { resize, imagesize, batch_size } = this.config;
    return train.batches({ batchSize: batch_size, size: resize, crop: imagesize, mode: this.resizeMode, ...(shuffleSeed !== undefined ? { shuffleSeed } : {}) });
  }

  async fit(train: TrainingImages, opts: FitOptions = {}): Promise<FitReport> {
    const { rt, config } = this;
    const started = performance.now();
    const epochs = opts.length ?? config.meta_epochs * config.gan_epochs;
    const startEpoch = opts.start ?? 0;
    if (train.count === 0) throw new Error('texad: SimpleNet.fit: no training images');

    // Features of the frozen backbone do not change between epochs: embed once, keep them on the CPU.
    const cache = new FeatureCache(this.featureCacheBytes, config.target_embed_dimension);
    let seen = 0;
    for await (const batch of this.batchesOf(train)) {
      throwIfAborted(opts.signal, 'SimpleNet feature extraction');
      const rows = await rt.tidyAsync(async () => this.embed(batch).read());
      cache.add(rows, batch.count);
      seen += batch.count;
      opts.onProgress?.({ phase: 'features', done: seen, total: train.count });
    }
    if (config.noise_std_relative > 0 && startEpoch === 0) {
      this.noiseStd = config.noise_std_relative * cache.spread();
    }

    this.discriminator.training = true;
    const { proj, dsc } = (this.optimizers ??= this.makeOptimizers());
    const optimizers: Optimizer[] = config.pre_proj > 0 ? [proj, dsc] : [dsc];
    let finalLoss = NaN;
    try {
      for (let epoch = startEpoch; epoch < epochs; epoch++) {
        // Per-epoch generators: a run resumed at any epoch draws the same noise as an uninterrupted one.
        const rng = new GpuRng(rt, [config.seed >>> 0, 0x5e1d0000 + epoch]);
        let lastLoss: Tensor | null = null;
        const batches = cache.complete ? cache.shuffledBatches(config.batch_size, config.seed * 7919 + epoch) : null;
        const source = batches ?? this.cachedOrFresh(train, config.seed * 7919 + epoch);
        for await (const rows of source) {
          throwIfAborted(opts.signal, 'SimpleNet training');
          lastLoss?.dispose();
          lastLoss = rt.tidy(() => {
            const x = rt.tensor(rows, [rows.length / config.target_embed_dimension, config.target_embed_dimension]);
            const noise = rng.normal([x.shape[0]!, config.target_embed_dimension], 0, this.noiseStd);
            const loss = simpleNetLoss(x, this.projection, this.discriminator, noise, config.dsc_margin);
            backward(loss);
            for (const opt of optimizers) opt.step();
            for (const opt of optimizers) opt.zeroGrad();
            return loss;
          });
        }
        finalLoss = lastLoss ? (await lastLoss.read())[0]! : NaN;
        lastLoss?.dispose();
        for (const opt of optimizers) await opt.checkFinite();
        opts.onProgress?.({ phase: 'train', done: epoch + 1, total: epochs, unit: 'epochs', loss: finalLoss });
        await opts.onCheckpoint?.(epoch + 1);
      }
    } finally {
      this.discriminator.training = false;
    }
    return { length: epochs, unit: 'epochs', seconds: (performance.now() - started) / 1000, finalLoss };
  }

  private makeOptimizers(): { proj: AdamW; dsc: Adam } {
    const c = this.config;
    return {
      proj: new AdamW(this.projection.trainable(), { lr: c.proj_lr, weightDecay: c.proj_weight_decay }),
      dsc: new Adam(this.discriminator.trainable(), { lr: c.dsc_lr, weightDecay: c.dsc_weight_decay }),
    };
  }

  /** Batches of embedded rows computed afresh when the cache could not hold the whole training set. */
  private async *cachedOrFresh(train: TrainingImages, shuffleSeed: number): AsyncIterable<Float32Array> {
    for await (const batch of this.batchesOf(train, shuffleSeed)) {
      yield await this.rt.tidyAsync(async () => this.embed(batch).read());
    }
  }

  async predict(batch: ImageBatch): Promise<Prediction> {
    const { rt, config } = this;
    this.discriminator.training = false;
    return rt.tidyAsync(async () => {
      const { maps, grid } = rt.noGrad(() => {
        const rows = this.embed(batch);
        const patchScores = neg(this.discriminator.forward(this.projection.forward(rows)));
        const side = Math.round(Math.sqrt(rows.shape[0]! / batch.count));
        const grid = patchScores.reshape([batch.count, 1, side, side]);
        return { grid, maps: anomalyMap(grid, [batch.height, batch.width], config.map_sigma) };
      });
      // The official image score: the maximum of the patch scores before upsampling.
      const scores = imageScores(await grid.read(), batch.count, { kind: 'max' });
      return { scores, maps: await maps.read(), height: batch.height, width: batch.width };
    });
  }

  async state(): Promise<DetectorState> {
    const tensors: DetectorState['tensors'] = {};
    for (const m of this.modules) Object.assign(tensors, await readModule(m));
    const optimizers: Record<string, PackedOptimizer> = {};
    if (this.optimizers) {
      for (const [key, opt] of Object.entries(this.optimizers)) {
        optimizers[key] = packOptimizerState(key, await opt.saveState(), tensors);
      }
    }
    return { method: this.method, config: { ...this.config }, training: { noise_std_effective: this.noiseStd, optimizers }, tensors };
  }

  async restore(state: DetectorState): Promise<void> {
    checkRestorable(this.method, 'SimpleNet', state, this.config);
    for (const m of this.modules) writeModule(m, state.tensors, 'SimpleNet.restore');
    const effective = state.training['noise_std_effective'];
    if (typeof effective === 'number') this.noiseStd = effective;
    const saved = state.training['optimizers'] as Record<string, PackedOptimizer> | undefined;
    if (saved && Object.keys(saved).length > 0) {
      this.optimizers?.proj.dispose();
      this.optimizers?.dsc.dispose();
      this.optimizers = this.makeOptimizers();
      for (const [key, opt] of Object.entries(this.optimizers)) {
        const packed = saved[key];
        if (packed) opt.loadState(unpackOptimizerState('SimpleNet', key, packed, state.tensors));
      }
    }
  }

  dispose(): void {
    this.optimizers?.proj.dispose();
    this.optimizers?.dsc.dispose();
    for (const m of this.modules) m.dispose();
    this.backbone.dispose();
  }
}
