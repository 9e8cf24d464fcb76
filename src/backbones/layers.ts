// Building blocks of the backbones: convolutions loaded from a WeightStore, either frozen (BatchNorm folded into
// the weights, nothing recorded) or trainable (conv + eval-mode BatchNorm with trainable affine, through autograd),
// and the ImageNet input normalisation.
import { conv2d } from '../ops/conv2d.ts';
import { add, mul, relu, scale } from '../ops/elementwise.ts';
import { batchNorm, foldBatchNorm, type BatchNormState } from '../ops/norm.ts';
import type { Modal, Module, NamedTensor } from '../nn/layers.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { Tensor, formatShape } from '../runtime/tensor.ts';
import type { ParamSpec, WeightStore } from './weights.ts';

/** torchvision's BatchNorm2d epsilon. */
const BN_EPS = 1e-5;
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** A convolution and what follows it, named as in the PyTorch state dict. */
export interface ConvDef {
  /** State-dict prefix of the convolution, e.g. `layer1.0.conv1`. */
  name: string;
  /** Prefix of the BatchNorm after it (ResNets, whose convs have no bias); null for a conv with bias (PDN). */
  bn: string | null;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
}

/** Output size of a convolution or pooling window along one axis (PyTorch's floor rule). */
export function windowOutput(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/**
 * The manifest entries of a convolution, with random-init mode's initialisers: torchvision's ResNet init
 * (kaiming_normal_, fan_out, ReLU gain; BatchNorm identity) when it has a BatchNorm, nn.Conv2d's default
 * (weight and bias uniform in +-1/sqrt(fan_in)) otherwise.
 */
export function convParams(def: ConvDef): ParamSpec[] {
  const { name, outChannels: o, inChannels: c, kernel: k } = def;
  const weightShape = [o, c, k, k];
  if (def.bn === null) {
    const bound = 1 / Math.sqrt(c * k * k);
    return [
      { key: `${name}.weight`, shape: weightShape, init: { kind: 'uniform', bound } },
      { key: `${name}.bias`, shape: [o], init: { kind: 'uniform', bound } },
    ];
  }
  const bn = def.bn;
  return [
    { key: `${name}.weight`, shape: weightShape, init: { kind: 'normal', std: Math.sqrt(2 / (o * k * k)) } },
    { key: `${bn}.weight`, shape: [o], init: { kind: 'constant', value: 1 } },
    { key: `${bn}.bias`, shape: [o], init: { kind: 'constant', value: 0 } },
    { key: `${bn}.running_mean`, shape: [o], init: { kind: 'constant', value: 0 } },
    { key: `${bn}.running_var`, shape: [o], init: { kind: 'constant', value: 1 } },
  ];
}

export async function asArray(v: Float32Array | Tensor): Promise<Float32Array> {
  if (v instanceof Float32Array) return v;
  const data = await v.read();
  v.dispose();
  return data;
}

/** Uploads CPU values, or takes over (shape-checked) a tensor the store made; either way outside any scope. */
function asTensor(rt: Runtime, v: Float32Array | Tensor, p: ParamSpec, store: WeightStore): Tensor {
  if (v instanceof Float32Array) return rt.tensor(v, p.shape).keep();
  if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i])) {
    throw new Error(
      `texad: ${store.name} gave '${p.key}' the shape ${formatShape(v.shape)}, expected ${formatShape(p.shape)}`,
    );
  }
  return v.keep();
}

/**
 * A loaded convolution: frozen (BatchNorm folded in, always eval mode) or trainable (BatchNorm separate: eval
 * mode by default, batch statistics and running-statistic updates when the network is in training mode).
 */
export class ConvLayer {
  private constructor(
    readonly def: ConvDef,
    private readonly weight: Tensor,
    private readonly bias: Tensor | null,
    /** Trainable layers with a BatchNorm keep it separate: gamma and beta train, the statistics move only in training mode. */
    private readonly bn: { gamma: Tensor; beta: Tensor; state: BatchNormState } | null,
  ) {}

  /** Reads the layer's tensors from `store` one at a time, folding BatchNorm unless the layer is trainable. */
  static async load(rt: Runtime, store: WeightStore, def: ConvDef, trainable: boolean): Promise<ConvLayer> {
    const [weightSpec, ...rest] = convParams(def) as [ParamSpec, ...ParamSpec[]];
    const weight = await store.read(rt, weightSpec);
    if (def.bn === null || trainable) {
      const tensors = [asTensor(rt, weight, weightSpec, store)];
      for (const p of rest) tensors.push(asTensor(rt, await store.read(rt, p), p, store));
      for (const t of tensors) t.requiresGrad = trainable;
      const [w, ...others] = tensors as [Tensor, ...Tensor[]];
      if (def.bn === null) return new ConvLayer(def, w, others[0]!, null);
      const [gamma, beta, mean, variance] = others as [Tensor, Tensor, Tensor, Tensor];
      mean.requiresGrad = variance.requiresGrad = false;
      return new ConvLayer(def, w, null, { gamma, beta, state: { runningMean: mean, runningVar: variance } });
    }
    const [gamma, beta, mean, variance] = await Promise.all(rest.map(async (p) => asArray(await store.read(rt, p))));
    const bn = { gamma: gamma!, beta: beta!, mean: mean!, var: variance! };
    const o = def.outChannels;
    if (weight instanceof Float32Array) {
      const folded = foldBatchNorm(weight, null, bn, o, BN_EPS);
      const w = rt.tensor(folded.weight, weightSpec.shape).keep();
      return new ConvLayer(def, w, rt.tensor(folded.bias, [o]).keep(), null);
    }
    // A weight already on the GPU (random init) is scaled there. Folding a weight of ones gives the per-channel
    // factors; at BatchNorm's identity init they are all equal and a scalar scale avoids the broadcast kernel.
    const factors = foldBatchNorm(new Float32Array(o).fill(1), null, bn, o, BN_EPS);
    const k = factors.weight;
    const w = asTensor(rt, weight, weightSpec, store);
    const uniform = k.every((v) => v === k[0]);
    const scaled = rt.noGrad(() => rt.tidy(() => (uniform ? scale(w, k[0]!) : mul(w, rt.tensor(k, [o, 1, 1, 1])))));
    w.dispose();
    return new ConvLayer(def, scaled.keep(), rt.tensor(factors.bias, [o]).keep(), null);
  }

  /**
   * conv, BatchNorm, + residual, ReLU. Frozen layers run it as one fused kernel; trainable ones as separate
   * differentiable ops.
   */
  forward(x: Tensor, opts: { relu: boolean; residual?: Tensor; training: boolean }): Tensor {
    const { stride, padding } = this.def;
    if (!this.bn) {
      const activation = opts.relu ? 'relu' : undefined;
      return conv2d(x, this.weight, this.bias, { stride, padding, residual: opts.residual, activation });
    }
    const { gamma, beta, state } = this.bn;
    const conv = conv2d(x, this.weight, null, { stride, padding });
    let y = consumed(conv, batchNorm(conv, gamma, beta, state, { training: opts.training, eps: BN_EPS }));
    if (opts.residual) y = consumed(y, add(y, opts.residual));
    return opts.relu ? consumed(y, relu(y)) : y;
  }

  /** The trainable tensors under their state-dict names (none when frozen). */
  trainable(): NamedTensor[] {
    const { name, bn } = this.def;
    const named = (n: string, tensor: Tensor): NamedTensor => ({ name: n, tensor });
    if (this.bn) return [named(`${name}.weight`, this.weight), named(`${bn}.weight`, this.bn.gamma), named(`${bn}.bias`, this.bn.beta)];
    if (this.weight.requiresGrad) return [named(`${name}.weight`, this.weight), named(`${name}.bias`, this.bias!)];
    return [];
  }

  /**
   * What a checkpoint of the layer holds: the trainable tensors and, with a separate BatchNorm, its running
   * statistics. Frozen layers hold nothing (their folded weights are no state-dict values; reload the weights).
   */
  tensors(): NamedTensor[] {
    if (!this.bn) return this.trainable();
    const { bn } = this.def;
    return [
      ...this.trainable(),
      { name: `${bn}.running_mean`, tensor: this.bn.state.runningMean },
      { name: `${bn}.running_var`, tensor: this.bn.state.runningVar },
    ];
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
    if (this.bn) {
      const { gamma, beta, state } = this.bn;
      for (const t of [gamma, beta, state.runningMean, state.runningVar]) t.dispose();
    }
  }
}

/**
 * What ResNets and PDNs share as nn Modules: their loaded layers (tensors by state-dict name), the input
 * normaliser, and train/eval mode. Networks start in eval mode (texad loads feature extractors and teachers);
 * train() switches the BatchNorms of trainable parts to batch statistics, as torch's model.train() does.
 */
export abstract class ConvNetwork implements Module, Modal {
  training = false;

  protected constructor(
    protected readonly layers: readonly ConvLayer[],
    protected readonly normalizer: ImageNetNormalize | null,
  ) {}

  train(mode = true): this {
    this.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  tensors(): NamedTensor[] {
    return this.layers.flatMap((l) => l.tensors());
  }

  trainable(): NamedTensor[] {
    return this.layers.flatMap((l) => l.trainable());
  }

  dispose(): void {
    this.normalizer?.dispose();
    for (const l of this.layers) l.dispose();
  }
}

/**
 * Returns `output` after freeing `input`, its only consumer, unless autograd recorded `output` (its backward may
 * read `input`). Keeps a frozen forward pass at a few live activations instead of every intermediate.
 */
export function consumed(input: Tensor, output: Tensor): Tensor {
  if (output.node === null) input.dispose();
  return output;
}

/** (x - mean) / std per RGB channel, as a multiply-add with precomputed [1, 3, 1, 1] factors. */
export class ImageNetNormalize {
  private readonly scale: Tensor;
  private readonly shift: Tensor;

  constructor(rt: Runtime) {
    this.scale = rt.tensor(IMAGENET_STD.map((s) => 1 / s), [1, 3, 1, 1]).keep();
    this.shift = rt.tensor(IMAGENET_MEAN.map((m, i) => -m / IMAGENET_STD[i]!), [1, 3, 1, 1]).keep();
  }

  forward(images: Tensor): Tensor {
    const scaled = mul(images, this.scale);
    return consumed(scaled, add(scaled, this.shift));
  }

  dispose(): void {
    this.scale.dispose();
    this.shift.dispose();
  }
}

/** Checks that `images` is [N, 3, H, W], naming the backbone and the shape otherwise. */
export function checkImages(images: Tensor, backbone: string): void {
  images.assertAlive(backbone);
  if (images.rank !== 4 || images.shape[1] !== 3) {
    throw new Error(`texad: ${backbone} needs images of shape [N, 3, H, W] (RGB in [0, 1]), got ${formatShape(images.shape)}`);
  }
}
