// MSFlow behind the Detector interface: frozen backbone stages, each average-pooled 3x3/2 → per-scale parallel flows
// conditioned on a positional encoding → fusion flow → per-scale log-likelihood maps, post-processed exactly as the
// official post_process.py: the "mul" map gives the image score (mean of the top 3%), the "add" map is the
// returned anomaly map (pixel metrics).
import type { Backbone } from '../../backbones/index.ts';
import type { WeightsSource } from '../../backbones/weights.ts';
import { add, exp, scale, square, sub } from '../../ops/elementwise.ts';
import { avgPool2d } from '../../ops/pool.ts';
import { max, mean } from '../../ops/reduce.ts';
import { resizeBilinear } from '../../ops/resize.ts';
import { Adam } from '../../runtime/optim.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { readModule, writeModule } from '../../nn/layers.ts';
import { checkRestorable, packOptimizerState, unpackOptimizerState, type PackedOptimizer } from '../checkpoint.ts';
import { imageScores } from '../components/anomaly-map.ts';
import { DEFAULT_FEATURE_CACHE_BYTES, FeatureCache } from '../components/feature-cache.ts';
import { loadFrozenBackbone } from '../components/frozen-backbone.ts';
import {
  throwIfAborted, type Detector, type DetectorState, type FitOptions, type FitReport, type ImageBatch, type Prediction,
  type TrainingImages,
} from '../detector.ts';
import { learningRate, type MSFlowConfig } from './config.ts';
import { MSFlowModel, positionalEncoding2d } from './model.ts';
import { checkEpoch, trainStep, type StepCounter } from './train.ts';

export { PAPER, QUICK, type MSFlowConfig } from './config.ts';

export interface MSFlowOptions {
  config: MSFlowConfig;
  /** Backbone weights: a safetensors path/bytes, or 'random' for the documented seeded initialisation. */
  weights?: WeightsSource;
  /** Bytes of pooled training features kept on the CPU between sub-epochs; beyond it they are recomputed. */
  featureCacheBytes?: number;
}

/** The backbone's total stride at the deepest tap times the 3x3/2 pooling: inputs must be multiples of it. */
const INPUT_MULTIPLE = 32;

/** Image score and map post-processing of per-scale log-likelihood maps [B, 1, h_i, w_i] (official post_process). */
export function postProcess(logps: readonly Tensor[], size: [number, number]): { mul: Tensor; add: Tensor } {
  const perImageMax = (x: Tensor) => max(x, [1, 2, 3], true);
  const up = (x: Tensor) => resizeBilinear(x, size, { alignCorners: true });
  const logp = logps.map(up).reduce((a, b) => add(a, b));
  const pMul = exp(sub(logp, perImageMax(logp)));
  const pAdd = logps.map((l) => up(exp(sub(l, perImageMax(l))))).reduce((a, b) => add(a, b));
  return { mul: sub(perImageMax(pMul), pMul), add: sub(perImageMax(pAdd), pAdd) };
}

export class MSFlow implements Detector {
  readonly method = 'msflow';
  readonly trainingUnit = 'epochs';
  /** The official transforms.Resize((s, s)): a square resize, no crop (cool-xuan/msflow datasets). */
  readonly resizeMode = 'square' as const;
  private readonly model: MSFlowModel;
  private optimizer: Adam | null = null;
  private counter: StepCounter = { step: 0, lastFinite: NaN, lastFiniteStep: 0 };

  private constructor(
    private readonly rt: Runtime,
    readonly config: MSFlowConfig,
    private readonly backbone: Backbone,
    private readonly featureCacheBytes: number,
  ) {
    const channels = config.layers.map((l) => backbone.channels[l]!);
    this.model = new MSFlowModel(rt, channels, {
      condChannels: config.c_conds, blocks: config.parallel_blocks, clampAlpha: config.clamp_alpha, seed: config.seed,
    });
  }

  static async create(rt: Runtime, opts: MSFlowOptions): Promise<MSFlow> {
    const { config } = opts;
    const n = config.layers.length;
    if (config.c_conds.length !== n || config.parallel_blocks.length !== n) {
      throw new Error(`texad: MSFlow: layers [${config.layers}], c_conds [${config.c_conds}] and parallel_blocks ` +
        `[${config.parallel_blocks}] need one entry per scale`);
    }
    if (config.input_size < INPUT_MULTIPLE || config.input_size % INPUT_MULTIPLE !== 0) {
      throw new Error(`texad: MSFlow needs input_size a multiple of ${INPUT_MULTIPLE} (>= ${INPUT_MULTIPLE}) so that ` +
        `its pooled grids halve exactly; got ${config.input_size}`);
    }
    const backbone = await loadFrozenBackbone(rt, config.backbone_arch, opts.weights ?? 'random', config.random_init, config.layers);
    return new MSFlow(rt, config, backbone, opts.featureCacheBytes ?? DEFAULT_FEATURE_CACHE_BYTES);
  }

  get inputSize(): number {
    return this.config.input_size;
  }

  get resize(): number {
    return this.config.input_size;
  }

  /** [C, h, w] of each scale's pooled features. */
  private get shapes(): Array<[number, number, number]> {
    const s = this.config.input_size;
    return this.config.layers.map((l) => {
      const [c, h, w] = this.backbone.outputShape(l, [s, s]);
      return [c, Math.ceil(h / 2), Math.ceil(w / 2)];
    });
  }

  /** Frozen features of a batch, each stage average-pooled 3x3 stride 2 padding 1 (padding counted). */
  private features(batch: ImageBatch): Tensor[] {
    const { rt } = this;
    if (batch.height !== this.inputSize || batch.width !== this.inputSize) {
      throw new Error(`texad: MSFlow wants ${this.inputSize}x${this.inputSize} images, got ${batch.height}x${batch.width}`);
    }
    return rt.noGrad(() => {
      const taps = this.backbone.forward(rt.tensor(batch.images, [batch.count, 3, batch.height, batch.width]));
      return this.config.layers.map((l) => avgPool2d(taps[l]!, { kernel: 3, stride: 2, padding: 1, countIncludePad: true }));
    });
  }

  /** Per-scale positional-encoding conditions repeated over the batch. */
  private conditions(count: number): Tensor[] {
    return this.shapes.map(([, h, w], i) => {
      const pe = positionalEncoding2d(this.config.c_conds[i]!, h, w);
      const out = new Float32Array(count * pe.length);
      for (let b = 0; b < count; b++) out.set(pe, b * pe.length);
      return this.rt.tensor(out, [count, this.config.c_conds[i]!, h, w]);
    });
  }

  /** Splits concatenated per-image feature blobs back into per-scale tensors. */
  private unpack(blob: Float32Array): { feats: Tensor[]; count: number } {
    const sizes = this.shapes.map(([c, h, w]) => c * h * w);
    const per = sizes.reduce((a, b) => a + b, 0);
    const count = blob.length / per;
    let off = 0;
    const feats = this.shapes.map(([c, h, w], i) => {
      const part = new Float32Array(count * sizes[i]!);
      for (let b = 0; b < count; b++) part.set(blob.subarray(b * per + off, b * per + off + sizes[i]!), b * sizes[i]!);
      off += sizes[i]!;
      return this.rt.tensor(part, [count, c, h, w]);
    });
    return { feats, count };
  }

  private async pack(feats: Tensor[], count: number): Promise<Float32Array> {
    const parts = await Promise.all(feats.map((f) => f.read()));
    const sizes = parts.map((p) => p.length / count);
    const per = sizes.reduce((a, b) => a + b, 0);
    const out = new Float32Array(count * per);
    for (let b = 0; b < count; b++) {
      let off = b * per;
      for (const [i, p] of parts.entries()) {
        out.set(p.subarray(b * sizes[i]!, (b + 1) * sizes[i]!), off);
        off += sizes[i]!;
      }
    }
    return out;
  }

  private batchesOf(train: TrainingImages, shuffleSeed?: number): AsyncIterable<ImageBatch> {
    const { input_size, batch_size } = this.config;
    return train.batches({ batchSize: batch_size, size: input_size, ...(shuffleSeed !== undefined ? { shuffleSeed } : {}) });
  }

  async fit(train: TrainingImages, opts: FitOptions = {}): Promise<FitReport> {
    const { rt, config } = this;
    const started = performance.now();
    const total = opts.length ?? config.meta_epochs * config.sub_epochs;
    const start = opts.start ?? 0;
    if (train.count === 0) throw new Error('texad: MSFlow.fit: no training images');

    // The backbone is frozen: pool every training image's features once and keep them on the CPU.
    const per = this.shapes.reduce((n, [c, h, w]) => n + c * h * w, 0);
    const cache = new FeatureCache(this.featureCacheBytes, per);
    let seen = 0;
    for await (const batch of this.batchesOf(train)) {
      throwIfAborted(opts.signal, 'MSFlow feature extraction');
      cache.add(await rt.tidyAsync(async () => this.pack(this.features(batch), batch.count)), batch.count);
      seen += batch.count;
      opts.onProgress?.({ phase: 'features', done: seen, total: train.count });
    }

    const params = this.model.trainable();
    const optimizer = (this.optimizer ??= new Adam(params, { lr: config.lr }));
    let finalLoss = NaN;
    for (let t = start; t < total; t++) {
      optimizer.lr = learningRate(config, t);
      const shuffle = config.seed * 7919 + t;
      const source = cache.complete ? cache.shuffledBatches(config.batch_size, shuffle) : this.freshBlobs(train, shuffle);
      let last: Tensor | null = null;
      try {
        for await (const blob of source) {
          throwIfAborted(opts.signal, 'MSFlow training');
          last?.dispose();
          last = rt.tidy(() => {
            const { feats, count } = this.unpack(blob);
            return trainStep(this.model, feats, this.conditions(count), params, optimizer, config.max_grad_norm, this.counter);
          });
        }
        // Steps queue back to back; the loss and the non-finite flags are read once per epoch.
        finalLoss = await checkEpoch(last, optimizer, this.counter).catch((e: unknown) => {
          // A diverged run keeps its parameters (the kernels refused the non-finite updates) but not its optimizer,
          // whose flags would refuse every later state(): a resumed or new fit starts a fresh Adam.
          optimizer.dispose();
          this.optimizer = null;
          throw e;
        });
      } finally {
        last?.dispose();
      }
      opts.onProgress?.({ phase: 'train', done: t + 1, total, unit: 'epochs', loss: finalLoss });
      await opts.onCheckpoint?.(t + 1);
    }
    return { length: total, unit: 'epochs', seconds: (performance.now() - started) / 1000, finalLoss };
  }

  /** Pooled features computed afresh when the cache could not hold the whole training set. */
  private async *freshBlobs(train: TrainingImages, shuffleSeed: number): AsyncIterable<Float32Array> {
    for await (const batch of this.batchesOf(train, shuffleSeed)) {
      yield await this.rt.tidyAsync(async () => this.pack(this.features(batch), batch.count));
    }
  }

  async predict(batch: ImageBatch): Promise<Prediction> {
    const { rt, config } = this;
    return rt.tidyAsync(async () => {
      const maps = rt.noGrad(() => {
        const { out } = this.model.forward(this.features(batch), this.conditions(batch.count));
        // logp = -0.5 * mean over channels of z^2, per scale [B, 1, h, w].
        const logps = out.map((z) => scale(mean(square(z), [1], true), -0.5));
        return postProcess(logps, [batch.height, batch.width]);
      });
      const k = Math.max(1, Math.floor(batch.height * batch.width * config.top_k));
      const scores = imageScores(await maps.mul.read(), batch.count, { kind: 'top-k-mean', k });
      return { scores, maps: await maps.add.read(), height: batch.height, width: batch.width };
    });
  }

  async state(): Promise<DetectorState> {
    const tensors = await readModule(this.model);
    const optimizers: Record<string, PackedOptimizer> = {};
    if (this.optimizer) optimizers['flows'] = packOptimizerState('flows', await this.optimizer.saveState(), tensors);
    return { method: this.method, config: { ...this.config }, training: { ...this.counter, optimizers }, tensors };
  }

  async restore(state: DetectorState): Promise<void> {
    checkRestorable(this.method, 'MSFlow', state, this.config);
    writeModule(this.model, state.tensors, 'MSFlow.restore');
    const { step, lastFinite, lastFiniteStep } = state.training as Partial<StepCounter>;
    const steps = typeof step === 'number' ? step : 0;
    this.counter = {
      step: steps, lastFinite: typeof lastFinite === 'number' ? lastFinite : NaN,
      lastFiniteStep: typeof lastFiniteStep === 'number' ? lastFiniteStep : steps,
    };
    const packed = (state.training['optimizers'] as Record<string, PackedOptimizer> | undefined)?.['flows'];
    if (packed) {
      this.optimizer?.dispose();
      this.optimizer = new Adam(this.model.trainable(), { lr: this.config.lr });
      this.optimizer.loadState(unpackOptimizerState('MSFlow', 'flows', packed, state.tensors));
    }
  }

  dispose(): void {
    this.optimizer?.dispose();
    this.model.dispose();
    this.backbone.dispose();
  }
}
