// EfficientAD's patch description networks (PDN-S and PDN-M): the distilled teacher, and with trainable weights
// and 768 outputs the student. Tensor names follow anomalib (conv1..convN); tools/export-weights.py renames
// nelson1425's nn.Sequential checkpoints to them.
import { avgPool2d } from '../ops/pool.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Tensor } from '../runtime/tensor.ts';
import {
  ConvLayer, ConvNetwork, ImageNetNormalize, checkImages, consumed, convParams, windowOutput, type ConvDef,
} from './layers.ts';
import type { Manifest, WeightStore } from './weights.ts';

/** [in, out, kernel, padding when padded]; 0 channels stand for the output width. Pools follow conv1 and conv2. */
const LAYOUTS = {
  pdn_small: [[3, 128, 4, 3], [128, 256, 4, 3], [256, 256, 3, 1], [256, 0, 4, 0]],
  pdn_medium: [[3, 256, 4, 3], [256, 512, 4, 3], [512, 512, 1, 0], [512, 512, 3, 1], [512, 0, 4, 0], [0, 0, 1, 0]],
} as const;

export type PdnName = keyof typeof LAYOUTS;

export const PDNS = Object.keys(LAYOUTS) as PdnName[];

/** Convolutions followed by a 2x2 average pool. */
const POOLED = 2;

export interface PdnOptions {
  /** 384 for EfficientAD's teacher, 768 for its student. */
  outChannels: number;
  /** Zero padding in the convs and pools (EfficientAD trains without; its paper's table lists the padded form). */
  padding: boolean;
  trainable: boolean;
  normalize: boolean;
}

function define(name: PdnName, outChannels: number, padding: boolean): ConvDef[] {
  return LAYOUTS[name].map(([cin, cout, kernel, pad], i) => ({
    name: `conv${i + 1}`, bn: null, inChannels: cin || outChannels, outChannels: cout || outChannels, kernel, stride: 1,
    padding: padding ? pad : 0,
  }));
}

/** Every tensor of the network, for checking a checkpoint as a whole. */
export function pdnManifest(name: PdnName, outChannels: number): Manifest {
  return { arch: name, params: define(name, outChannels, false).flatMap(convParams) };
}

/** A loaded PDN; see loadBackbone() in ./index.ts. Its one tap is 'out'. */
export class Pdn extends ConvNetwork {
  readonly taps = ['out'] as const;

  private constructor(
    readonly name: PdnName,
    private readonly defs: ConvDef[],
    layers: ConvLayer[],
    normalizer: ImageNetNormalize | null,
    private readonly poolPadding: number,
    private readonly anyTrainable: boolean,
  ) {
    super(layers, normalizer);
  }

  static async load(rt: Runtime, name: PdnName, store: WeightStore, opts: PdnOptions): Promise<Pdn> {
    if (!Number.isInteger(opts.outChannels) || opts.outChannels < 1) {
      throw new Error(`texad: ${name}: outChannels must be a positive integer, got ${opts.outChannels}`);
    }
    const defs = define(name, opts.outChannels, opts.padding);
    const manifest = pdnManifest(name, opts.outChannels);
    store.check(manifest, new Set(manifest.params.map((p) => p.key)));
    const layers: ConvLayer[] = [];
    try {
      for (const d of defs) layers.push(await ConvLayer.load(rt, store, d, opts.trainable));
    } catch (err) {
      for (const l of layers) l.dispose();
      throw err;
    }
    const normalizer = opts.normalize ? new ImageNetNormalize(rt) : null;
    return new Pdn(name, defs, layers, normalizer, opts.padding ? 1 : 0, opts.trainable);
  }

  get channels(): Record<string, number> {
    return { out: this.defs[this.defs.length - 1]!.outChannels };
  }

  /** [C, H, W] of the output for an H x W input (unpadded: 256 -> 56 for both sizes). */
  outputShape(tap: string, [h, w]: readonly [number, number]): [number, number, number] {
    if (tap !== 'out') throw new Error(`texad: ${this.name} has one tap, 'out'; got '${tap}'`);
    let size = [h, w];
    this.defs.forEach((d, i) => {
      size = size.map((n) => windowOutput(n, d.kernel, 1, d.padding));
      if (i < POOLED) size = size.map((n) => windowOutput(n, 2, 2, this.poolPadding));
    });
    return [this.channels.out!, size[0]!, size[1]!];
  }

  /** Images [N, 3, H, W] (RGB in [0, 1] unless built with normalize: false) -> { out }. */
  forward(images: Tensor): Record<string, Tensor> {
    checkImages(images, this.name);
    const [h = 0, w = 0] = images.shape.slice(2);
    const [, oh, ow] = this.outputShape('out', [h, w]);
    if (oh < 1 || ow < 1) {
      throw new Error(`texad: ${this.name}: a ${h}x${w} image is smaller than the network's receptive field`);
    }
    const run = () => {
      let x = this.normalizer ? this.normalizer.forward(images) : images;
      this.layers.forEach((layer, i) => {
        const y = layer.forward(x, { relu: i < this.layers.length - 1, training: this.training });
        x = x === images ? y : consumed(x, y);
        if (i < POOLED) x = consumed(x, avgPool2d(x, { kernel: 2, stride: 2, padding: this.poolPadding }));
      });
      return { out: x };
    };
    return this.anyTrainable ? run() : images.rt.noGrad(run);
  }
}
