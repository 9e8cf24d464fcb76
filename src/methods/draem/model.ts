// DRAEM's two networks (VitjanZ/DRAEM model_unet.py) from the nn layers: the reconstructive encoder-decoder (no
// skips) and the discriminative U-Net (skips, 6-channel input); every conv 3x3 padding 1 with bias, BatchNorm2d,
// ReLU, 2x2 max-pools, bilinear x2 upsampling with align_corners=True. Parameter names follow the official
// state_dict (e.g. `encoder.block1.0.weight`), so weights exported from PyTorch load by name. Initialisation is the
// official weights_init: conv weights N(0, 0.02), conv biases PyTorch's default, BN gamma N(1, 0.02), beta 0.
import { concat } from '../../ops/index.ts';
import {
  BatchNorm2d, Conv2d, Layer, MaxPool2d, ReLU, Sequential, Upsample, type Initializer,
} from '../../nn/layers.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';

/** [conv, BN, ReLU] at Sequential indices at, at + 1, at + 2 of `name`. */
function convBnRelu(rt: Runtime, name: string, at: number, cin: number, cout: number, init: Initializer): Layer[] {
  return [
    new Conv2d(rt, `${name}.${at}`, cin, cout, 3, init, { padding: 1, weightInit: { std: 0.02 } }),
    new BatchNorm2d(rt, `${name}.${at + 1}`, cout, { gammaInit: { std: 0.02, mean: 1 }, init }),
    new ReLU(),
  ];
}

/** nn.Sequential of [conv, BN, ReLU] per step of `widths` (the encoder blocks and decoder db stages). */
function stack(rt: Runtime, name: string, widths: number[], init: Initializer): Sequential {
  return new Sequential(widths.slice(1).flatMap((c, i) => convBnRelu(rt, name, 3 * i, widths[i]!, c, init)));
}

/** nn.Sequential(Upsample(x2, bilinear, align_corners=True), conv, BN, ReLU). */
function up(rt: Runtime, name: string, cin: number, cout: number, init: Initializer): Sequential {
  return new Sequential([new Upsample({ scaleFactor: 2, mode: 'bilinear', alignCorners: true }), ...convBnRelu(rt, name, 1, cin, cout, init)]);
}

const pool = new MaxPool2d(2);

/** ReconstructiveSubNetwork(in 3, out 3, base_width w): encoder w, 2w, 4w, 8w, 8w; mirrored decoder; no skips. */
export class ReconstructiveSubNetwork extends Layer {
  private readonly enc: Sequential[];
  private readonly dec: Sequential[];
  private readonly fin: Conv2d;

  constructor(rt: Runtime, w: number, init: Initializer) {
    super();
    const e = [w, 2 * w, 4 * w, 8 * w, 8 * w];
    this.enc = e.map((c, i) => stack(rt, `encoder.block${i + 1}`, [i === 0 ? 3 : e[i - 1]!, c, c], init));
    // Decoder stage k: up (cin -> cin), db (cin -> cin -> cout).
    const stages: Array<[number, number]> = [[8 * w, 4 * w], [4 * w, 2 * w], [2 * w, w], [w, w]];
    this.dec = stages.flatMap(([cin, cout], k) => [
      up(rt, `decoder.up${k + 1}`, cin, cin, init), stack(rt, `decoder.db${k + 1}`, [cin, cin, cout], init),
    ]);
    this.fin = new Conv2d(rt, 'decoder.fin_out.0', w, 3, 3, init, { padding: 1, weightInit: { std: 0.02 } });
  }

  protected override children(): Layer[] {
    return [...this.enc, ...this.dec, this.fin];
  }

  forward(x: Tensor): Tensor {
    let y = x;
    this.enc.forEach((block, i) => {
      y = block.forward(i === 0 ? y : pool.forward(y));
    });
    for (const stage of this.dec) y = stage.forward(y);
    return this.fin.forward(y);
  }
}

/**
 * DiscriminativeSubNetwork(in 6, out 2, base_channels b): encoder b, 2b, 4b, 8b, 8b, 8b with five max-pools; the
 * decoder upsamples, concatenates (upsampled, skip) and convolves back to b; logits of 2 classes.
 */
export class DiscriminativeSubNetwork extends Layer {
  private readonly enc: Sequential[];
  private readonly ups: Sequential[];
  private readonly dbs: Sequential[];
  private readonly fin: Conv2d;

  constructor(rt: Runtime, b: number, init: Initializer) {
    super();
    const e = [b, 2 * b, 4 * b, 8 * b, 8 * b, 8 * b];
    this.enc = e.map((c, i) => stack(rt, `encoder_segment.block${i + 1}`, [i === 0 ? 6 : e[i - 1]!, c, c], init));
    // [name, cin of up, cout of up, skip channels, cout of db]
    const stages: Array<[string, number, number, number, number]> = [
      ['_b', 8 * b, 8 * b, 8 * b, 8 * b], ['1', 8 * b, 4 * b, 8 * b, 4 * b], ['2', 4 * b, 2 * b, 4 * b, 2 * b],
      ['3', 2 * b, b, 2 * b, b], ['4', b, b, b, b],
    ];
    this.ups = stages.map(([n, cin, cout]) => up(rt, `decoder_segment.up${n}`, cin, cout, init));
    this.dbs = stages.map(([n, , cup, skip, cout]) => stack(rt, `decoder_segment.db${n}`, [cup + skip, cout, cout], init));
    this.fin = new Conv2d(rt, 'decoder_segment.fin_out.0', b, 2, 3, init, { padding: 1, weightInit: { std: 0.02 } });
  }

  protected override children(): Layer[] {
    return [...this.enc, ...this.ups.flatMap((u, k) => [u, this.dbs[k]!]), this.fin];
  }

  forward(x: Tensor): Tensor {
    const skips: Tensor[] = [];
    let y = x;
    this.enc.forEach((block, i) => {
      y = block.forward(i === 0 ? y : pool.forward(y));
      skips.push(y);
    });
    // Skips b5, b4, b3, b2, b1 meet the upsampled features of stages b, 1, 2, 3, 4.
    this.ups.forEach((u, k) => {
      y = this.dbs[k]!.forward(concat([u.forward(y), skips[4 - k]!], 1));
    });
    return this.fin.forward(y);
  }
}
