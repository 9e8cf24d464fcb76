// MSFlow's flows (Zhou et al., TNNLS 2024; cool-xuan/msflow models/flow_models.py, models/freia_utils.py, FrEIA
// AllInOneBlock / PermuteRandom): per-scale parallel flows of AllInOne coupling blocks conditioned on a 2-D
// positional encoding, then the fusion flow coupling all scales. Every block returns its output and its per-image
// log-determinant, and has an exact `inverse`.
import { seededShuffle } from '../../data/random.ts';
import { add, atan, clamp, div, exp, log, mul, neg, relu, scale, softplus, square, sub, tanh } from '../../ops/elementwise.ts';
import { concat, gatherChannels, split } from '../../ops/layout.ts';
import { avgPool2d } from '../../ops/pool.ts';
import { sum } from '../../ops/reduce.ts';
import { resizeBilinear } from '../../ops/resize.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import { formatShape, type Tensor } from '../../runtime/tensor.ts';
import { Conv2d, Initializer, LayerNorm, ReLU, Sequential, type Module, type NamedTensor } from '../../nn/layers.ts';

/** A flow step's result: output and per-image log |det J| [B]. */
export interface FlowResult<T> {
  out: T;
  logdet: Tensor;
}

/** A seeded permutation of 0..n-1 and its inverse (FrEIA draws them with numpy; the seed replaces its global state). */
function permutation(n: number, seed: number): { perm: number[]; inverse: number[] } {
  const perm = seededShuffle(Array.from({ length: n }, (_, i) => i), seed);
  const inverse = new Array<number>(n);
  perm.forEach((p, i) => (inverse[p] = i));
  return { perm, inverse };
}

/** Sum over every axis but the batch: [B, ...] -> [B]. */
const perImage = (x: Tensor): Tensor => sum(x, x.shape.slice(1).map((_, i) => i + 1));

/** msflow's subnet_conv_ln: conv3x3 (in -> in) -> LayerNorm over channels -> ReLU -> conv3x3 (in -> out). */
function subnetConvLn(rt: Runtime, name: string, dimIn: number, dimOut: number, init: Initializer): Sequential {
  return new Sequential([
    new Conv2d(rt, `${name}.conv1`, dimIn, dimIn, 3, init, { padding: 1 }),
    new LayerNorm(rt, `${name}.ln`, dimIn, { over: 'channels' }),
    new ReLU(),
    new Conv2d(rt, `${name}.conv2`, dimIn, dimOut, 3, init, { padding: 1 }),
  ]);
}

/**
 * FrEIA AllInOneBlock as MSFlow configures it (affine_clamping = clamp, global_affine_type 'SOFTPLUS', hard
 * permutation, no Householder): x1 = first C - C/2 channels, x2 = last C/2; a = 0.1 * subnet([x1, cond]);
 * s = clamp * tanh(a[:C/2]); y2 = x2 * exp(s) + a[C/2:]; then [x1, y2] * g + offset with g = 0.1 * softplus_0.5(p)
 * (p initialised so g = 1), then a fixed channel permutation. log-det = sum(s) + H * W * sum(log g).
 */
export class AllInOneBlock implements Module {
  readonly subnet: Sequential;
  readonly globalScale: Tensor;
  readonly globalOffset: Tensor;
  readonly perm: number[];
  readonly inversePerm: number[];
  private readonly split1: number;
  private readonly split2: number;

  constructor(rt: Runtime, readonly name: string, readonly channels: number, readonly condChannels: number,
    readonly clampAlpha: number, init: Initializer, permSeed: number) {
    if (channels < 2) throw new Error(`texad: MSFlow AllInOneBlock '${name}' needs >= 2 channels, got ${channels}`);
    this.split1 = channels - Math.floor(channels / 2);
    this.split2 = Math.floor(channels / 2);
    this.subnet = subnetConvLn(rt, `${name}.subnet`, this.split1 + condChannels, 2 * this.split2, init);
    // FrEIA: global_scale = 2 log(exp(0.5 * 10 * init) - 1) so that 0.1 * softplus_beta0.5 gives init = 1.
    const p0 = 2 * Math.log(Math.exp(5) - 1);
    this.globalScale = rt.tensor(new Float32Array(channels).fill(p0), [1, channels, 1, 1], true).keep();
    this.globalOffset = rt.tensor(new Float32Array(channels), [1, channels, 1, 1], true).keep();
    ({ perm: this.perm, inverse: this.inversePerm } = permutation(channels, permSeed));
  }

  /** g = 0.1 * softplus(p, beta 0.5) per channel, [1, C, 1, 1]. */
  private gain(): Tensor {
    return scale(softplus(this.globalScale, 0.5), 0.1);
  }

  /** s (the clamped log-scale) and t of the coupling from the pass-through half. */
  private coupling(x1: Tensor, cond: Tensor): { s: Tensor; t: Tensor } {
    const a = scale(this.subnet.forward(concat([x1, cond], 1)), 0.1);
    const [sRaw, t] = split(a, [this.split2, this.split2], 1) as [Tensor, Tensor];
    return { s: scale(tanh(sRaw), this.clampAlpha), t };
  }

  private globalLogdet(g: Tensor, x: Tensor): Tensor {
    const [, , h, w] = x.shape as [number, number, number, number];
    return scale(sum(log(g)), h * w);
  }

  private check(x: Tensor, cond: Tensor): void {
    if (x.rank !== 4 || x.shape[1] !== this.channels || cond.rank !== 4 || cond.shape[1] !== this.condChannels ||
      cond.shape[0] !== x.shape[0] || cond.shape[2] !== x.shape[2] || cond.shape[3] !== x.shape[3]) {
      throw new Error(`texad: MSFlow AllInOneBlock '${this.name}' needs x [B, ${this.channels}, H, W] and cond ` +
        `[B, ${this.condChannels}, H, W], got x ${formatShape(x.shape)} and cond ${formatShape(cond.shape)}`);
    }
  }

  forward(x: Tensor, cond: Tensor): FlowResult<Tensor> {
    this.check(x, cond);
    const [x1, x2] = split(x, [this.split1, this.split2], 1) as [Tensor, Tensor];
    const { s, t } = this.coupling(x1, cond);
    const y2 = add(mul(x2, exp(s)), t);
    const g = this.gain();
    const out = gatherChannels(add(mul(concat([x1, y2], 1), g), this.globalOffset), this.perm);
    return { out, logdet: add(perImage(s), this.globalLogdet(g, x)) };
  }

  inverse(y: Tensor, cond: Tensor): FlowResult<Tensor> {
    this.check(y, cond);
    const g = this.gain();
    const v = div(sub(gatherChannels(y, this.inversePerm), this.globalOffset), g);
    const [x1, y2] = split(v, [this.split1, this.split2], 1) as [Tensor, Tensor];
    const { s, t } = this.coupling(x1, cond);
    const x2 = mul(sub(y2, t), exp(neg(s)));
    return { out: concat([x1, x2], 1), logdet: neg(add(perImage(s), this.globalLogdet(g, y))) };
  }

  tensors(): NamedTensor[] {
    return this.trainable();
  }

  trainable(): NamedTensor[] {
    return [
      { name: `${this.name}.global_scale`, tensor: this.globalScale },
      { name: `${this.name}.global_offset`, tensor: this.globalOffset },
      ...this.subnet.trainable(),
    ];
  }

  dispose(): void {
    this.globalScale.dispose();
    this.globalOffset.dispose();
    this.subnet.dispose();
  }
}

/** One scale's parallel flow: FrEIA SequenceINN of `blocks` AllInOneBlocks, all conditioned on the same map. */
export class ParallelFlow implements Module {
  readonly blocks: AllInOneBlock[];

  constructor(rt: Runtime, name: string, channels: number, condChannels: number, blocks: number, clampAlpha: number,
    init: Initializer, permSeed: number) {
    this.blocks = Array.from({ length: blocks }, (_, k) =>
      new AllInOneBlock(rt, `${name}.module_list.${k}`, channels, condChannels, clampAlpha, init, permSeed + k));
  }

  forward(x: Tensor, cond: Tensor): FlowResult<Tensor> {
    let out = x;
    let logdet: Tensor | null = null;
    for (const b of this.blocks) {
      const r = b.forward(out, cond);
      out = r.out;
      logdet = logdet ? add(logdet, r.logdet) : r.logdet;
    }
    return { out, logdet: logdet! };
  }

  inverse(y: Tensor, cond: Tensor): FlowResult<Tensor> {
    let out = y;
    let logdet: Tensor | null = null;
    for (const b of [...this.blocks].reverse()) {
      const r = b.inverse(out, cond);
      out = r.out;
      logdet = logdet ? add(logdet, r.logdet) : r.logdet;
    }
    return { out, logdet: logdet! };
  }

  tensors(): NamedTensor[] {
    return this.trainable();
  }

  trainable(): NamedTensor[] {
    return this.blocks.flatMap((b) => b.trainable());
  }

  dispose(): void {
    for (const b of this.blocks) b.dispose();
  }
}

/** Adaptive average pooling to `size` when the input is an integer multiple of it (MSFlow's grids always are). */
function poolTo(x: Tensor, size: readonly [number, number]): Tensor {
  const [, , h, w] = x.shape as [number, number, number, number];
  if (h === size[0] && w === size[1]) return x;
  const f = h / size[0];
  if (!Number.isInteger(f) || w / size[1] !== f) {
    throw new Error(`texad: MSFlow fusion: a ${h}x${w} scale does not pool evenly to the smallest grid ` +
      `${size[0]}x${size[1]}; use an input size whose feature grids halve exactly (a multiple of 64)`);
  }
  return avgPool2d(x, { kernel: f, stride: f, padding: 0, countIncludePad: true });
}

/**
 * msflow FusionSTNets: every scale adaptive-average-pooled to the smallest (last) grid, concatenated,
 * conv3x3 (sum -> sum/4) -> LayerNorm over channels -> ReLU -> conv3x3 (-> sum) -> ReLU, split back, bilinearly
 * upsampled (align_corners=True) to each scale, plus that scale's input; per scale conv3x3 s and t.
 */
class FusionSTNet implements Module {
  private readonly conv1: Conv2d;
  private readonly norm: LayerNorm;
  private readonly conv2: Conv2d;
  private readonly convS: Conv2d[];
  private readonly convT: Conv2d[];

  constructor(rt: Runtime, name: string, private readonly channels: readonly number[], init: Initializer) {
    const total = channels.reduce((a, b) => a + b, 0);
    const mid = Math.floor(total / 4);
    if (mid < 1) throw new Error(`texad: MSFlow fusion '${name}': channel halves [${channels.join(', ')}] sum to ${total}; the shared conv needs >= 4`);
    this.conv1 = new Conv2d(rt, `${name}.cross_convs.conv1`, total, mid, 3, init, { padding: 1 });
    this.norm = new LayerNorm(rt, `${name}.cross_convs.norm`, mid, { over: 'channels' });
    this.conv2 = new Conv2d(rt, `${name}.cross_convs.conv2`, mid, total, 3, init, { padding: 1 });
    this.convS = channels.map((c, i) => new Conv2d(rt, `${name}.conv_s.${i}`, c, c, 3, init, { padding: 1 }));
    this.convT = channels.map((c, i) => new Conv2d(rt, `${name}.conv_t.${i}`, c, c, 3, init, { padding: 1 }));
  }

  forward(xs: readonly Tensor[]): Array<{ s: Tensor; t: Tensor }> {
    const last = xs[xs.length - 1]!;
    const mini = [last.shape[2]!, last.shape[3]!] as const;
    const h = this.conv1.forward(concat(xs.map((x) => poolTo(x, mini)), 1));
    const mixed = relu(this.conv2.forward(relu(this.norm.forward(h))));
    const parts = split(mixed, this.channels, 1);
    return xs.map((x, i) => {
      const size: [number, number] = [x.shape[2]!, x.shape[3]!];
      const up = size[0] === mini[0] && size[1] === mini[1] ? parts[i]! : resizeBilinear(parts[i]!, size, { alignCorners: true });
      const r = add(x, up);
      return { s: this.convS[i]!.forward(r), t: this.convT[i]!.forward(r) };
    });
  }

  tensors(): NamedTensor[] {
    return this.trainable();
  }

  trainable(): NamedTensor[] {
    return [this.conv1, this.norm, this.conv2, ...this.convS, ...this.convT].flatMap((l) => l.trainable());
  }

  dispose(): void {
    for (const l of [this.conv1, this.norm, this.conv2, ...this.convS, ...this.convT]) l.dispose();
  }
}

/**
 * msflow FusionCouplingLayer over all scales jointly (after a fixed PermuteRandom per scale, log-det 0): each scale
 * splits into a_i (first C_i/2) and b_i; (s2, t2) = F2({b_i}); a_i' = e(s2_i) a_i + t2_i; (s1, t1) = F1({a_i'});
 * b_i' = e(s1_i) b_i + t1_i; out_i = clamp([a_i', b_i'], +-1e6), e(s) = exp(clamp * 0.636 * atan(s / clamp)).
 * log-det = sum over scales and both halves of clamp * 0.636 * atan(s / clamp).
 */
export class FusionFlow implements Module {
  readonly perms: Array<{ perm: number[]; inverse: number[] }>;
  private readonly subnet1: FusionSTNet;
  private readonly subnet2: FusionSTNet;
  private readonly halves: number[];

  constructor(rt: Runtime, readonly name: string, readonly channels: readonly number[], readonly clampAlpha: number,
    init: Initializer, permSeed: number) {
    const odd = channels.filter((c) => c % 2 !== 0);
    if (odd.length > 0) throw new Error(`texad: MSFlow fusion flow needs even channel counts, got [${channels.join(', ')}]`);
    this.halves = channels.map((c) => c / 2);
    this.perms = channels.map((c, i) => permutation(c, permSeed + i));
    this.subnet1 = new FusionSTNet(rt, `${name}.subnet_1`, this.halves, init);
    this.subnet2 = new FusionSTNet(rt, `${name}.subnet_2`, this.halves, init);
  }

  private logE(s: Tensor): Tensor {
    return scale(atan(scale(s, 1 / this.clampAlpha)), this.clampAlpha * 0.636);
  }

  private halvesOf(x: Tensor, i: number): [Tensor, Tensor] {
    const c = this.channels[i]!;
    if (x.rank !== 4 || x.shape[1] !== c) {
      throw new Error(`texad: MSFlow fusion flow scale ${i} needs [B, ${c}, H, W], got ${formatShape(x.shape)}`);
    }
    return split(x, [c / 2, c / 2], 1) as [Tensor, Tensor];
  }

  /** Sum of log e(s) over every s of both subnets: [B]. */
  private logdetOf(ss: readonly Tensor[]): Tensor {
    return ss.map((s) => perImage(this.logE(s))).reduce((a, b) => add(a, b));
  }

  forward(xs: readonly Tensor[]): FlowResult<Tensor[]> {
    const parts = xs.map((x, i) => this.halvesOf(gatherChannels(x, this.perms[i]!.perm), i));
    const st2 = this.subnet2.forward(parts.map((p) => p[1]));
    const a = parts.map((p, i) => add(mul(exp(this.logE(st2[i]!.s)), p[0]), st2[i]!.t));
    const st1 = this.subnet1.forward(a);
    const b = parts.map((p, i) => add(mul(exp(this.logE(st1[i]!.s)), p[1]), st1[i]!.t));
    const out = a.map((ai, i) => clamp(concat([ai, b[i]!], 1), -1e6, 1e6));
    return { out, logdet: this.logdetOf([...st1.map((r) => r.s), ...st2.map((r) => r.s)]) };
  }

  inverse(ys: readonly Tensor[]): FlowResult<Tensor[]> {
    const parts = ys.map((y, i) => this.halvesOf(y, i));
    const st1 = this.subnet1.forward(parts.map((p) => p[0]));
    const b = parts.map((p, i) => mul(sub(p[1], st1[i]!.t), exp(neg(this.logE(st1[i]!.s)))));
    const st2 = this.subnet2.forward(b);
    const a = parts.map((p, i) => mul(sub(p[0], st2[i]!.t), exp(neg(this.logE(st2[i]!.s)))));
    const out = a.map((ai, i) => gatherChannels(concat([ai, b[i]!], 1), this.perms[i]!.inverse));
    return { out, logdet: neg(this.logdetOf([...st1.map((r) => r.s), ...st2.map((r) => r.s)])) };
  }

  tensors(): NamedTensor[] {
    return this.trainable();
  }

  trainable(): NamedTensor[] {
    return [...this.subnet1.trainable(), ...this.subnet2.trainable()];
  }

  dispose(): void {
    this.subnet1.dispose();
    this.subnet2.dispose();
  }
}

/**
 * msflow utils.positionalencoding2d(D, H, W) as [D, H, W] values: the first D/2 channels encode x, the last D/2
 * encode y, with frequencies exp(-k ln(1e4) / (D/2)) for k = 0, 2, ...; sin on even, cos on odd channels.
 */
export function positionalEncoding2d(d: number, h: number, w: number): Float32Array {
  if (d % 4 !== 0) throw new Error(`texad: MSFlow positional encoding needs a multiple of 4 channels, got ${d}`);
  const half = d / 2;
  const out = new Float32Array(d * h * w);
  for (let k = 0; k < half; k += 2) {
    const f = Math.fround(Math.exp(k * -(Math.log(1e4) / half)));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = (c: number) => (c * h + y) * w + x;
        out[at(k)] = Math.sin(x * f);
        out[at(k + 1)] = Math.cos(x * f);
        out[at(half + k)] = Math.sin(y * f);
        out[at(half + k + 1)] = Math.cos(y * f);
      }
    }
  }
  return out;
}

/** The whole density model: one parallel flow per scale, then the fusion flow. */
export class MSFlowModel implements Module {
  readonly parallel: ParallelFlow[];
  readonly fusion: FusionFlow;

  constructor(rt: Runtime, channels: readonly number[], opts: { condChannels: readonly number[]; blocks: readonly number[];
    clampAlpha: number; seed: number }) {
    const init = new Initializer(opts.seed);
    this.parallel = channels.map((c, i) => new ParallelFlow(rt, `parallel_flows.${i}`, c, opts.condChannels[i]!,
      opts.blocks[i]!, opts.clampAlpha, init, opts.seed * 1009 + 100 * i));
    this.fusion = new FusionFlow(rt, 'fusion_flow', channels, opts.clampAlpha, init, opts.seed * 1009 + 7777);
  }

  /** Features and conditions per scale -> latents per scale and the total per-image log-det [B]. */
  forward(feats: readonly Tensor[], conds: readonly Tensor[]): FlowResult<Tensor[]> {
    const par = this.parallel.map((f, i) => f.forward(feats[i]!, conds[i]!));
    const fused = this.fusion.forward(par.map((r) => r.out));
    return { out: fused.out, logdet: par.reduce((acc, r) => add(acc, r.logdet), fused.logdet) };
  }

  inverse(zs: readonly Tensor[], conds: readonly Tensor[]): FlowResult<Tensor[]> {
    const fused = this.fusion.inverse(zs);
    const par = this.parallel.map((f, i) => f.inverse(fused.out[i]!, conds[i]!));
    return { out: par.map((r) => r.out), logdet: par.reduce((acc, r) => add(acc, r.logdet), fused.logdet) };
  }

  tensors(): NamedTensor[] {
    return this.trainable();
  }

  trainable(): NamedTensor[] {
    return [...this.parallel.flatMap((f) => f.trainable()), ...this.fusion.trainable()];
  }

  dispose(): void {
    for (const f of this.parallel) f.dispose();
    this.fusion.dispose();
  }
}

/** Negative log-likelihood: per image sum over scales of 0.5 * sum(z^2), minus the log-det; mean over the batch. */
export function nllLoss(zs: readonly Tensor[], logdet: Tensor): Tensor {
  const energy = zs.map((z) => scale(perImage(square(z)), 0.5)).reduce((a, b) => add(a, b));
  const b = logdet.shape[0]!;
  return scale(sum(sub(energy, logdet)), 1 / b);
}
