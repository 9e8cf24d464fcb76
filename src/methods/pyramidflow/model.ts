// PyramidFlow's networks (official model.py): the encoder-free semi-invertible 1x1 conv, volume normalisation, the
// affine parameter blocks, the LU-parametrised invertible 1x1 conv and the pyramid coupling blocks, in the
// official block order. Tensor names follow the official state_dict, so checkpoints map one to one.
import { conv2d } from '../../ops/conv2d.ts';
import { add, atan, exp, mul, scale, sub } from '../../ops/elementwise.ts';
import { concat, split } from '../../ops/layout.ts';
import { matmul } from '../../ops/matmul.ts';
import { mean } from '../../ops/reduce.ts';
import { resizeNearest } from '../../ops/resize.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import { formatShape, type Tensor } from '../../runtime/tensor.ts';
import { ImageNetNormalize } from '../../backbones/layers.ts';
import { Conv2d, Layer, LeakyReLU, Sequential, type Initializer, type Modal, type Module, type NamedTensor } from '../../nn/layers.ts';
import { invert, luDecompose, orthonormalColumns } from './linalg.ts';
import { buildPyramid } from './pyramid.ts';

/** The soft clamp of the log-scales: clamp * 0.636 * atan(x / clamp), with the official clamp 2. */
const CLAMP = 2;
const LEAKY_SLOPE = 0.01;
/** Momentum of VolumeNorm's running mean (official). */
const VN_MOMENTUM = 0.1;

const f32 = (a: ArrayLike<number>) => Float32Array.from(a);

/** Levels whose pyramid sizes matter for the blocks: level i of an S x S input is (S / 2^i) square. */
export const levelSide = (side: number, level: number): number => side / 2 ** level;

/** One coupling block: which levels it reads and which one it transforms. */
export interface BlockSpec {
  /** 'fb2' = FlowBlock2 (transforms start + 1 from start and start + 2); 'down' / 'up' = FlowBlock (direct). */
  kind: 'fb2' | 'down' | 'up';
  start: number;
}

/**
 * The official module list: per stack, FlowBlock2 / 'down' blocks at starts 0, 2, 4, ..., then an 'up' block at
 * level 0, then FlowBlock2 / 'down' blocks at starts 1, 3, ... (a start gets FlowBlock2 when start + 2 < levels, a
 * 'down' block when only start + 1 < levels). For 4 levels a stack is [FB2(0), down(2), up(0), FB2(1)].
 */
export function blockOrder(levels: number, stacks: number): BlockSpec[] {
  const out: BlockSpec[] = [];
  for (let s = 0; s < stacks; s++) {
    for (const rangeStart of [0, 1]) {
      if (rangeStart === 1) out.push({ kind: 'up', start: 0 });
      for (let start = rangeStart; start < levels; start += 2) {
        if (start + 2 < levels) out.push({ kind: 'fb2', start });
        else if (start + 1 < levels) out.push({ kind: 'down', start });
      }
    }
  }
  return out;
}

/**
 * Subtracts the mean of the log-scales over batch and channels ('CVN', a per-pixel mean [1, 1, H, W]) or over batch
 * and pixels ('SVN', a per-channel mean [1, C, 1, 1]); in training it also updates a running mean (momentum 0.1)
 * that eval mode subtracts instead.
 */
export class VolumeNorm extends Layer {
  runningMean: Tensor;

  constructor(rt: Runtime, readonly name: string, readonly dims: 'CVN' | 'SVN', channels: number, side: number) {
    super();
    const shape = dims === 'CVN' ? [1, 1, side, side] : [1, channels, 1, 1];
    this.runningMean = rt.zeros(shape).keep();
  }

  forward(x: Tensor): Tensor {
    if (!this.training) return sub(x, this.runningMean);
    const sample = mean(x, this.dims === 'CVN' ? [0, 1] : [0, 2, 3], true);
    const updated = x.rt.noGrad(() => add(scale(this.runningMean, 1 - VN_MOMENTUM), scale(sample, VN_MOMENTUM))).keep();
    this.runningMean.dispose();
    this.runningMean = updated;
    return sub(x, sample);
  }

  protected override ownBuffers(): NamedTensor[] {
    return [{ name: `${this.name}.running_mean`, tensor: this.runningMean }];
  }
}

/**
 * AffineParamBlock: conv k x k (no bias) -> LeakyReLU(0.01) -> zero-initialised conv k x k (hidden = out
 * channels), split into raw log-scales and biases; log-scales are soft-clamped, volume-normalised and exponentiated.
 * Not a Layer (it returns two tensors) but a Module and Modal like one.
 */
export class AffineParams implements Module, Modal {
  readonly conv: Sequential;
  readonly norm: VolumeNorm;
  training = true;

  constructor(rt: Runtime, readonly name: string, inCh: number, readonly outCh: number, readonly k: number,
    vn: 'CVN' | 'SVN', side: number, init: Initializer) {
    const opts = { padding: (k - 1) / 2, bias: false };
    const last = new Conv2d(rt, `${name}.conv.2`, outCh, outCh, k, init, opts);
    // The official nn.init.zeros_: every block starts as the identity (scale 1, bias 0).
    rt.write(last.weight, new Float32Array(last.weight.size));
    this.conv = new Sequential([new Conv2d(rt, `${name}.conv.0`, inCh, outCh, k, init, opts), new LeakyReLU(LEAKY_SLOPE), last]);
    this.norm = new VolumeNorm(rt, `${name}.norm`, vn, outCh / 2, side);
  }

  forward(input: Tensor): { scale: Tensor; bias: Tensor } {
    const [raw, bias] = split(this.conv.forward(input), [this.outCh / 2, this.outCh / 2], 1) as [Tensor, Tensor];
    const logScale = scale(atan(scale(raw, 1 / CLAMP)), CLAMP * 0.636);
    return { scale: exp(this.norm.forward(logScale)), bias };
  }

  train(mode = true): this {
    this.training = mode;
    this.conv.train(mode);
    this.norm.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  tensors(): NamedTensor[] {
    return [...this.conv.tensors(), ...this.norm.tensors()];
  }

  trainable(): NamedTensor[] {
    return this.conv.trainable();
  }

  dispose(): void {
    this.conv.dispose();
    this.norm.dispose();
  }
}

/**
 * InvConv2dLU: a C x C 1x1 convolution W = P (L * lowMask + I)(U * upMask + diag(sign * exp(s - mean(s)))). P and
 * sign are fixed at initialisation (LU of the Q of a Gaussian matrix's QR); L, U and s train. Subtracting mean(s)
 * makes |det W| = 1 whatever the parameters (volume normalisation).
 */
export class InvConv2dLU extends Layer {
  readonly wP: Tensor;
  readonly sSign: Tensor;
  readonly wL: Tensor;
  readonly wU: Tensor;
  readonly wS: Tensor;
  private readonly lowMask: Tensor;
  private readonly upMask: Tensor;
  private readonly eye: Tensor;

  constructor(rt: Runtime, readonly name: string, readonly channels: number, init: Initializer) {
    super();
    const c = channels;
    const q = orthonormalColumns(init.normal(c * c, 1), c, c);
    const { p, l, u } = luDecompose(q, c);
    const diag = Array.from({ length: c }, (_, i) => u[i * c + i]!);
    const at = (i: number) => [Math.floor(i / c), i % c] as const;
    const tri = (pred: (r: number, k: number) => boolean) => Float32Array.from({ length: c * c }, (_, i) => (pred(...at(i)) ? 1 : 0));
    this.wP = rt.tensor(f32(p), [c, c]).keep();
    this.sSign = rt.tensor(diag.map(Math.sign), [c]).keep();
    this.wL = rt.tensor(f32(l), [c, c], true).keep();
    this.wU = rt.tensor(Float32Array.from(u, (v, i) => (at(i)[1] > at(i)[0] ? v : 0)), [c, c], true).keep();
    this.wS = rt.tensor(diag.map((d) => Math.log(Math.abs(d))), [c], true).keep();
    this.upMask = rt.tensor(tri((r, k) => k > r), [c, c]).keep();
    this.lowMask = rt.tensor(tri((r, k) => k < r), [c, c]).keep();
    this.eye = rt.tensor(tri((r, k) => k === r), [c, c]).keep();
  }

  /** The C x C weight, differentiable in L, U and s. */
  weight(): Tensor {
    const s = sub(this.wS, mean(this.wS));
    const diag = mul(this.eye, mul(this.sSign, exp(s)));
    const lower = add(mul(this.wL, this.lowMask), this.eye);
    const upper = add(mul(this.wU, this.upMask), diag);
    return matmul(matmul(this.wP, lower), upper);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight().reshape([this.channels, this.channels, 1, 1]), null);
  }

  /** x from y = forward(x), with the weight inverted exactly on the CPU in float64 (no gradient). */
  async inverse(y: Tensor): Promise<Tensor> {
    const c = this.channels;
    const w = await y.rt.noGrad(() => this.weight()).read();
    return y.rt.noGrad(() => conv2d(y, y.rt.tensor(f32(invert(w, c)), [c, c, 1, 1]), null));
  }

  protected override ownTrainable(): NamedTensor[] {
    return [
      { name: `${this.name}.w_l`, tensor: this.wL },
      { name: `${this.name}.w_s`, tensor: this.wS },
      { name: `${this.name}.w_u`, tensor: this.wU },
    ];
  }

  /** The fixed permutation and signs; the masks and identity are constants of the size, not checkpointed. */
  protected override ownBuffers(): NamedTensor[] {
    return [
      { name: `${this.name}.w_p`, tensor: this.wP },
      { name: `${this.name}.s_sign`, tensor: this.sSign },
    ];
  }

  override dispose(): void {
    super.dispose();
    for (const t of [this.lowMask, this.upMask, this.eye]) t.dispose();
  }
}

const sizeOf = (t: Tensor): [number, number] => [t.shape[2]!, t.shape[3]!];

/** A FlowBlock ('up' / 'down') or FlowBlock2 with its affine parameter block and invertible 1x1 conv. */
export class FlowBlock {
  readonly affine: AffineParams;
  readonly conv1x1: InvConv2dLU;

  constructor(rt: Runtime, readonly name: string, readonly spec: BlockSpec, channels: number, k: number,
    vn: 'CVN' | 'SVN', side: number, init: Initializer) {
    const { kind, start } = spec;
    // The level whose size the affine parameters are computed at: start for 'up'/'down', start + 1 for FlowBlock2.
    const at = levelSide(side, kind === 'fb2' ? start + 1 : start);
    // FlowBlock2 conditions on two levels (2C channels in); FlowBlock on one (C in). Both emit C log-scales and C biases.
    const inCh = kind === 'fb2' ? 2 * channels : channels;
    this.affine = new AffineParams(rt, `${name}.affineParams`, inCh, 2 * channels, k, vn, at, init);
    this.conv1x1 = new InvConv2dLU(rt, `${name}.conv1x1`, channels, init);
  }

  /** The levels after this block: one level is replaced, the others pass through. */
  forward(xs: readonly Tensor[]): Tensor[] {
    const { kind, start } = this.spec;
    const out = [...xs];
    if (kind === 'up') {
      const [x0, x1] = [xs[start]!, xs[start + 1]!];
      const { scale: s, bias } = this.affine.forward(resizeNearest(x1, sizeOf(x0)));
      out[start] = this.conv1x1.forward(add(mul(s, x0), bias));
    } else if (kind === 'down') {
      const [x0, x1] = [xs[start]!, xs[start + 1]!];
      const { scale: s, bias } = this.affine.forward(x0);
      out[start + 1] = this.conv1x1.forward(add(mul(resizeNearest(s, sizeOf(x1)), x1), resizeNearest(bias, sizeOf(x1))));
    } else {
      const [x0, x1, x2] = [xs[start]!, xs[start + 1]!, xs[start + 2]!];
      const cond = concat([resizeNearest(x0, sizeOf(x1)), resizeNearest(x2, sizeOf(x1))], 1);
      const { scale: s, bias } = this.affine.forward(cond);
      out[start + 1] = this.conv1x1.forward(add(mul(s, x1), bias));
    }
    return out;
  }
}

/**
 * The stacked coupling blocks over a Laplacian pyramid of `channels`-channel levels of a `side` x `side` input.
 * Official names: nf.moduleslst.<k>.{affineParams,conv1x1}.*
 */
export class Flow implements Module, Modal {
  readonly blocks: FlowBlock[];
  training = true;

  constructor(rt: Runtime, readonly channels: number, readonly side: number, readonly levels: number, stacks: number,
    k: number, vn: 'CVN' | 'SVN', init: Initializer) {
    this.blocks = blockOrder(levels, stacks).map((spec, i) => new FlowBlock(rt, `nf.moduleslst.${i}`, spec, channels, k, vn, side, init));
  }

  /** Training mode: VolumeNorm subtracts batch means and updates its running means; eval subtracts those. */
  train(mode = true): this {
    this.training = mode;
    for (const b of this.blocks) {
      b.affine.train(mode);
      b.conv1x1.train(mode);
    }
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  forward(pyramid: readonly Tensor[]): Tensor[] {
    if (pyramid.length !== this.levels) {
      throw new Error(`texad: PyramidFlow flow: got ${pyramid.length} pyramid levels, the model has ${this.levels}`);
    }
    pyramid.forEach((t, i) => {
      const s = levelSide(this.side, i);
      if (t.rank !== 4 || t.shape[1] !== this.channels || t.shape[2] !== s || t.shape[3] !== s) {
        throw new Error(`texad: PyramidFlow flow: level ${i} is ${formatShape(t.shape)}, expected [N, ${this.channels}, ${s}, ${s}]`);
      }
    });
    let xs = [...pyramid];
    for (const b of this.blocks) xs = b.forward(xs);
    return xs;
  }

  /**
   * The flow outputs of encoder features [N, channels, side, side]: their Laplacian pyramid (no gradient: nothing
   * before the flow trains) through the blocks. The detector and the benchmark case (bench/pyramidflow.ts) take it.
   */
  forwardFeatures(features: Tensor): Tensor[] {
    return this.forward(features.rt.noGrad(() => buildPyramid(features, this.levels)));
  }

  tensors(): NamedTensor[] {
    return this.blocks.flatMap((b) => [...b.affine.tensors(), ...b.conv1x1.tensors()]);
  }

  trainable(): NamedTensor[] {
    return this.blocks.flatMap((b) => [...b.affine.trainable(), ...b.conv1x1.trainable()]);
  }

  dispose(): void {
    for (const b of this.blocks) {
      b.affine.dispose();
      b.conv1x1.dispose();
    }
  }
}

/**
 * The encoder-free variant: ImageNet normalisation (the official data pipeline applies it to every input), then
 * SemiInvertible_1x1Conv 3 -> C (no bias), orthogonally initialised (orthonormal columns) and frozen, as the
 * official forward runs the encoder under no_grad. Official name: inconv.weight.
 */
export class SemiInvertibleConv implements Module {
  readonly conv: Conv2d;
  private readonly normalize: ImageNetNormalize;

  constructor(rt: Runtime, readonly channels: number, init: Initializer) {
    if (channels < 3) throw new Error(`texad: PyramidFlow: numChannel must be >= 3 (the 1x1 conv from RGB is semi-invertible), got ${channels}`);
    this.conv = new Conv2d(rt, 'inconv', 3, channels, 1, init, { bias: false });
    // nn.init.orthogonal_ of the [C, 3] weight: orthonormal columns.
    rt.write(this.conv.weight, f32(orthonormalColumns(init.normal(channels * 3, 1), channels, 3)));
    this.normalize = new ImageNetNormalize(rt);
  }

  /** Images [N, 3, H, W] RGB in [0, 1] -> [N, C, H, W] features. */
  forward(images: Tensor): Tensor {
    return images.rt.noGrad(() => this.conv.forward(this.normalize.forward(images)));
  }

  tensors(): NamedTensor[] {
    return this.conv.tensors();
  }

  /** Frozen: the official forward runs it under no_grad, so Adam never updates it. */
  trainable(): NamedTensor[] {
    return [];
  }

  dispose(): void {
    this.conv.dispose();
    this.normalize.dispose();
  }
}
