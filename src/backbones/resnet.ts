// torchvision's ResNets (v1.5: a bottleneck's stride sits on its 3x3) and wide ResNets, returning the outputs
// ("taps") of the stem and of each stage, and built only up to the last tap asked for.
import { maxPool2d } from '../ops/pool.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Tensor } from '../runtime/tensor.ts';
import {
  ConvLayer, ConvNetwork, ImageNetNormalize, checkImages, consumed, convParams, windowOutput, type ConvDef,
} from './layers.ts';
import type { Manifest, WeightStore } from './weights.ts';

interface ResNetConfig {
  block: 'basic' | 'bottleneck';
  /** Blocks per stage (layer1..layer4). */
  blocks: readonly [number, number, number, number];
  /** Inner width of a bottleneck at 64 planes (wide variants double it). */
  width: number;
}

/** The ResNets texad builds, with torchvision's configurations. */
export const RESNETS = {
  resnet18: { block: 'basic', blocks: [2, 2, 2, 2], width: 64 },
  resnet50: { block: 'bottleneck', blocks: [3, 4, 6, 3], width: 64 },
  resnet152: { block: 'bottleneck', blocks: [3, 8, 36, 3], width: 64 },
  wide_resnet50_2: { block: 'bottleneck', blocks: [3, 4, 6, 3], width: 128 },
  wide_resnet101_2: { block: 'bottleneck', blocks: [3, 4, 23, 3], width: 128 },
} as const satisfies Record<string, ResNetConfig>;

export type ResNetName = keyof typeof RESNETS;

/** 'stem' is the max pool's output (stride 4); 'layerK' the output of stage K (strides 4, 8, 16, 32). */
export const RESNET_TAPS = ['stem', 'layer1', 'layer2', 'layer3', 'layer4'] as const;

export type ResNetTap = (typeof RESNET_TAPS)[number];

interface BlockDef {
  /** The residual branch, ReLU after every conv but the last. */
  convs: ConvDef[];
  /** The 1x1 projection shortcut of a stage's first block, when shape or stride change. */
  downsample: ConvDef | null;
}

interface ResNetDef {
  stem: ConvDef;
  stages: BlockDef[][];
  /** Channels of each tap, in RESNET_TAPS order. */
  channels: number[];
}

function define(name: ResNetName): ResNetDef {
  const cfg: ResNetConfig = RESNETS[name];
  const expansion = cfg.block === 'basic' ? 1 : 4;
  let inChannels = 64;
  const stages = cfg.blocks.map((count, s) => {
    const planes = 64 << s;
    const out = planes * expansion;
    const inner = cfg.block === 'basic' ? planes : (planes * cfg.width) / 64;
    return Array.from({ length: count }, (_, b): BlockDef => {
      const prefix = `layer${s + 1}.${b}`;
      const stride = s > 0 && b === 0 ? 2 : 1;
      const conv = (i: number, cin: number, cout: number, kernel: number, st: number): ConvDef => ({
        name: `${prefix}.conv${i}`, bn: `${prefix}.bn${i}`, inChannels: cin, outChannels: cout, kernel, stride: st,
        padding: (kernel - 1) / 2,
      });
      const convs = cfg.block === 'basic'
        ? [conv(1, inChannels, planes, 3, stride), conv(2, planes, planes, 3, 1)]
        : [conv(1, inChannels, inner, 1, 1), conv(2, inner, inner, 3, stride), conv(3, inner, out, 1, 1)];
      const downsample = stride !== 1 || inChannels !== out
        ? { name: `${prefix}.downsample.0`, bn: `${prefix}.downsample.1`, inChannels, outChannels: out, kernel: 1,
          stride, padding: 0 }
        : null;
      inChannels = out;
      return { convs, downsample };
    });
  });
  return {
    stem: { name: 'conv1', bn: 'bn1', inChannels: 3, outChannels: 64, kernel: 7, stride: 2, padding: 3 },
    stages,
    channels: [64, ...[0, 1, 2, 3].map((s) => (64 << s) * expansion)],
  };
}

/** The convolutions of a block (definitions or loaded layers), shortcut last. */
function blockConvs<T>(b: { convs: T[]; downsample: T | null }): T[] {
  return b.downsample ? [...b.convs, b.downsample] : b.convs;
}

/** The convolutions up to stage `stages` (0 = stem only). */
function convsUpTo(def: ResNetDef, stages: number): ConvDef[] {
  return [def.stem, ...def.stages.slice(0, stages).flat().flatMap(blockConvs)];
}

/** Every tensor of the network (the classifier head `fc` is ignored), for checking a checkpoint as a whole. */
export function resnetManifest(name: ResNetName): Manifest {
  return { arch: name, params: convsUpTo(define(name), 4).flatMap(convParams), ignore: /^fc\.|\.num_batches_tracked$/ };
}

interface Block {
  convs: ConvLayer[];
  downsample: ConvLayer | null;
}

export interface ResNetOptions {
  taps: readonly ResNetTap[];
  /** Parts whose parameters train ('stem', 'layer1'..'layer4'); their BatchNorm follows train()/eval(). */
  trainable: ReadonlySet<ResNetTap>;
  normalize: boolean;
}

/** A loaded ResNet; see loadBackbone() in ./index.ts. */
export class ResNet extends ConvNetwork {
  private constructor(
    readonly name: ResNetName,
    readonly taps: readonly ResNetTap[],
    private readonly def: ResNetDef,
    normalizer: ImageNetNormalize | null,
    private readonly stem: ConvLayer,
    /** Stages up to the last tap only. */
    private readonly stages: Block[][],
    /** Every loaded layer, in state-dict order. */
    layers: ConvLayer[],
    private readonly anyTrainable: boolean,
  ) {
    super(layers, normalizer);
  }

  /** Channels of every tap. */
  get channels(): Record<string, number> {
    return Object.fromEntries(this.taps.map((t) => [t, this.def.channels[RESNET_TAPS.indexOf(t)]!]));
  }

  /** Checks `store` against the whole architecture, then reads the layers up to the last tap. */
  static async load(rt: Runtime, name: ResNetName, store: WeightStore, opts: ResNetOptions): Promise<ResNet> {
    const def = define(name);
    const last = Math.max(...opts.taps.map((t) => RESNET_TAPS.indexOf(t)));
    store.check(resnetManifest(name), new Set(convsUpTo(def, last).flatMap(convParams).map((p) => p.key)));
    const layers: ConvLayer[] = [];
    const load = async (d: ConvDef, trainable: boolean) => {
      const layer = await ConvLayer.load(rt, store, d, trainable);
      layers.push(layer);
      return layer;
    };
    try {
      const stem = await load(def.stem, opts.trainable.has('stem'));
      const stages: Block[][] = [];
      for (const [s, blocks] of def.stages.slice(0, last).entries()) {
        const trainable = opts.trainable.has(RESNET_TAPS[s + 1]!);
        const stage: Block[] = [];
        for (const b of blocks) {
          const convs: ConvLayer[] = [];
          for (const c of b.convs) convs.push(await load(c, trainable));
          stage.push({ convs, downsample: b.downsample ? await load(b.downsample, trainable) : null });
        }
        stages.push(stage);
      }
      const normalizer = opts.normalize ? new ImageNetNormalize(rt) : null;
      return new ResNet(name, opts.taps, def, normalizer, stem, stages, layers, opts.trainable.size > 0);
    } catch (err) {
      for (const l of layers) l.dispose();
      throw err;
    }
  }

  /** [C, H, W] of a tap for an H x W input: every stride-2 step maps n to floor((n - 1) / 2) + 1. */
  outputShape(tap: string, [h, w]: readonly [number, number]): [number, number, number] {
    const index = RESNET_TAPS.indexOf(tap as ResNetTap);
    if (index < 0) throw new Error(`texad: ${this.name} has no tap '${tap}'; choose from ${RESNET_TAPS.join(', ')}`);
    const down = (n: number) => windowOutput(n, 3, 2, 1);
    let [oh, ow] = [down(down(h)), down(down(w))];
    for (let s = 2; s <= index; s++) [oh, ow] = [down(oh), down(ow)];
    return [this.def.channels[index]!, oh, ow];
  }

  /**
   * Images [N, 3, H, W] (RGB in [0, 1], or already normalised when built with normalize: false) -> taps. Frozen
   * parts record nothing and free their activations as they go; trainable parts record for backward().
   */
  forward(images: Tensor): Record<string, Tensor> {
    checkImages(images, this.name);
    const run = () => {
      const out: Record<string, Tensor> = {};
      const kept = new Set<Tensor>([images]);
      const advance = (input: Tensor, output: Tensor): Tensor => (kept.has(input) ? output : consumed(input, output));
      const tap = (name: ResNetTap, t: Tensor) => {
        if (this.taps.includes(name)) {
          out[name] = t;
          kept.add(t);
        }
      };
      let x = images;
      if (this.normalizer) x = this.normalizer.forward(x);
      const training = this.training;
      x = advance(x, this.stem.forward(x, { relu: true, training }));
      x = advance(x, maxPool2d(x, { kernel: 3, stride: 2, padding: 1 }));
      tap('stem', x);
      for (const [s, stage] of this.stages.entries()) {
        for (const block of stage) x = advance(x, runBlock(block, x, training));
        tap(RESNET_TAPS[s + 1]!, x);
      }
      return out;
    };
    return this.anyTrainable ? run() : images.rt.noGrad(run);
  }
}

/** relu(branch(x) + shortcut(x)), the add and ReLU fused into the branch's last conv. `x` stays with the caller. */
function runBlock(block: Block, x: Tensor, training: boolean): Tensor {
  const shortcut = block.downsample ? block.downsample.forward(x, { relu: false, training }) : x;
  let h = x;
  block.convs.forEach((conv, i) => {
    const last = i === block.convs.length - 1;
    const y = conv.forward(h, { relu: true, residual: last ? shortcut : undefined, training });
    h = h === x ? y : consumed(h, y);
  });
  return shortcut === x ? h : consumed(shortcut, h);
}
