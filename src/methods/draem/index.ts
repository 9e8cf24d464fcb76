// DRAEM (Zavrtanik et al., ICCV 2021) as a texad Detector: trained from scratch on synthesised anomalies (no
// pretrained backbone), scored by the discriminative network's anomaly probability.
import { GpuRng } from '../../ops/index.ts';
import { backward } from '../../runtime/autograd.ts';
import { Adam, multiStepLR } from '../../runtime/optim.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import { Initializer, readModule, writeModule } from '../../nn/layers.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { normalizeIllumination } from '../components/illumination.ts';
import { checkRestorable, packOptimizerState, unpackOptimizerState, type PackedOptimizer } from '../checkpoint.ts';
import {
  throwIfAborted, type Detector, type DetectorState, type FitOptions, type FitReport, type ImageBatch, type Prediction,
  type TrainingImages,
} from '../detector.ts';
import { draemConfig, type DraemConfig, type DraemPreset } from './config.ts';
import { DiscriminativeSubNetwork, ReconstructiveSubNetwork } from './model.ts';
import { FolderSource, ProceduralSource, synthesize, type AnomalySource } from './synthesis.ts';
import { draemInference, draemLoss } from './train.ts';

export { PAPER, QUICK, draemConfig, type DraemConfig } from './config.ts';

export interface DraemOptions {
  preset?: DraemPreset;
  config?: Partial<DraemConfig>;
  /**
   * Anomaly-source textures (the paper: DTD) decoded by the data layer, with a label for reports; absent: the
   * built-in seeded procedural textures.
   */
  anomalySource?: { images: TrainingImages; label: string };
}

/** MultiStepLR milestones as train_DRAEM.py builds them: epochs * fraction, which only fire when integral. */
export function draemMilestones(c: DraemConfig, epochs: number): number[] {
  return c.lr_milestones.map((f) => epochs * f).filter((m) => Number.isInteger(m));
}

export class Draem implements Detector {
  readonly method = 'draem';
  readonly reconstructive: ReconstructiveSubNetwork;
  readonly discriminative: DiscriminativeSubNetwork;
  readonly trainingUnit = 'epochs' as const;
  /** The official loader's cv2.resize to (s, s): a square resize, no crop (VitjanZ/DRAEM data_loader.py). */
  readonly resizeMode = 'square' as const;
  private readonly source: AnomalySource;
  /** Created by the first fit() or by restore(), so a resumed fit continues the same Adam moments. */
  private optimizer: Adam | null = null;

  private constructor(private readonly rt: Runtime, readonly config: DraemConfig, source: AnomalySource | null) {
    const init = new Initializer(config.seed);
    this.reconstructive = new ReconstructiveSubNetwork(rt, config.base_width, init);
    this.discriminative = new DiscriminativeSubNetwork(rt, config.base_channels, init);
    this.source = source ?? new ProceduralSource(rt, config.seed);
  }

  static async create(rt: Runtime, opts: DraemOptions = {}): Promise<Draem> {
    const config = draemConfig(opts.preset ?? 'paper', opts.config);
    const source = opts.anomalySource
      ? new FolderSource(rt, opts.anomalySource.images, config.seed, opts.anomalySource.label)
      : null;
    if (opts.anomalySource && opts.anomalySource.images.count === 0) {
      throw new Error(`texad: DRAEM anomaly source ${opts.anomalySource.label} has no images`);
    }
    return new Draem(rt, config, source);
  }

  get inputSize(): number {
    return this.config.img_size;
  }

  get resize(): number {
    return this.config.img_size;
  }

  /** Which anomaly source training uses (for reports). */
  get anomalySource(): string {
    return this.source.name;
  }

  /** The images the networks see: illumination-normalised when `illumination_sigma` > 0, else as given. */
  private normalize(images: Tensor): Tensor {
    return this.config.illumination_sigma > 0 ? normalizeIllumination(images, this.config.illumination_sigma) : images;
  }

  private setTraining(on: boolean): void {
    this.reconstructive.train(on);
    this.discriminative.train(on);
  }

  async fit(train: TrainingImages, opts: FitOptions = {}): Promise<FitReport> {
    const { rt, config: c } = this;
    if (train.count === 0) throw new Error('texad: DRAEM.fit: no training images');
    const started = performance.now();
    const epochs = opts.length ?? c.epochs;
    const startEpoch = opts.start ?? 0;
    const stepsPerEpoch = Math.ceil(train.count / c.bs);
    // train_DRAEM.py: one Adam over both networks' parameters (two groups with the same lr), MultiStepLR per epoch.
    const optimizer = (this.optimizer ??= this.makeOptimizer());
    const schedule = multiStepLR(c.lr, draemMilestones(c, epochs), c.lr_gamma);
    let finalLoss = NaN;
    this.setTraining(true);
    try {
      for (let epoch = startEpoch; epoch < epochs; epoch++) {
        optimizer.lr = schedule(epoch);
        const perlin = new GpuRng(rt, [c.seed >>> 0, 0xd4ae0000 + epoch]);
        let last: Tensor | null = null;
        let step = epoch * stepsPerEpoch;
        for await (const batch of train.batches({ batchSize: c.bs, size: c.img_size, shuffleSeed: c.seed * 7919 + epoch })) {
          throwIfAborted(opts.signal, 'DRAEM training');
          last?.dispose();
          last = await rt.tidyAsync(async () => {
            const images = rt.tensor(batch.images, [batch.count, 3, c.img_size, c.img_size]);
            const s = await synthesize(rt, c, images, this.source, perlin, step++);
            // Normalised after synthesis, as a test image is normalised with its defect in it.
            const { total } = draemLoss(this.reconstructive, this.discriminative, this.normalize(s.image),
              this.normalize(s.augmented), s.mask, c.gamma);
            backward(total);
            optimizer.step();
            optimizer.zeroGrad();
            return total;
          });
        }
        finalLoss = last ? (await last.read())[0]! : NaN;
        last?.dispose();
        await optimizer.checkFinite();
        opts.onProgress?.({ phase: 'train', done: epoch + 1, total: epochs, unit: 'epochs', loss: finalLoss });
        await opts.onCheckpoint?.(epoch + 1);
      }
    } finally {
      this.setTraining(false);
    }
    return { length: epochs, unit: 'epochs', seconds: (performance.now() - started) / 1000, finalLoss };
  }

  private makeOptimizer(): Adam {
    return new Adam([...this.reconstructive.trainable(), ...this.discriminative.trainable()], { lr: this.config.lr });
  }

  /**
   * test_DRAEM.py: both networks in eval mode (running BatchNorm statistics); map = softmax channel 1 of the
   * discriminative logits on (reconstruction, image); image score = max of the map after avg_pool2d(score_pool,
   * stride 1, padding score_pool // 2, padding counted).
   */
  async predict(batch: ImageBatch): Promise<Prediction> {
    const { rt, config: c } = this;
    if (batch.height !== c.img_size || batch.width !== c.img_size) {
      throw new Error(`texad: DRAEM.predict: images are ${batch.height}x${batch.width}; this model takes ${c.img_size}x${c.img_size} (resize to inputSize)`);
    }
    this.setTraining(false);
    return rt.tidyAsync(async () => {
      const { map, scores } = rt.noGrad(() => {
        const images = this.normalize(rt.tensor(batch.images, [batch.count, 3, c.img_size, c.img_size]));
        return draemInference(this.reconstructive, this.discriminative, images, c.score_pool);
      });
      return { scores: await scores.read(), maps: await map.read(), height: c.img_size, width: c.img_size };
    });
  }

  async state(): Promise<DetectorState> {
    const tensors: DetectorState['tensors'] = {};
    for (const [prefix, m] of [['reconstructive', this.reconstructive], ['discriminative', this.discriminative]] as const) {
      for (const [k, v] of Object.entries(await readModule(m))) tensors[`${prefix}.${k}`] = v;
    }
    const optimizers: Record<string, PackedOptimizer> = {};
    if (this.optimizer) optimizers['adam'] = packOptimizerState('adam', await this.optimizer.saveState(), tensors);
    return { method: this.method, config: { ...this.config }, training: { optimizers }, tensors };
  }

  async restore(state: DetectorState): Promise<void> {
    checkRestorable(this.method, 'DRAEM', state, this.config);
    for (const [prefix, m] of [['reconstructive', this.reconstructive], ['discriminative', this.discriminative]] as const) {
      const own: DetectorState['tensors'] = {};
      for (const [k, v] of Object.entries(state.tensors)) if (k.startsWith(`${prefix}.`)) own[k.slice(prefix.length + 1)] = v;
      writeModule(m, own, `DRAEM.restore (${prefix})`);
    }
    const packed = (state.training['optimizers'] as Record<string, PackedOptimizer> | undefined)?.['adam'];
    if (packed) {
      this.optimizer?.dispose();
      this.optimizer = this.makeOptimizer();
      this.optimizer.loadState(unpackOptimizerState('DRAEM', 'adam', packed, state.tensors));
    }
  }

  dispose(): void {
    this.optimizer?.dispose();
    this.reconstructive.dispose();
    this.discriminative.dispose();
  }
}
