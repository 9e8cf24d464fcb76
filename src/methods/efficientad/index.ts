// EfficientAD behind the Detector interface: a frozen PDN teacher, a PDN student with twice its outputs and an
// autoencoder trained for `train_steps` single-image steps; maps normalised by quantiles of validation maps.
import { loadBackbone, type Backbone } from '../../backbones/index.ts';
import { ImageNetNormalize } from '../../backbones/layers.ts';
import { randomWeights, type WeightsSource } from '../../backbones/weights.ts';
import { GpuRng, cpuUniform } from '../../ops/random.ts';
import { quantile } from '../../ops/select.ts';
import { backward } from '../../runtime/autograd.ts';
import { Adam, stepLR } from '../../runtime/optim.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { Initializer, readModule, writeModule, type NamedTensor } from '../../nn/layers.ts';
import { checkRestorable, packOptimizerState, unpackOptimizerState, type PackedOptimizer } from '../checkpoint.ts';
import { imageScores } from '../components/anomaly-map.ts';
import {
  throwIfAborted, type Detector, type DetectorState, type FitOptions, type FitReport, type ImageBatch, type Prediction,
  type TrainingImages,
} from '../detector.ts';
import { PRESETS, checkImageSize, pdnName, type EfficientAdConfig, type PresetName } from './config.ts';
import { Autoencoder, TeacherNormalization, combineMaps, teacherNormalization, type MapQuantiles } from './model.ts';
import { JITTERS, colorJitter, efficientAdLoss, rawMaps, type EfficientAdNets } from './train.ts';

export { PAPER, QUICK, type EfficientAdConfig } from './config.ts';

/** Seed of the random teacher when no weights are given: fixed, so every method seed distils the same teacher. */
const RANDOM_TEACHER_SEED = 0x7eac4e12;
/** Checkpoints (FitOptions.onCheckpoint) every this fraction of train_steps. */
const CHECKPOINTS = 10;
/** Training steps between loss readbacks (and progress reports): nelson1425's tqdm shows the loss every 10. */
const LOSS_EVERY = 10;
/** Fewer validation images than this give unstable 0.995 quantiles; fit() records the count and the warning. */
export const MIN_VALIDATION_IMAGES = 10;

export interface EfficientAdOptions {
  preset?: PresetName;
  config?: Partial<EfficientAdConfig>;
  /** Teacher weights: a pdn_small / pdn_medium safetensors (tools/export-weights.py), or 'random' (labelled). */
  teacher?: WeightsSource;
  /** Auxiliary images for the penalty loss (nelson1425's --imagenet_train_path); none = no penalty. */
  penalty?: TrainingImages;
}

/**
 * EfficientAD as a Detector: `await EfficientAd.create(rt, { preset: 'paper', teacher: 'pdn_small.safetensors' })`,
 * then fit(train, { validation }) (validation images set the map quantiles) and predict(batch).
 */
export class EfficientAd implements Detector {
  readonly method = 'efficientad';
  readonly trainingUnit = 'iterations';
  /** The official transforms.Resize((s, s)): a square resize, no crop (nelson1425/EfficientAD). */
  readonly resizeMode = 'square' as const;
  private readonly normalize: ImageNetNormalize;
  private normalization: TeacherNormalization | null = null;
  private quantiles: MapQuantiles | null = null;
  /** What the map quantiles were measured on (reported in state().training). */
  private quantileSource: { source: 'validation' | 'training'; images: number; warning?: string } | null = null;
  private optimizer: Adam | null = null;

  private constructor(
    private readonly rt: Runtime,
    readonly config: EfficientAdConfig,
    private readonly teacher: Backbone,
    private readonly student: Backbone,
    private readonly autoencoder: Autoencoder,
    /** Where the teacher came from, e.g. `random init (seed ...)`: recorded in the state so reports can label it. */
    readonly teacherSource: string,
    private readonly penalty: TrainingImages | undefined,
  ) {
    this.normalize = new ImageNetNormalize(rt);
  }

  static async create(rt: Runtime, opts: EfficientAdOptions = {}): Promise<EfficientAd> {
    const base = PRESETS[opts.preset ?? 'paper'];
    if (!base) throw new Error(`texad: unknown EfficientAD preset '${opts.preset}' (use ${Object.keys(PRESETS).join(' or ')})`);
    const config = { ...base, ...opts.config };
    checkImageSize(config.image_size);
    const arch = pdnName(config.model_size);
    const teacherWeights = opts.teacher ?? 'random';
    const common = { normalize: false, padding: config.padding } as const;
    // A teacher file of the other size or width fails here, naming the file's and the configuration's architecture.
    const teacher = await loadBackbone(rt, arch, {
      ...common, weights: teacherWeights === 'random' ? randomWeights(RANDOM_TEACHER_SEED) : teacherWeights,
      outChannels: config.out_channels,
    }).catch((err: Error) => {
      throw new Error(`texad: EfficientAD model_size '${config.model_size}' needs a ${arch} teacher with ` +
        `${config.out_channels} outputs: ${err.message}`);
    });
    const student = await loadBackbone(rt, arch, {
      ...common, weights: randomWeights(config.seed >>> 0), outChannels: 2 * config.out_channels, trainable: true,
    });
    const autoencoder = new Autoencoder(rt, config.image_size, config.out_channels, config.dropout,
      new GpuRng(rt, [config.seed >>> 0, 0xae000000]), new Initializer(config.seed));
    const source = teacherWeights === 'random' ? `random init (seed ${RANDOM_TEACHER_SEED}): NOT a distilled teacher`
      : typeof teacherWeights === 'string' ? teacherWeights : 'weights given in memory';
    return new EfficientAd(rt, config, teacher, student, autoencoder, source, opts.penalty);
  }

  get inputSize(): number {
    return this.config.image_size;
  }

  get resize(): number {
    return this.config.image_size;
  }

  private nets(): EfficientAdNets {
    if (!this.normalization) throw new Error('texad: EfficientAD has no teacher normalisation yet; fit() or restore() first');
    return {
      teacher: this.teacher, student: this.student, autoencoder: this.autoencoder, normalization: this.normalization,
      outChannels: this.config.out_channels,
    };
  }

  private batches(images: TrainingImages, shuffleSeed?: number): AsyncIterable<ImageBatch> {
    const size = this.config.image_size;
    return images.batches({ batchSize: 1, size, ...(shuffleSeed !== undefined ? { shuffleSeed } : {}) });
  }

  private upload(batch: ImageBatch, pixels = batch.images): Tensor {
    return this.normalize.forward(this.rt.tensor(pixels, [batch.count, 3, batch.height, batch.width]));
  }

  private measureTeacher(train: TrainingImages, signal: AbortSignal | undefined): Promise<TeacherNormalization> {
    const images = async function* (self: EfficientAd): AsyncIterable<Tensor> {
      for await (const batch of self.batches(train)) {
        throwIfAborted(signal, 'EfficientAD teacher normalisation');
        yield self.upload(batch);
      }
    };
    return teacherNormalization(this.teacher, this.config.out_channels, () => images(this));
  }

  async fit(train: TrainingImages, opts: FitOptions = {}): Promise<FitReport> {
    const { rt, config } = this;
    const started = performance.now();
    if (train.count === 0) throw new Error('texad: EfficientAD.fit: no training images');
    const steps = opts.length ?? config.train_steps;
    const start = opts.start ?? 0;
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`texad: EfficientAD.fit: train_steps must be a positive integer, got ${steps}`);
    if (this.penalty && this.penalty.count === 0) throw new Error('texad: EfficientAD.fit: the penalty image folder holds no images');

    if (!this.normalization || start === 0) this.normalization = await this.measureTeacher(train, opts.signal);
    const nets = this.nets();
    const optimizer = (this.optimizer ??= this.makeOptimizer());
    const schedule = stepLR(config.lr, Math.max(1, Math.floor(config.lr_step_fraction * steps)));
    const every = Math.max(1, Math.floor(steps / CHECKPOINTS));
    this.student.train();
    this.autoencoder.train();
    let finalLoss = NaN;
    let pendingLoss: Tensor | null = null;
    // Images in seeded epoch orders; a resumed fit skips to the same position of the same order.
    const images = this.cycle(train, Math.floor(start / train.count), start % train.count, config.seed);
    const penalties = this.penalty
      ? this.cycle(this.penalty, Math.floor(start / this.penalty.count), start % this.penalty.count, config.seed + 1) : null;
    try {
      for (let step = start; step < steps; step++) {
        throwIfAborted(opts.signal, 'EfficientAD training');
        const batch = (await images.next()).value as ImageBatch;
        const penaltyBatch = penalties ? (await penalties.next()).value as ImageBatch : undefined;
        optimizer.lr = schedule(step);
        const [pick, factor] = cpuUniform([config.seed >>> 0, 0xc0107000], step, 2);
        const jitter = JITTERS[Math.min(2, Math.floor(pick! * 3))]!;
        const augmented = colorJitter(batch.images, jitter, 1 - config.color_jitter + 2 * config.color_jitter * factor!);
        this.autoencoder.rng = new GpuRng(rt, [config.seed >>> 0, 0xd0000000 + step]);
        pendingLoss?.dispose();
        pendingLoss = rt.tidy(() => {
          const losses = efficientAdLoss(nets, {
            image: this.upload(batch), imageAe: this.upload(batch, augmented),
            ...(penaltyBatch ? { penalty: this.upload(penaltyBatch) } : {}),
          }, config.hard_quantile);
          backward(losses.total);
          optimizer.step();
          optimizer.zeroGrad();
          return losses.total;
        });
        // Steps queue back to back: the loss and the optimizer's non-finite flags are read only at a logging
        // point (nelson1425 logs every 10 iterations) and at the end (a checkpoint's state save checks the flags).
        const done = step + 1;
        if (done % LOSS_EVERY === 0 || done === steps) {
          finalLoss = (await pendingLoss.read())[0]!;
          await optimizer.checkFinite();
          if (!Number.isFinite(finalLoss)) throw new Error(`texad: EfficientAD training diverged by step ${done} (loss ${finalLoss}); lower lr`);
          opts.onProgress?.({ phase: 'train', done, total: steps, unit: 'iterations', loss: finalLoss });
        }
        if (done % every === 0 && done < steps) await opts.onCheckpoint?.(done);
      }
    } finally {
      pendingLoss?.dispose();
      // Closing the endless iterators releases the loaders' prefetched batches before the next pass reads images.
      await images.return(undefined);
      await penalties?.return(undefined);
      this.student.eval();
      this.autoencoder.eval();
    }
    await this.measureQuantiles(opts.validation ?? train, opts.validation ? 'validation' : 'training', opts.signal);
    await opts.onCheckpoint?.(steps);
    return { length: steps, unit: 'iterations', seconds: (performance.now() - started) / 1000, finalLoss };
  }

  /** Endless single-image batches of `images`: epoch e in seeded order (seed, e), starting at `epoch`, `skip`. */
  private async *cycle(images: TrainingImages, epoch: number, skip: number, seed: number): AsyncGenerator<ImageBatch> {
    for (let e = epoch; ; e++) {
      let i = 0;
      for await (const batch of this.batches(images, seed * 7919 + e)) if (e > epoch || i++ >= skip) yield batch;
    }
  }

  private makeOptimizer(): Adam {
    const params: NamedTensor[] = [
      ...this.student.trainable().map(({ name, tensor }) => ({ name: `student.${name}`, tensor })),
      ...this.autoencoder.trainable().map(({ name, tensor }) => ({ name: `ae.${name}`, tensor })),
    ];
    return new Adam(params, { lr: this.config.lr, weightDecay: this.config.weight_decay });
  }

  /** Per-image [count, 1, h, w] student-teacher and autoencoder maps (eval mode, no tape). */
  private rawMaps(batch: ImageBatch): { st: Tensor; ae: Tensor } {
    return this.rt.noGrad(() => rawMaps(this.nets(), this.upload(batch)));
  }

  /** The 0.9 / 0.995 quantiles of all raw st and ae map values over `images` (nelson1425: unpadded maps). */
  private async measureQuantiles(images: TrainingImages, source: 'validation' | 'training', signal?: AbortSignal): Promise<void> {
    const { rt, config } = this;
    const st: Float32Array[] = [];
    const ae: Float32Array[] = [];
    for await (const batch of this.batches(images)) {
      throwIfAborted(signal, 'EfficientAD map normalisation');
      await rt.tidyAsync(async () => {
        const maps = this.rawMaps(batch);
        st.push(await maps.st.read());
        ae.push(await maps.ae.read());
      });
    }
    const q = async (parts: Float32Array[], p: number) => rt.tidyAsync(async () => {
      const all = new Float32Array(parts.reduce((n, a) => n + a.length, 0));
      parts.reduce((off, a) => (all.set(a, off), off + a.length), 0);
      return Math.fround(await quantile(rt.tensor(all, [all.length]), p));
    });
    this.quantiles = {
      stLow: await q(st, config.map_quantile_low), stHigh: await q(st, config.map_quantile_high),
      aeLow: await q(ae, config.map_quantile_low), aeHigh: await q(ae, config.map_quantile_high),
    };
    this.quantileSource = {
      source, images: images.count,
      ...(images.count < MIN_VALIDATION_IMAGES
        ? { warning: `map quantiles from only ${images.count} ${source} images (fewer than ${MIN_VALIDATION_IMAGES}): unstable` }
        : {}),
    };
  }

  async predict(batch: ImageBatch): Promise<Prediction> {
    const { rt } = this;
    const q = this.quantiles;
    if (!q) throw new Error('texad: EfficientAD.predict before fit() or restore(): no map normalisation');
    this.student.eval();
    this.autoencoder.eval();
    return rt.tidyAsync(async () => {
      const { st, ae } = this.rawMaps(batch);
      const maps = await rt.noGrad(() => combineMaps(st, ae, q, this.config.pad_maps, [batch.height, batch.width])).read();
      // nelson1425: the image score is the maximum of the padded, upsampled map.
      return { scores: imageScores(maps, batch.count, { kind: 'max' }), maps, height: batch.height, width: batch.width };
    });
  }

  async state(): Promise<DetectorState> {
    const tensors: DetectorState['tensors'] = {};
    for (const [prefix, m] of [['student', this.student], ['ae', this.autoencoder]] as const) {
      for (const [name, v] of Object.entries(await readModule(m))) tensors[`${prefix}.${name}`] = v;
    }
    const c = this.config.out_channels;
    if (this.normalization) {
      tensors['teacher_mean'] = { shape: [c], data: this.normalization.mean };
      tensors['teacher_std'] = { shape: [c], data: this.normalization.std };
    }
    const optimizers: Record<string, PackedOptimizer> = {};
    if (this.optimizer) optimizers['adam'] = packOptimizerState('adam', await this.optimizer.saveState(), tensors);
    return {
      method: this.method, config: { ...this.config },
      training: { teacher: this.teacherSource, map_quantiles: this.quantiles, map_quantile_images: this.quantileSource, optimizers },
      tensors,
    };
  }

  async restore(state: DetectorState): Promise<void> {
    checkRestorable(this.method, 'EfficientAD', state, this.config);
    const strip = (prefix: string) => Object.fromEntries(Object.entries(state.tensors)
      .filter(([k]) => k.startsWith(`${prefix}.`)).map(([k, v]) => [k.slice(prefix.length + 1), v]));
    writeModule(this.student, strip('student'), 'EfficientAD.restore (student)');
    writeModule(this.autoencoder, strip('ae'), 'EfficientAD.restore (autoencoder)');
    const mean = state.tensors['teacher_mean'];
    const std = state.tensors['teacher_std'];
    this.normalization = mean && std ? new TeacherNormalization(mean.data, std.data) : null;
    this.quantiles = (state.training['map_quantiles'] as MapQuantiles | null | undefined) ?? null;
    this.quantileSource = (state.training['map_quantile_images'] as EfficientAd['quantileSource'] | undefined) ?? null;
    const saved = (state.training['optimizers'] as Record<string, PackedOptimizer> | undefined)?.['adam'];
    if (saved) {
      this.optimizer?.dispose();
      this.optimizer = this.makeOptimizer();
      this.optimizer.loadState(unpackOptimizerState('EfficientAD', 'adam', saved, state.tensors));
    }
  }

  dispose(): void {
    this.optimizer?.dispose();
    this.normalize.dispose();
    this.teacher.dispose();
    this.student.dispose();
    this.autoencoder.dispose();
  }
}
