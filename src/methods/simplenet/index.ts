// SimpleNet behind the Detector interface: frozen backbone features → projection + discriminator trained on
// feature-space Gaussian anomalies → per-location scores, an upsampled and blurred map, and the max as the image score.
import { loadBackbone, type Backbone } from '../../backbones/index.ts';
import { randomWeights, type WeightStore, type WeightsSource } from '../../backbones/weights.ts';
import { neg } from '../../ops/elementwise.ts';
import { gaussianBlur } from '../../ops/filter.ts';
import { max } from '../../ops/reduce.ts';
import { resizeBilinear } from '../../ops/resize.ts';
import { Rng } from '../../ops/random.ts';
import { backward } from '../../runtime/autograd.ts';
import { Adam, AdamW, type Optimizer, type OptimizerState } from '../../runtime/optim.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { Initializer, readModule, writeModule, type Module } from '../../nn/layers.ts';
import {
  AbortError, seededShuffle, type Detector, type DetectorState, type FitOptions, type FitReport, type ImageBatch, type Prediction,
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

const DEFAULT_FEATURE_CACHE = 512 * 1024 * 1024;

export class SimpleNet implements Detector {
  readonly method = 'simplenet';
  /** The official datasets' transforms.Resize(resize) + CenterCrop(imagesize) (DonaldRR/SimpleNet datasets/mvtec.py). */
  readonly resizeMode = 'shorter-side' as const;
  private readonly projection: Projection;
  private readonly discriminator: Discriminator;
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
    const backbone = await loadBackbone(rt, config.backbone, {
      weights: backboneWeights(opts.weights ?? 'random', config),
      // Random backbone weights stand in for the fixed ImageNet ones: the same for every method seed.
      seed: 0,
      taps: config.layers,
    });
    return new SimpleNet(rt, config, backbone, opts.featureCacheBytes ?? DEFAULT_FEATURE_CACHE);
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
    const epochs = opts.epochs ?? config.meta_epochs * config.gan_epochs;
    const startEpoch = opts.startEpoch ?? 0;
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
        const rng = new Rng(rt, [config.seed >>> 0, 0x5e1d0000 + epoch]);
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
        opts.onProgress?.({ phase: 'train', done: epoch + 1, total: epochs, loss: finalLoss });
        await opts.onEpochEnd?.(epoch + 1);
      }
    } finally {
      this.discriminator.training = false;
    }
    return { epochs, seconds: (performance.now() - started) / 1000, finalLoss };
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
      const { maps, scores, size } = rt.noGrad(() => {
        const rows = this.embed(batch);
        const patchScores = neg(this.discriminator.forward(this.projection.forward(rows)));
        const side = Math.round(Math.sqrt(rows.shape[0]! / batch.count));
        const grid = patchScores.reshape([batch.count, 1, side, side]);
        const imageScores = max(grid, [1, 2, 3]);
        const up = resizeBilinear(grid, [batch.height, batch.width], { alignCorners: false });
        const blurred = config.map_sigma > 0 ? gaussianBlur(up, config.map_sigma) : up;
        return { maps: blurred, scores: imageScores, size: batch.height };
      });
      return { scores: await scores.read(), maps: await maps.read(), height: size, width: batch.width };
    });
  }

  async state(): Promise<DetectorState> {
    const tensors: DetectorState['tensors'] = {};
    for (const m of this.modules) Object.assign(tensors, await readModule(m));
    const optimizers: Record<string, unknown> = {};
    if (this.optimizers) {
      for (const [key, opt] of Object.entries(this.optimizers)) {
        optimizers[key] = packOptimizerState(key, await opt.saveState(), tensors);
      }
    }
    return {
      method: this.method,
      config: { ...this.config, noise_std_effective: this.noiseStd, optimizers },
      tensors,
    };
  }

  async restore(state: DetectorState): Promise<void> {
    if (state.method !== this.method) throw new Error(`texad: cannot restore a '${state.method}' state into SimpleNet`);
    for (const key of Object.keys(this.config) as Array<keyof SimpleNetConfig>) {
      if (JSON.stringify(state.config[key]) !== JSON.stringify(this.config[key])) {
        throw new Error(`texad: SimpleNet state was saved with ${key}=${JSON.stringify(state.config[key])}, ` +
          `this model has ${JSON.stringify(this.config[key])}; create the model with the saved configuration`);
      }
    }
    for (const m of this.modules) writeModule(m, state.tensors, 'SimpleNet.restore');
    const effective = state.config['noise_std_effective'];
    if (typeof effective === 'number') this.noiseStd = effective;
    const saved = state.config['optimizers'] as Record<string, PackedOptimizer> | undefined;
    if (saved && Object.keys(saved).length > 0) {
      this.optimizers?.proj.dispose();
      this.optimizers?.dsc.dispose();
      this.optimizers = this.makeOptimizers();
      for (const [key, opt] of Object.entries(this.optimizers)) {
        const packed = saved[key];
        if (packed) opt.loadState(unpackOptimizerState(key, packed, state.tensors));
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

/** An optimizer state with its buffers moved into the checkpoint's tensors (JSON keeps only the small part). */
interface PackedOptimizer {
  kind: string;
  lr: number;
  step: number;
  params: Array<{ name: string; shape: number[]; step: number; buffers: string[] }>;
}

function packOptimizerState(key: string, s: OptimizerState, tensors: DetectorState['tensors']): PackedOptimizer {
  return {
    kind: s.kind,
    lr: s.lr,
    step: s.step,
    params: s.params.map((p) => {
      for (const [buf, data] of Object.entries(p.buffers)) tensors[`optimizer.${key}.${p.name}.${buf}`] = { shape: p.shape, data };
      return { name: p.name, shape: p.shape, step: p.step, buffers: Object.keys(p.buffers) };
    }),
  };
}

function unpackOptimizerState(key: string, p: PackedOptimizer, tensors: DetectorState['tensors']): OptimizerState {
  return {
    kind: p.kind,
    lr: p.lr,
    step: p.step,
    params: p.params.map((q) => ({
      name: q.name,
      shape: q.shape,
      step: q.step,
      buffers: Object.fromEntries(q.buffers.map((b) => {
        const t = tensors[`optimizer.${key}.${q.name}.${b}`];
        if (!t) throw new Error(`texad: SimpleNet checkpoint lacks optimizer buffer ${key}.${q.name}.${b}`);
        return [b, t.data];
      })),
    })),
  };
}

/**
 * Random backbone weights under `random_init` (see SimpleNetConfig): torchvision's initialisation, or the same
 * values with every k x k (k > 1) kernel made zero-mean over its window. Weights from a file pass through.
 */
function backboneWeights(weights: WeightsSource, config: SimpleNetConfig): WeightsSource {
  if (weights !== 'random' || config.random_init === 'torchvision') return weights;
  if (config.random_init !== 'zero-mean') throw new Error(`texad: unknown SimpleNet random_init '${String(config.random_init)}'`);
  const base = randomWeights(0);
  const store: WeightStore = {
    ...base,
    name: `${base.name}, zero-mean kernels`,
    async read(rt, p) {
      const value = await base.read(rt, p);
      const window = p.shape.length === 4 ? p.shape[2]! * p.shape[3]! : 1;
      if (window === 1) return value;
      const data = value instanceof Float32Array ? value : await value.read();
      if (!(value instanceof Float32Array)) value.dispose();
      for (let g = 0; g < data.length; g += window) {
        let mean = 0;
        for (let k = 0; k < window; k++) mean += data[g + k]!;
        mean /= window;
        for (let k = 0; k < window; k++) data[g + k]! -= mean;
      }
      return data;
    },
  };
  return store;
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(what);
}

/** Embedded training rows per image, on the CPU, while they fit the byte budget. */
class FeatureCache {
  private readonly images: Float32Array[] = [];
  private bytes = 0;
  complete = true;
  /** Per-dimension sums over every row added, kept even when the rows themselves no longer fit. */
  private readonly sum: Float64Array;
  private readonly squares: Float64Array;
  private rows = 0;

  constructor(private readonly budget: number, private readonly dim: number) {
    this.sum = new Float64Array(dim);
    this.squares = new Float64Array(dim);
  }

  add(rows: Float32Array, count: number): void {
    for (let i = 0; i < rows.length; i++) {
      this.sum[i % this.dim]! += rows[i]!;
      this.squares[i % this.dim]! += rows[i]! * rows[i]!;
    }
    this.rows += rows.length / this.dim;
    if (!this.complete) return;
    if (this.bytes + rows.byteLength > this.budget) {
      this.complete = false;
      this.images.length = 0;
      return;
    }
    const per = rows.length / count;
    for (let i = 0; i < count; i++) this.images.push(rows.subarray(i * per, (i + 1) * per));
    this.bytes += rows.byteLength;
  }

  /** sqrt(mean over the feature dimensions of their variance) of all rows added: what the relative noise scales. */
  spread(): number {
    if (this.rows === 0) return 0;
    let variance = 0;
    for (let d = 0; d < this.dim; d++) variance += this.squares[d]! / this.rows - (this.sum[d]! / this.rows) ** 2;
    return Math.sqrt(Math.max(0, variance / this.dim));
  }

  /** Images shuffled with a seeded permutation, concatenated `batchSize` at a time, like a shuffling DataLoader. */
  *shuffledBatches(batchSize: number, seed: number): Iterable<Float32Array> {
    const order = seededShuffle(this.images.map((_, i) => i), seed);
    for (let start = 0; start < order.length; start += batchSize) {
      const picked = order.slice(start, start + batchSize).map((i) => this.images[i]!);
      const out = new Float32Array(picked.reduce((n, a) => n + a.length, 0));
      let offset = 0;
      for (const a of picked) {
        out.set(a, offset);
        offset += a.length;
      }
      yield out;
    }
  }
}
