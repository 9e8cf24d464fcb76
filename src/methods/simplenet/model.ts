// SimpleNet's networks (Liu et al., CVPR 2023, §3.1–3.3): the feature adaptor that turns frozen backbone maps
// into one vector per location, the projection, and the discriminator.
import { leakyRelu } from '../../ops/elementwise.ts';
import { concat, permute } from '../../ops/layout.ts';
import { unfold3x3 } from '../../ops/filter.ts';
import { adaptiveAvgPool1d } from '../../ops/pool.ts';
import { resizeBilinear } from '../../ops/resize.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { BatchNorm1d, Initializer, Linear, type Module, type NamedTensor } from '../../nn/layers.ts';
import type { SimpleNetConfig } from './config.ts';

/**
 * Local patch features (§3.1): each tapped map is aggregated over 3x3 neighbourhoods, every layer is resized
 * to the first layer's grid, each layer's C*9 vector is average-pooled to `pretrain_embed_dimension`, and the
 * stacked layers are pooled again to `target_embed_dimension`. Returns [B * h * w, target] rows, row-major
 * over (image, y, x), and the grid size.
 *
 * Deviation in order, not in result: the official code resizes the C*9 patch grid and then pools channels;
 * both are linear maps on different axes, so they commute, and pooling first resizes 3-6x fewer planes.
 */
export function embedPatches(maps: Tensor[], cfg: SimpleNetConfig): { rows: Tensor; height: number; width: number } {
  const [first] = maps;
  if (!first) throw new Error('texad: SimpleNet needs at least one backbone tap');
  const [batch, , height, width] = first.shape as [number, number, number, number];
  const pooled = maps.map((m, i) => {
    const [, , h, w] = m.shape as [number, number, number, number];
    // [B, h*w, C*9] -> [B, h*w, P]
    let p = adaptiveAvgPool1d(unfold3x3(m), cfg.pretrain_embed_dimension);
    if (i > 0 && (h !== height || w !== width)) {
      const planes = permute(p.reshape([batch, h, w, cfg.pretrain_embed_dimension]), [0, 3, 1, 2]);
      const resized = resizeBilinear(planes, [height, width], { alignCorners: false });
      p = permute(resized, [0, 2, 3, 1]);
    }
    return p.reshape([batch * height * width, cfg.pretrain_embed_dimension]);
  });
  const stacked = pooled.length === 1 ? pooled[0]! : concat(pooled, 1);
  const rows = adaptiveAvgPool1d(stacked, cfg.target_embed_dimension);
  return { rows, height, width };
}

/**
 * The projection ("feature adaptor" F_phi, §3.2): `pre_proj` stacked Linear layers with Xavier-normal weights
 * and no activation between them (the official `proj_layer_type` 0).
 */
export class Projection implements Module {
  readonly layers: Linear[] = [];

  constructor(rt: Runtime, cfg: SimpleNetConfig, init: Initializer) {
    for (let i = 0; i < cfg.pre_proj; i++) {
      this.layers.push(new Linear(rt, `pre_projection.layers.${i}fc`, cfg.target_embed_dimension,
        cfg.target_embed_dimension, init, { weightInit: 'xavier-normal' }));
    }
  }

  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, layer) => layer.forward(h), x);
  }

  tensors(): NamedTensor[] {
    return this.trainable();
  }

  trainable(): NamedTensor[] {
    return this.layers.flatMap((l) => l.trainable());
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}

/**
 * The discriminator D_psi (§3.3): `dsc_layers - 1` blocks of Linear -> BatchNorm1d -> LeakyReLU(0.2), then
 * Linear(hidden -> 1) without bias. Higher output = more normal.
 */
export class Discriminator implements Module {
  readonly blocks: Array<{ fc: Linear; bn: BatchNorm1d }> = [];
  readonly tail: Linear;

  constructor(rt: Runtime, cfg: SimpleNetConfig, init: Initializer) {
    let width = cfg.target_embed_dimension;
    for (let i = 0; i < cfg.dsc_layers - 1; i++) {
      const fc = new Linear(rt, `discriminator.body.block${i + 1}.0`, width, cfg.dsc_hidden, init, { weightInit: 'xavier-normal' });
      const bn = new BatchNorm1d(rt, `discriminator.body.block${i + 1}.1`, cfg.dsc_hidden);
      this.blocks.push({ fc, bn });
      width = cfg.dsc_hidden;
    }
    this.tail = new Linear(rt, 'discriminator.tail', width, 1, init, { bias: false, weightInit: 'xavier-normal' });
  }

  set training(on: boolean) {
    for (const b of this.blocks) b.bn.training = on;
  }

  forward(x: Tensor): Tensor {
    const h = this.blocks.reduce((acc, { fc, bn }) => leakyRelu(bn.forward(fc.forward(acc)), 0.2), x);
    return this.tail.forward(h);
  }

  tensors(): NamedTensor[] {
    return [...this.blocks.flatMap(({ fc, bn }) => [...fc.tensors(), ...bn.tensors()]), ...this.tail.tensors()];
  }

  trainable(): NamedTensor[] {
    return [...this.blocks.flatMap(({ fc, bn }) => [...fc.trainable(), ...bn.trainable()]), ...this.tail.trainable()];
  }

  dispose(): void {
    for (const { fc, bn } of this.blocks) {
      fc.dispose();
      bn.dispose();
    }
    this.tail.dispose();
  }
}
