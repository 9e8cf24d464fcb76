// DRAEM's two networks (VitjanZ/DRAEM model_unet.py): the reconstructive encoder-decoder (no skips) and the
// discriminative U-Net (skips, 6-channel input), every conv 3x3 padding 1 with bias, BatchNorm2d, ReLU, 2x2
// max-pools and bilinear x2 upsampling with align_corners=True. Parameter names follow the official state_dict
// (e.g. `encoder.block1.0.weight`), so weights exported from PyTorch load by name.
import { concat, conv2d, maxPool2d, relu, resizeBilinear } from '../../ops/index.ts';
import { BatchNorm, Initializer, type Module, type NamedTensor } from '../../nn/layers.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';

/**
 * One conv 3x3 (padding 1, bias) with the official weights_init: weight N(0, 0.02); the bias keeps PyTorch's
 * default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
class Conv3x3 implements Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(rt: Runtime, readonly name: string, cin: number, cout: number, init: Initializer) {
    this.weight = rt.tensor(init.normal(cout * cin * 9, 0.02), [cout, cin, 3, 3], true).keep();
    this.bias = rt.tensor(init.uniform(cout, 1 / Math.sqrt(cin * 9)), [cout], true).keep();
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { padding: 1 });
  }
  tensors(): NamedTensor[] {
    return this.trainable();
  }
  trainable(): NamedTensor[] {
    return [{ name: `${this.name}.weight`, tensor: this.weight }, { name: `${this.name}.bias`, tensor: this.bias }];
  }
  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

/** BatchNorm2d with the official weights_init: gamma N(1, 0.02), beta 0. */
function batchNorm(rt: Runtime, name: string, channels: number, init: Initializer): BatchNorm {
  const bn = new BatchNorm(rt, name, channels);
  rt.write(bn.gamma, init.normal(channels, 0.02).map((v) => v + 1));
  return bn;
}

/** nn.Sequential of [conv, BN, ReLU] x n: layer indices 0, 1, (2), 3, 4, (5) as in the official state_dict. */
class ConvStack implements Module {
  private readonly layers: Array<[Conv3x3, BatchNorm]> = [];
  constructor(rt: Runtime, name: string, widths: number[], init: Initializer, firstIndex = 0) {
    for (let i = 0; i + 1 < widths.length; i++) {
      const at = firstIndex + 3 * i;
      this.layers.push([new Conv3x3(rt, `${name}.${at}`, widths[i]!, widths[i + 1]!, init), batchNorm(rt, `${name}.${at + 1}`, widths[i + 1]!, init)]);
    }
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const [conv, bn] of this.layers) y = relu(bn.forward(conv.forward(y)));
    return y;
  }
  set training(on: boolean) {
    for (const [, bn] of this.layers) bn.training = on;
  }
  tensors(): NamedTensor[] {
    return this.layers.flatMap(([c, b]) => [...c.tensors(), ...b.tensors()]);
  }
  trainable(): NamedTensor[] {
    return this.layers.flatMap(([c, b]) => [...c.trainable(), ...b.trainable()]);
  }
  dispose(): void {
    for (const [c, b] of this.layers) {
      c.dispose();
      b.dispose();
    }
  }
}

/** nn.Sequential(Upsample(x2, bilinear, align_corners=True), conv, BN, ReLU): the conv is layer 1. */
class Up implements Module {
  private readonly stack: ConvStack;
  constructor(rt: Runtime, name: string, cin: number, cout: number, init: Initializer) {
    this.stack = new ConvStack(rt, name, [cin, cout], init, 1);
  }
  forward(x: Tensor): Tensor {
    const [, , h, w] = x.shape as [number, number, number, number];
    return this.stack.forward(resizeBilinear(x, [2 * h, 2 * w], { alignCorners: true }));
  }
  set training(on: boolean) {
    this.stack.training = on;
  }
  tensors = (): NamedTensor[] => this.stack.tensors();
  trainable = (): NamedTensor[] => this.stack.trainable();
  dispose = (): void => this.stack.dispose();
}

const pool = (x: Tensor): Tensor => maxPool2d(x, { kernel: 2, stride: 2 });

/** A network: named parts in state_dict order, a train/eval switch, and the Module interface over all parts. */
abstract class Network implements Module {
  protected abstract parts(): Array<ConvStack | Up | Conv3x3>;
  set training(on: boolean) {
    for (const p of this.parts()) if (!(p instanceof Conv3x3)) p.training = on;
  }
  tensors(): NamedTensor[] {
    return this.parts().flatMap((p) => p.tensors());
  }
  trainable(): NamedTensor[] {
    return this.parts().flatMap((p) => p.trainable());
  }
  dispose(): void {
    for (const p of this.parts()) p.dispose();
  }
}

/** ReconstructiveSubNetwork(in 3, out 3, base_width w): encoder w, 2w, 4w, 8w, 8w; mirrored decoder; no skips. */
export class ReconstructiveSubNetwork extends Network {
  private readonly enc: ConvStack[];
  private readonly ups: Up[];
  private readonly dbs: ConvStack[];
  private readonly fin: Conv3x3;

  constructor(rt: Runtime, w: number, init: Initializer) {
    super();
    const e = [w, 2 * w, 4 * w, 8 * w, 8 * w];
    this.enc = e.map((c, i) => new ConvStack(rt, `encoder.block${i + 1}`, [i === 0 ? 3 : e[i - 1]!, c, c], init));
    // Decoder stage k: up (cin -> cin), db (cin -> cin -> cout).
    const stages: Array<[number, number]> = [[8 * w, 4 * w], [4 * w, 2 * w], [2 * w, w], [w, w]];
    this.ups = stages.map(([cin], k) => new Up(rt, `decoder.up${k + 1}`, cin, cin, init));
    this.dbs = stages.map(([cin, cout], k) => new ConvStack(rt, `decoder.db${k + 1}`, [cin, cin, cout], init));
    this.fin = new Conv3x3(rt, 'decoder.fin_out.0', w, 3, init);
  }

  protected parts() {
    return [...this.enc, ...this.ups.flatMap((u, k) => [u, this.dbs[k]!]), this.fin];
  }

  forward(x: Tensor): Tensor {
    let y = x;
    this.enc.forEach((block, i) => {
      y = block.forward(i === 0 ? y : pool(y));
    });
    this.ups.forEach((up, k) => {
      y = this.dbs[k]!.forward(up.forward(y));
    });
    return this.fin.forward(y);
  }
}

/**
 * DiscriminativeSubNetwork(in 6, out 2, base_channels b): encoder b, 2b, 4b, 8b, 8b, 8b with five max-pools; the
 * decoder upsamples, concatenates (upsampled, skip) and convolves back to b; logits of 2 classes.
 */
export class DiscriminativeSubNetwork extends Network {
  private readonly enc: ConvStack[];
  private readonly ups: Up[];
  private readonly dbs: ConvStack[];
  private readonly fin: Conv3x3;

  constructor(rt: Runtime, b: number, init: Initializer) {
    super();
    const e = [b, 2 * b, 4 * b, 8 * b, 8 * b, 8 * b];
    this.enc = e.map((c, i) => new ConvStack(rt, `encoder_segment.block${i + 1}`, [i === 0 ? 6 : e[i - 1]!, c, c], init));
    // [name, cin of up, cout of up, skip channels, cout of db]
    const stages: Array<[string, number, number, number, number]> = [
      ['b', 8 * b, 8 * b, 8 * b, 8 * b], ['1', 8 * b, 4 * b, 8 * b, 4 * b], ['2', 4 * b, 2 * b, 4 * b, 2 * b],
      ['3', 2 * b, b, 2 * b, b], ['4', b, b, b, b],
    ];
    this.ups = stages.map(([n, cin, cout]) => new Up(rt, `decoder_segment.up${n === 'b' ? '_b' : n}`, cin, cout, init));
    this.dbs = stages.map(([n, , cup, skip, cout]) => new ConvStack(rt, `decoder_segment.db${n === 'b' ? '_b' : n}`, [cup + skip, cout, cout], init));
    this.fin = new Conv3x3(rt, 'decoder_segment.fin_out.0', b, 2, init);
  }

  protected parts() {
    return [...this.enc, ...this.ups.flatMap((u, k) => [u, this.dbs[k]!]), this.fin];
  }

  forward(x: Tensor): Tensor {
    const skips: Tensor[] = [];
    let y = x;
    this.enc.forEach((block, i) => {
      y = block.forward(i === 0 ? y : pool(y));
      skips.push(y);
    });
    // Skips b5, b4, b3, b2, b1 meet the upsampled features of stages b, 1, 2, 3, 4.
    this.ups.forEach((up, k) => {
      y = this.dbs[k]!.forward(concat([up.forward(y), skips[4 - k]!], 1));
    });
    return this.fin.forward(y);
  }
}
