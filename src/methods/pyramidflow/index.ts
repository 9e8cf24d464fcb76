// PyramidFlow behind the Detector interface: frozen encoder -> Laplacian pyramid -> pyramid normalizing flow trained
// with the Fourier latent-template contrast; scores compare flow outputs with the per-level mean over the training
// images (the latent template).
import { loadBackbone, type Backbone } from '../../backbones/index.ts';
import type { WeightsSource } from '../../backbones/weights.ts';
import { add, scale, sub } from '../../ops/elementwise.ts';
import { max, mean, sum } from '../../ops/reduce.ts';
import { resizeBilinear } from '../../ops/resize.ts';
import type { Adam } from '../../runtime/optim.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { Initializer, writeModule, type Module } from '../../nn/layers.ts';
import { Rng } from '../../data/random.ts';
import { normalizeIllumination } from '../components/illumination.ts';
import { checkRestorable, packOptimizerState, unpackOptimizerState, type PackedOptimizer } from '../checkpoint.ts';
import {
  throwIfAborted, type Detector, type DetectorState, type FitOptions, type FitReport, type ImageBatch, type Prediction,
  type TrainingImages,
} from '../detector.ts';
import { pyramidFlowConfig, type PRESETS, type PyramidFlowConfig } from './config.ts';
import { Flow, SemiInvertibleConv } from './model.ts';
import { anomalyMap, augmentTextures, flowOptimizer, trainStep } from './train.ts';

export { PAPER, QUICK, pyramidFlowConfig, type PyramidFlowConfig } from './config.ts';

export interface PyramidFlowOptions {
  preset?: keyof typeof PRESETS;
  config?: Partial<PyramidFlowConfig>;
  /** ResNet18 encoder weights: a safetensors path/bytes, or 'random' (seeded init); unused by encoder 'none'. */
  weights?: WeightsSource;
}

/**
 * The frozen feature extractor in front of the flow: images [N, 3, S, S] in [0, 1] -> [N, C, S / stride, S / stride],
 * never updated by the optimizer. `module` holds what a checkpoint must keep.
 */
interface Encoder {
  readonly channels: number;
  readonly stride: number;
  readonly module: Module;
  forward(images: Tensor): Tensor;
  /** Follows the flow's train()/eval() (the official quirk for ResNet BatchNorm; no effect otherwise). */
  train(mode: boolean): void;
}

/**
 * ResNet18 stem + layer1. With encoder_bn 'train' those parts are built unfolded (BatchNorm separate) so that
 * train() gives them batch statistics; they still receive no gradient and no optimizer step.
 */
async function resnetEncoder(rt: Runtime, config: PyramidFlowConfig, weights: WeightsSource): Promise<Encoder> {
  const quirk = config.encoder_bn === 'train';
  const backbone: Backbone = await loadBackbone(rt, 'resnet18', {
    weights, seed: 0, taps: ['layer1'], ...(quirk ? { trainable: ['stem', 'layer1'] } : {}),
  });
  return {
    channels: 64,
    stride: 4,
    module: backbone,
    forward: (images) => rt.noGrad(() => backbone.forward(images)['layer1']!),
    train: (mode) => {
      if (quirk) backbone.train(mode);
    },
  };
}

function inconvEncoder(inconv: SemiInvertibleConv): Encoder {
  return { channels: inconv.channels, stride: 1, module: inconv, forward: (x) => inconv.forward(x), train: () => {} };
}

export class PyramidFlow implements Detector {
  readonly method = 'pyramidflow';
  readonly trainingUnit = 'epochs';
  /** The official dataset resizes to a square of the input size, no crop (gasharper/PyramidFlow). */
  readonly resizeMode = 'square' as const;
  readonly flow: Flow;
  /** Created by the first fit() or by restore(); kept so that a resumed fit continues the same Adam moments. */
  private adam: Adam | null = null;
  /** Per-level mean of the flow outputs over the training images (eval mode); set by fit() or restore(). */
  private template: Tensor[] | null = null;

  private constructor(
    private readonly rt: Runtime,
    readonly config: PyramidFlowConfig,
    private readonly encoder: Encoder,
  ) {
    const init = new Initializer(config.seed);
    const side = config.x_size / encoder.stride;
    this.flow = new Flow(rt, encoder.channels, side, config.numLayer, config.numStack, config.kernelSize, config.volumeNorm, init);
  }

  static async create(rt: Runtime, opts: PyramidFlowOptions = {}): Promise<PyramidFlow> {
    const config = pyramidFlowConfig(opts.preset ?? 'paper', opts.config);
    if (config.encoder === 'none') {
      // A stream of its own, so the flow's initialisation does not depend on the encoder choice.
      return new PyramidFlow(rt, config, inconvEncoder(new SemiInvertibleConv(rt, config.numChannel, new Initializer(config.seed + 0x1c0))));
    }
    return new PyramidFlow(rt, config, await resnetEncoder(rt, config, opts.weights ?? 'random'));
  }

  get inputSize(): number {
    return this.config.x_size;
  }

  get resize(): number {
    return this.config.x_size;
  }

  /** Flow outputs per level for a batch, in the flow's current mode. */
  private outputs(batch: ImageBatch): Tensor[] {
    const raw = this.rt.tensor(batch.images, [batch.count, 3, batch.height, batch.width]);
    const sigma = this.config.illumination_sigma;
    const images = sigma > 0 ? normalizeIllumination(raw, sigma) : raw;
    return this.flow.forwardFeatures(this.encoder.forward(images));
  }

  async fit(train: TrainingImages, opts: FitOptions = {}): Promise<FitReport> {
    const { rt, config } = this;
    const started = performance.now();
    const epochs = opts.length ?? config.epochs;
    if (train.count < config.batchSize) {
      throw new Error(`texad: PyramidFlow.fit: ${train.count} training images; the pairwise loss needs at least batchSize = ${config.batchSize} (official drop_last)`);
    }
    const params = this.flow.trainable();
    const adam = (this.adam ??= this.makeOptimizer());
    let finalLoss = NaN;
    try {
      this.setTraining(true);
      for (let epoch = opts.start ?? 0; epoch < epochs; epoch++) {
        // Per-epoch generators: a run resumed at any epoch shuffles and augments like an uninterrupted one.
        const random = new Rng(config.seed, 0xa0 + epoch);
        let lastLoss: Tensor | null = null;
        for await (const batch of train.batches({ batchSize: config.batchSize, size: config.x_size, shuffleSeed: config.seed * 7919 + epoch })) {
          throwIfAborted(opts.signal, 'PyramidFlow training');
          // drop_last: a short final batch is skipped, as the official DataLoader does.
          if (batch.count < config.batchSize) continue;
          if (config.augment) augmentTextures(batch.images, batch.count, batch.width, () => random.next());
          lastLoss?.dispose();
          lastLoss = rt.tidy(() => trainStep(this.outputs(batch), params, adam, config.max_norm));
        }
        finalLoss = lastLoss ? (await lastLoss.read())[0]! : NaN;
        lastLoss?.dispose();
        await adam.checkFinite();
        opts.onProgress?.({ phase: 'train', done: epoch + 1, total: epochs, unit: 'epochs', loss: finalLoss });
        await opts.onCheckpoint?.(epoch + 1);
      }
    } finally {
      this.setTraining(false);
    }
    throwIfAborted(opts.signal, 'PyramidFlow template');
    await this.buildTemplate(train, opts.onProgress);
    return { length: epochs, unit: 'epochs', seconds: (performance.now() - started) / 1000, finalLoss };
  }

  private makeOptimizer(): Adam {
    return flowOptimizer(this.flow.trainable(), this.config);
  }

  /** The latent template: per-level mean of the eval-mode flow outputs over every training image (no augmentation). */
  private async buildTemplate(train: TrainingImages, onProgress: FitOptions['onProgress']): Promise<void> {
    const { rt, config } = this;
    let sums: Tensor[] | null = null;
    let count = 0;
    for await (const batch of train.batches({ batchSize: config.batchSize, size: config.x_size })) {
      const prev: Tensor[] | null = sums;
      sums = rt.tidy(() => rt.noGrad(() => {
        const outs = this.outputs(batch).map((o) => sum(o, [0], true));
        return (prev ? outs.map((o, i) => add(o, prev[i]!)) : outs).map((t) => t.keep());
      }));
      prev?.forEach((t) => t.dispose());
      count += batch.count;
      onProgress?.({ phase: 'features', done: count, total: train.count });
    }
    this.disposeTemplate();
    this.template = rt.noGrad(() => sums!.map((s) => scale(s, 1 / count).keep()));
    sums!.forEach((t) => t.dispose());
  }

  async predict(batch: ImageBatch): Promise<Prediction> {
    const { rt } = this;
    if (!this.template) throw new Error('texad: PyramidFlow.predict: no latent template yet; fit() or restore() first');
    const template = this.template;
    this.setTraining(false);
    return rt.tidyAsync(async () => {
      const { map, scores } = rt.noGrad(() => {
        const m = anomalyMap(this.outputs(batch), template);
        const full = m.shape[2] === batch.height ? m : resizeBilinear(m, [batch.height, batch.width]);
        const peak = max(m, [1, 2, 3]);
        return { map: full, scores: this.config.score === 'max' ? peak : sub(peak, mean(m, [1, 2, 3])) };
      });
      return { scores: await scores.read(), maps: await map.read(), height: batch.height, width: batch.width };
    });
  }

  /** flow.train()/eval(), which in the official code also reaches the encoder. */
  private setTraining(on: boolean): void {
    this.flow.train(on);
    this.encoder.train(on);
  }

  private namedTensors(): Array<{ name: string; tensor: Tensor }> {
    return [
      ...this.flow.tensors(),
      ...this.encoder.module.tensors(),
      ...(this.template ?? []).map((tensor, i) => ({ name: `template.${i}`, tensor })),
    ];
  }

  /** Flow, encoder and (once fit() has finished) the latent template; mid-fit states have no template. */
  async state(): Promise<DetectorState> {
    const tensors: DetectorState['tensors'] = {};
    for (const { name, tensor } of this.namedTensors()) tensors[name] = { shape: [...tensor.shape], data: await tensor.read() };
    const optimizers = this.adam ? { flow: packOptimizerState('flow', await this.adam.saveState(), tensors) } : {};
    return { method: this.method, config: { ...this.config }, training: { optimizers }, tensors };
  }

  async restore(state: DetectorState): Promise<void> {
    checkRestorable(this.method, 'PyramidFlow', state, this.config);
    writeModule(this.flow, state.tensors, 'PyramidFlow.restore');
    writeModule(this.encoder.module, state.tensors, 'PyramidFlow.restore');
    const packed = (state.training['optimizers'] as Record<string, PackedOptimizer> | undefined)?.['flow'];
    if (packed) {
      this.adam?.dispose();
      this.adam = this.makeOptimizer();
      this.adam.loadState(unpackOptimizerState('PyramidFlow', 'flow', packed, state.tensors));
    }
    const levels = Array.from({ length: this.config.numLayer }, (_, i) => state.tensors[`template.${i}`]);
    this.disposeTemplate();
    // A state saved between epochs has no template yet: predict() refuses until fit() completes.
    if (levels.every((t) => t)) this.template = levels.map((t) => this.rt.tensor(t!.data, t!.shape).keep());
  }

  private disposeTemplate(): void {
    this.template?.forEach((t) => t.dispose());
    this.template = null;
  }

  dispose(): void {
    this.adam?.dispose();
    this.disposeTemplate();
    this.flow.dispose();
    this.encoder.module.dispose();
  }
}
