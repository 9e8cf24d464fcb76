// Trainable layers: parameter holders over the ops, with PyTorch's initialisations drawn from a seeded CPU
// generator (so a seed gives the same weights in every runtime), named parameters for optimizers and
// checkpoints (PyTorch state-dict names), and PyTorch's train/eval modes.
//
// Naming: each parametrised layer receives its full state-dict prefix when it is built (e.g.
// `new Conv2d(rt, 'encoder.block1.0', ...)` owns `encoder.block1.0.weight`); containers concatenate their
// children's names, so a network's tensors() read like `model.state_dict()` of the official code.
import { conv2d } from '../ops/conv2d.ts';
import { add, leakyRelu, mul, relu, sigmoid, tanh } from '../ops/elementwise.ts';
import { linear } from '../ops/matmul.ts';
import { batchNorm, layerNorm, layerNormChannels } from '../ops/norm.ts';
import { avgPool2d, maxPool2d } from '../ops/pool.ts';
import { cpuNormal, cpuUniform, dropout, type GpuRng } from '../ops/random.ts';
import { resizeBilinear, resizeNearest } from '../ops/resize.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { formatShape, type Tensor } from '../runtime/tensor.ts';

export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

/** Anything owning tensors that a checkpoint must hold; `trainable` marks what optimizers update. */
export interface Module {
  tensors(): NamedTensor[];
  trainable(): NamedTensor[];
  dispose(): void;
}

/** PyTorch's train/eval switch: BatchNorm uses batch statistics (and updates its running ones) in training. */
export interface Modal {
  readonly training: boolean;
  /** Sets training mode on this module and everything inside it (torch's `train(mode)`); returns this. */
  train(mode?: boolean): this;
  /** `train(false)`. */
  eval(): this;
}

/** Seeded initialiser: each call draws a fresh Philox stream of the seed. */
export class Initializer {
  private stream = 0;
  constructor(readonly seed: number) {}

  normal(n: number, std: number, mean = 0): Float32Array {
    return cpuNormal(this.seed, this.stream++, n, mean, std);
  }

  uniform(n: number, bound: number): Float32Array {
    return cpuUniform(this.seed, this.stream++, n, -bound, bound);
  }
}

/**
 * Weight initialisation of Linear and Conv2d. 'default' is PyTorch's (kaiming_uniform_ with a = sqrt(5), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in))); 'xavier-normal' is xavier_normal_ (SimpleNet); `{ std, mean }` is
 * normal_(mean, std), e.g. DRAEM's N(0, 0.02) conv weights.
 */
export type WeightInit = 'default' | 'xavier-normal' | { std: number; mean?: number };

/** Bias initialisation: 'default' is PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)), 'zeros' is constant 0. */
export type BiasInit = 'default' | 'zeros';

function initWeight(init: Initializer, how: WeightInit, n: number, fanIn: number, fanOut: number): Float32Array {
  if (how === 'default') return init.uniform(n, 1 / Math.sqrt(fanIn));
  if (how === 'xavier-normal') return init.normal(n, Math.sqrt(2 / (fanIn + fanOut)));
  return init.normal(n, how.std, how.mean ?? 0);
}

function initBias(init: Initializer, how: BiasInit, n: number, fanIn: number): Float32Array {
  return how === 'zeros' ? new Float32Array(n) : init.uniform(n, 1 / Math.sqrt(fanIn));
}

/**
 * Base of every layer: a forward pass, train/eval mode (default training, as in PyTorch) propagated to
 * `children()`, and tensors gathered from own parameters plus children.
 */
export abstract class Layer implements Module, Modal {
  training = true;

  abstract forward(x: Tensor): Tensor;

  /** Layers inside this one, in state-dict order. */
  protected children(): Layer[] {
    return [];
  }

  /** This layer's own trainable parameters. */
  protected ownTrainable(): NamedTensor[] {
    return [];
  }

  /** This layer's own checkpointed tensors that optimizers do not update (BatchNorm's running statistics). */
  protected ownBuffers(): NamedTensor[] {
    return [];
  }

  train(mode = true): this {
    this.training = mode;
    for (const c of this.children()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  tensors(): NamedTensor[] {
    return [...this.ownTrainable(), ...this.ownBuffers(), ...this.children().flatMap((c) => c.tensors())];
  }

  trainable(): NamedTensor[] {
    return [...this.ownTrainable(), ...this.children().flatMap((c) => c.trainable())];
  }

  dispose(): void {
    for (const { tensor } of [...this.ownTrainable(), ...this.ownBuffers()]) tensor.dispose();
    for (const c of this.children()) c.dispose();
  }
}

/** torch.nn.Sequential: children applied in order; train/eval, tensors and dispose reach every child. */
export class Sequential extends Layer {
  readonly layers: readonly Layer[];

  constructor(layers: readonly Layer[]) {
    super();
    this.layers = layers;
  }

  /**
   * The layers in order; a BatchNorm directly followed by a ReLU runs as one fused op (`batchNorm` with
   * `relu: true`: the same values and gradients without the ReLU's own passes over the tensor).
   */
  forward(x: Tensor): Tensor {
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i]!;
      if (layer instanceof BatchNormBase && this.layers[i + 1] instanceof ReLU) {
        h = layer.forward(h, { relu: true });
        i++;
      } else {
        h = layer.forward(h);
      }
    }
    return h;
  }

  protected override children(): Layer[] {
    return [...this.layers];
  }
}

/** `name.weight` and, when present, `name.bias`. */
function weightAndBias(name: string, weight: Tensor, bias: Tensor | null): NamedTensor[] {
  const out = [{ name: `${name}.weight`, tensor: weight }];
  if (bias) out.push({ name: `${name}.bias`, tensor: bias });
  return out;
}

/** torch.nn.Linear; weight [out, in], bias [out]. */
export class Linear extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    rt: Runtime,
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    init: Initializer,
    opts: { bias?: boolean; weightInit?: WeightInit; biasInit?: BiasInit } = {},
  ) {
    super();
    const w = initWeight(init, opts.weightInit ?? 'default', inFeatures * outFeatures, inFeatures, outFeatures);
    this.weight = rt.tensor(w, [outFeatures, inFeatures], true).keep();
    this.bias = opts.bias === false
      ? null
      : rt.tensor(initBias(init, opts.biasInit ?? 'default', outFeatures, inFeatures), [outFeatures], true).keep();
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  protected override ownTrainable(): NamedTensor[] {
    return weightAndBias(this.name, this.weight, this.bias);
  }
}

/** Options of Conv2d, as torch.nn.Conv2d's keyword arguments (one value for both axes). */
export interface Conv2dLayerOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
  weightInit?: WeightInit;
  biasInit?: BiasInit;
}

/** torch.nn.Conv2d; weight [out, in / groups, k, k], bias [out]. fan_in = in / groups * k * k. */
export class Conv2d extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;

  constructor(
    rt: Runtime,
    readonly name: string,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    init: Initializer,
    opts: Conv2dLayerOptions = {},
  ) {
    super();
    const { stride = 1, padding = 0, dilation = 1, groups = 1 } = opts;
    if (!Number.isInteger(groups) || groups < 1 || inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(`texad: Conv2d '${name}': ${inChannels} input and ${outChannels} output channels must be multiples of groups ${groups}`);
    }
    this.stride = stride;
    this.padding = padding;
    this.dilation = dilation;
    this.groups = groups;
    const k = kernelSize;
    const fanIn = (inChannels / groups) * k * k;
    const fanOut = (outChannels / groups) * k * k;
    const shape = [outChannels, inChannels / groups, k, k];
    const w = initWeight(init, opts.weightInit ?? 'default', outChannels * fanIn, fanIn, fanOut);
    this.weight = rt.tensor(w, shape, true).keep();
    this.bias = opts.bias === false
      ? null
      : rt.tensor(initBias(init, opts.biasInit ?? 'default', outChannels, fanIn), [outChannels], true).keep();
  }

  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this;
    return conv2d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }

  protected override ownTrainable(): NamedTensor[] {
    return weightAndBias(this.name, this.weight, this.bias);
  }
}

/** Options of the BatchNorm layers (torch's keyword arguments; gammaInit `{ std, mean }` is DRAEM's N(1, 0.02)). */
export interface BatchNormOptions {
  momentum?: number;
  eps?: number;
  gammaInit?: 'ones' | { std: number; mean?: number };
  /** Needs an Initializer only when gammaInit draws random values. */
  init?: Initializer;
}

/**
 * BatchNorm over dim 1: gamma 1, beta 0, running mean 0 and variance 1. Training: batch mean and biased
 * variance normalise, the running statistics move by `momentum` towards the batch mean and UNBIASED variance
 * (PyTorch's rule), gradients flow through the batch statistics. Eval: running statistics.
 */
abstract class BatchNormBase extends Layer {
  readonly gamma: Tensor;
  readonly beta: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly momentum: number;
  readonly eps: number;
  protected abstract readonly kind: string;
  protected abstract readonly ranks: readonly number[];

  constructor(rt: Runtime, readonly name: string, readonly channels: number, opts: BatchNormOptions = {}) {
    super();
    this.momentum = opts.momentum ?? 0.1;
    this.eps = opts.eps ?? 1e-5;
    const gi = opts.gammaInit ?? 'ones';
    let gamma: Float32Array;
    if (gi === 'ones') gamma = new Float32Array(channels).fill(1);
    else if (opts.init) gamma = opts.init.normal(channels, gi.std, gi.mean ?? 1);
    else throw new Error(`texad: BatchNorm '${name}': a random gammaInit needs opts.init (an Initializer)`);
    this.gamma = rt.tensor(gamma, [channels], true).keep();
    this.beta = rt.tensor(new Float32Array(channels), [channels], true).keep();
    this.runningMean = rt.tensor(new Float32Array(channels), [channels]).keep();
    this.runningVar = rt.tensor(new Float32Array(channels).fill(1), [channels]).keep();
  }

  /** The normalised x; `relu: true` applies a ReLU in the same op (Sequential fuses BatchNorm + ReLU this way). */
  forward(x: Tensor, opts: { relu?: boolean } = {}): Tensor {
    if (!this.ranks.includes(x.rank)) {
      throw new Error(`texad: ${this.kind} '${this.name}' needs x of rank ${this.ranks.join(' or ')} ([N, C, ...]), got ${formatShape(x.shape)}`);
    }
    return batchNorm(x, this.gamma, this.beta, { runningMean: this.runningMean, runningVar: this.runningVar }, {
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
      relu: opts.relu ?? false,
    });
  }

  protected override ownTrainable(): NamedTensor[] {
    return weightAndBias(this.name, this.gamma, this.beta);
  }

  protected override ownBuffers(): NamedTensor[] {
    return [
      { name: `${this.name}.running_mean`, tensor: this.runningMean },
      { name: `${this.name}.running_var`, tensor: this.runningVar },
    ];
  }
}

/** torch.nn.BatchNorm1d on [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNormBase {
  protected readonly kind = 'BatchNorm1d';
  protected readonly ranks = [2, 3];
}

/** torch.nn.BatchNorm2d on [N, C, H, W]. */
export class BatchNorm2d extends BatchNormBase {
  protected readonly kind = 'BatchNorm2d';
  protected readonly ranks = [4];
}

/**
 * torch.nn.InstanceNorm2d (track_running_stats=False, so train and eval agree): each (sample, channel) plane
 * is normalised by its own mean and biased variance; `affine` adds gamma/beta (default false, as PyTorch).
 * Runs as a training-mode batchNorm over the [1, N*C, H*W] view.
 */
export class InstanceNorm2d extends Layer {
  readonly gamma: Tensor | null;
  readonly beta: Tensor | null;

  constructor(rt: Runtime, readonly name: string, readonly channels: number, readonly opts: { eps?: number; affine?: boolean } = {}) {
    super();
    this.gamma = opts.affine ? rt.tensor(new Float32Array(channels).fill(1), [channels], true).keep() : null;
    this.beta = opts.affine ? rt.tensor(new Float32Array(channels), [channels], true).keep() : null;
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new Error(`texad: InstanceNorm2d '${this.name}' needs x of shape [N, ${this.channels}, H, W], got ${formatShape(x.shape)}`);
    }
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const flat = batchNorm(x.reshape([1, n * c, h * w]), null, null, null, { training: true, eps: this.opts.eps ?? 1e-5 });
    const y = flat.reshape([n, c, h, w]);
    if (!this.gamma || !this.beta) return y;
    return add(mul(y, this.gamma.reshape([1, c, 1, 1])), this.beta.reshape([1, c, 1, 1]));
  }

  protected override ownTrainable(): NamedTensor[] {
    return this.gamma && this.beta ? weightAndBias(this.name, this.gamma, this.beta) : [];
  }
}

/**
 * LayerNorm with gamma/beta of `channels` (init 1 and 0): over the last dim (torch.nn.LayerNorm(C)) with
 * `over: 'last'`, or over the channel dim at every pixel of [N, C, H, W] with `over: 'channels'` (MSFlow).
 */
export class LayerNorm extends Layer {
  readonly gamma: Tensor;
  readonly beta: Tensor;

  constructor(rt: Runtime, readonly name: string, readonly channels: number, readonly opts: { over?: 'last' | 'channels'; eps?: number } = {}) {
    super();
    this.gamma = rt.tensor(new Float32Array(channels).fill(1), [channels], true).keep();
    this.beta = rt.tensor(new Float32Array(channels), [channels], true).keep();
  }

  forward(x: Tensor): Tensor {
    const eps = this.opts.eps ?? 1e-5;
    return this.opts.over === 'channels'
      ? layerNormChannels(x, this.gamma, this.beta, eps)
      : layerNorm(x, this.gamma, this.beta, eps);
  }

  protected override ownTrainable(): NamedTensor[] {
    return weightAndBias(this.name, this.gamma, this.beta);
  }
}

/** A parameter-free layer from a function (activations, pooling). */
class Stateless extends Layer {
  constructor(private readonly fn: (x: Tensor) => Tensor) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

/** torch.nn.ReLU. */
export class ReLU extends Stateless {
  constructor() {
    super(relu);
  }
}

/** torch.nn.LeakyReLU(negativeSlope), default 0.01. */
export class LeakyReLU extends Stateless {
  constructor(readonly negativeSlope = 0.01) {
    super((x) => leakyRelu(x, negativeSlope));
  }
}

/** torch.nn.Sigmoid. */
export class Sigmoid extends Stateless {
  constructor() {
    super(sigmoid);
  }
}

/** torch.nn.Tanh. */
export class Tanh extends Stateless {
  constructor() {
    super(tanh);
  }
}

/**
 * torch.nn.Dropout(p): in training, zeroes each element with probability p and scales the rest by 1/(1-p),
 * drawing from `rng` (seeded Philox, so a seed gives the same masks in every runtime); identity in eval. `rng` may be
 * replaced between steps (e.g. one generator per training step, so a resumed run draws the same masks).
 */
export class Dropout extends Layer {
  constructor(readonly p: number, public rng: GpuRng) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? dropout(x, this.p, this.rng) : x;
  }
}

/** torch.nn.MaxPool2d(kernel, stride = kernel, padding = 0). */
export class MaxPool2d extends Stateless {
  constructor(kernel: number, stride = kernel, padding = 0) {
    super((x) => maxPool2d(x, { kernel, stride, padding }));
  }
}

/** torch.nn.AvgPool2d(kernel, stride = kernel, padding = 0, count_include_pad = true). */
export class AvgPool2d extends Stateless {
  constructor(kernel: number, stride = kernel, padding = 0, countIncludePad = true) {
    super((x) => avgPool2d(x, { kernel, stride, padding, countIncludePad }));
  }
}

/** Options of Upsample: exactly one of `size` and `scaleFactor`. */
export interface UpsampleOptions {
  /** Output [H, W]. */
  size?: [number, number];
  /** Output = input * scaleFactor; must give whole sizes (PyTorch then maps coordinates exactly like `size`). */
  scaleFactor?: number;
  /** Default 'nearest', as torch.nn.Upsample. */
  mode?: 'nearest' | 'bilinear';
  /** Bilinear only (default false). */
  alignCorners?: boolean;
}

/** torch.nn.Upsample / F.interpolate on [N, C, H, W]: nearest, or bilinear with align_corners true or false. */
export class Upsample extends Layer {
  constructor(readonly opts: UpsampleOptions) {
    super();
    if ((opts.size === undefined) === (opts.scaleFactor === undefined)) {
      throw new Error('texad: Upsample needs exactly one of size and scaleFactor');
    }
    if (opts.mode !== 'bilinear' && opts.alignCorners !== undefined) {
      throw new Error(`texad: Upsample: alignCorners only applies to mode 'bilinear', not '${opts.mode ?? 'nearest'}'`);
    }
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4) throw new Error(`texad: Upsample needs x of shape [N, C, H, W], got ${formatShape(x.shape)}`);
    const [, , h, w] = x.shape as [number, number, number, number];
    const f = this.opts.scaleFactor;
    const size: [number, number] = this.opts.size ?? [h * f!, w * f!];
    if (!size.every((v) => Number.isInteger(v) && v >= 1)) {
      throw new Error(`texad: Upsample: scaleFactor ${f} turns ${h}x${w} into ${size.join('x')}, not whole sizes; pass size instead`);
    }
    return this.opts.mode === 'bilinear'
      ? resizeBilinear(x, size, { alignCorners: this.opts.alignCorners ?? false })
      : resizeNearest(x, size);
  }
}

/** Reads every tensor of a module to the CPU (checkpoints). */
export async function readModule(m: Module): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const { name, tensor } of m.tensors()) out[name] = { shape: [...tensor.shape], data: await tensor.read() };
  return out;
}

/** Writes saved values into a module's tensors in place, checking names and shapes. */
export function writeModule(m: Module, values: Record<string, { shape: number[]; data: Float32Array }>, what: string): void {
  for (const { name, tensor } of m.tensors()) {
    const v = values[name];
    if (!v) throw new Error(`texad: ${what}: checkpoint has no tensor '${name}'`);
    if (v.shape.join() !== tensor.shape.join()) {
      throw new Error(`texad: ${what}: tensor '${name}' has shape [${v.shape}] in the checkpoint, the model expects [${tensor.shape}]`);
    }
    tensor.rt.write(tensor, v.data);
  }
}
