// The backbone registry: one call builds a named network with its weights (a safetensors file, its bytes, or
// seeded random init) and returns a model that maps images to feature maps ("taps").
import type { Modal, Module } from '../nn/layers.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Tensor } from '../runtime/tensor.ts';
import { InceptionV3 } from './inception_v3.ts';
import { MOBILENETS, MobileNetV2, type MobileNetName } from './mobilenet_v2.ts';
import { PDNS, Pdn, type PdnName } from './pdn.ts';
import { RESNETS, RESNET_TAPS, ResNet, type ResNetName, type ResNetTap } from './resnet.ts';
import { openWeights, type WeightsSource } from './weights.ts';

export type BackboneName = ResNetName | PdnName | MobileNetName | 'inception_v3';

/**
 * Every backbone texad builds, by torchvision's name (PDNs: EfficientAD's teacher sizes; MobileNetV2 in Keras's
 * layout, `mobilenet_v2_1.4` its width-1.4 variant; InceptionV3 in Keras's layout).
 */
export const BACKBONES: readonly BackboneName[] = [
  ...(Object.keys(RESNETS) as ResNetName[]), ...PDNS, ...(Object.keys(MOBILENETS) as MobileNetName[]), 'inception_v3',
];

/**
 * A loaded network, an nn Module like src/nn's layers: tensors()/trainable() by PyTorch state-dict name (the
 * trainable parts only: frozen parts have BatchNorm folded and are reloaded from the weights, not checkpointed),
 * train()/eval() (eval by default; training mode gives the BatchNorms of trainable parts batch statistics and
 * running-statistic updates; frozen parts stay in eval mode). It owns its weights on the GPU until dispose().
 */
export interface Backbone extends Module, Modal {
  readonly name: BackboneName;
  /** The outputs forward() returns, in network order. */
  readonly taps: readonly string[];
  /** Channels of each tap. */
  readonly channels: Readonly<Record<string, number>>;
  /** [C, H, W] of a tap for an H x W input. */
  outputShape(tap: string, size: readonly [number, number]): [number, number, number];
  /**
   * Images [N, 3, H, W], RGB in [0, 1] (ImageNet normalisation is applied inside unless disabled) -> one tensor per
   * tap, owned by the caller. Frozen networks record no tape and free their intermediate activations as they go.
   */
  forward(images: Tensor): Record<string, Tensor>;
}

export interface BackboneOptions {
  /** 'random' (seeded init, see randomWeights), a .safetensors path (Node, Deno), its bytes, or a WeightStore. */
  weights: WeightsSource;
  /** Seed of random-init mode (an integer in [0, 2^32)); default 0. */
  seed?: number;
  /**
   * Outputs to return; layers after the last are not built. ResNets: any of stem, layer1..layer4 (default all).
   * MobileNetV2: Keras layer names (mobilenetTaps(); default block_6_expand_relu and block_13_expand_relu).
   * InceptionV3: mixed0..mixed10 (default mixed2 and mixed5).
   */
  taps?: readonly string[];
  /**
   * Which parameters train: true for all, or ResNet parts such as ['layer3', 'layer4']. Their BatchNorm runs in
   * eval mode (as Mean-Shift fine-tunes) unless train() is called. Frozen parts have BatchNorm folded into their
   * convolutions. Default false.
   */
  trainable?: boolean | readonly string[];
  /**
   * Apply the network's input normalisation inside forward() (default true): ImageNet mean/std for torchvision
   * networks, x * 2 - 1 for MobileNetV2 and InceptionV3 (Keras preprocess_input). False feeds the [0, 1] pixels.
   */
  normalize?: boolean;
  /** PDNs: output channels (384 for EfficientAD's teacher, the default; 768 for its student). */
  outChannels?: number;
  /** PDNs: zero padding in convs and pools (default false, as EfficientAD trains). */
  padding?: boolean;
}

function isMobileNet(name: string): name is MobileNetName {
  return Object.hasOwn(MOBILENETS, name);
}

function isResNet(name: string): name is ResNetName {
  return Object.hasOwn(RESNETS, name);
}

function resnetTaps(name: string, requested: readonly string[] | undefined): ResNetTap[] {
  const taps = requested ?? RESNET_TAPS;
  const unknown = taps.filter((t) => !(RESNET_TAPS as readonly string[]).includes(t));
  if (unknown.length > 0 || taps.length === 0) {
    const asked = unknown.map((t) => `'${t}'`).join(', ') || '(none asked)';
    throw new Error(`texad: ${name} has no tap ${asked}; choose from ${RESNET_TAPS.join(', ')}`);
  }
  // Network order, duplicates dropped, whatever order they were asked in.
  return RESNET_TAPS.filter((t) => taps.includes(t));
}

function resnetTrainable(name: string, taps: ResNetTap[], trainable: BackboneOptions['trainable']): Set<ResNetTap> {
  const last = RESNET_TAPS.indexOf(taps[taps.length - 1]!);
  const built = RESNET_TAPS.slice(0, last + 1);
  if (trainable === true) return new Set(built);
  if (!trainable) return new Set();
  const bad = trainable.filter((t) => !(built as readonly string[]).includes(t));
  if (bad.length > 0) {
    throw new Error(
      `texad: ${name}: trainable part ${bad.map((t) => `'${t}'`).join(', ')} is not built for taps ` +
        `${taps.join(', ')}; choose from ${built.join(', ')}`,
    );
  }
  return new Set(trainable as ResNetTap[]);
}

/**
 * Builds backbone `name` on `rt`:
 *   const bb = await loadBackbone(rt, 'wide_resnet50_2', { weights: 'wrn.safetensors', taps: ['layer2', 'layer3'] });
 *   const { layer2, layer3 } = bb.forward(images);
 * A checkpoint is checked against the whole architecture (names, shapes, its `texad.arch` metadata) before any
 * tensor is read; tensors are then streamed to the GPU one at a time.
 */
export async function loadBackbone(rt: Runtime, name: BackboneName, opts: BackboneOptions): Promise<Backbone> {
  if (!BACKBONES.includes(name)) {
    throw new Error(`texad: unknown backbone '${name}'; choose from ${BACKBONES.join(', ')}`);
  }
  const store = await openWeights(opts.weights, opts.seed ?? 0);
  // Whatever was opened here is closed here; a WeightStore passed in stays open for its owner.
  const ownStore = store !== opts.weights;
  const normalize = opts.normalize ?? true;
  try {
    if (isResNet(name)) {
      const taps = resnetTaps(name, opts.taps);
      const trainable = resnetTrainable(name, taps, opts.trainable);
      return await ResNet.load(rt, name, store, { taps, trainable, normalize });
    }
    if (isMobileNet(name)) {
      if (opts.trainable) throw new Error(`texad: ${name} is frozen only (BatchNorm folded); trainable mode is not implemented`);
      const taps = opts.taps ?? ['block_6_expand_relu', 'block_13_expand_relu'];
      return await MobileNetV2.load(rt, name, store, { taps, normalize });
    }
    if (name === 'inception_v3') {
      if (opts.trainable) throw new Error(`texad: ${name} is frozen only (BatchNorm folded); trainable mode is not implemented`);
      return await InceptionV3.load(rt, store, { taps: opts.taps ?? ['mixed2', 'mixed5'], normalize });
    }
    if (opts.taps && opts.taps.some((t) => t !== 'out')) {
      throw new Error(`texad: ${name} has one tap, 'out'; got ${opts.taps.join(', ')}`);
    }
    if (Array.isArray(opts.trainable)) {
      throw new Error(`texad: ${name}: trainable must be true or false (it has no parts)`);
    }
    const { outChannels = 384, padding = false } = opts;
    return await Pdn.load(rt, name, store, { outChannels, padding, trainable: opts.trainable === true, normalize });
  } finally {
    if (ownStore) await store.close();
  }
}

export { RESNET_TAPS } from './resnet.ts';
export { MOBILENETS, mobilenetManifest, mobilenetTaps, type MobileNetName } from './mobilenet_v2.ts';
export { INCEPTION_TAPS, inceptionManifest } from './inception_v3.ts';
export {
  WEIGHTS_ENV, WeightsError, checkpointWeights, conventionalWeightsPath, initKey, memoryWeights, openWeights, randomWeights,
  type Init, type Manifest, type ParamSpec, type WeightStore, type WeightsSource,
} from './weights.ts';
