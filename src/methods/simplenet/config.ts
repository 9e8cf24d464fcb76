// SimpleNet's hyper-parameters under the official repository's names (DonaldRR/SimpleNet run.sh, simplenet.py).

import type { BackboneName } from '../../backbones/index.ts';

export interface SimpleNetConfig {
  backbone: BackboneName;
  /** Backbone taps whose 3x3-aggregated patch features are concatenated (layer2 first). */
  layers: string[];
  /** Images are resized to `resize` (shorter side) then centre-cropped to `imagesize`. */
  resize: number;
  imagesize: number;
  /** Per-layer adaptive pooling target of the C*9 patch vector. */
  pretrain_embed_dimension: number;
  /** Final feature size after pooling the stacked layers. */
  target_embed_dimension: number;
  patchsize: number;
  /** Linear projection layers before the discriminator (0 = none). */
  pre_proj: number;
  dsc_layers: number;
  dsc_hidden: number;
  dsc_margin: number;
  /** Std of the Gaussian noise that turns projected features into fake anomalous ones. */
  noise_std: number;
  /**
   * texad addition (0 = off, the official behaviour): when > 0, noise_std is this fraction of the RMS of the
   * projected training features, measured once before training. See the README: with random backbone weights
   * the official absolute 0.015 is far below the feature scale and training stays at chance.
   */
  noise_std_relative: number;
  dsc_lr: number;
  dsc_weight_decay: number;
  /** AdamW learning rate of the projection (0.1 x the official default lr 1e-3) and its decoupled decay. */
  proj_lr: number;
  proj_weight_decay: number;
  meta_epochs: number;
  gan_epochs: number;
  batch_size: number;
  /** Gaussian blur of the upsampled anomaly map. */
  map_sigma: number;
  seed: number;
}

/** The paper's settings (Texture-AD Table 2 uses the official defaults: 160 passes, batch 8, input 288). */
export const PAPER: SimpleNetConfig = {
  backbone: 'wide_resnet50_2',
  layers: ['layer2', 'layer3'],
  resize: 329,
  imagesize: 288,
  pretrain_embed_dimension: 1536,
  target_embed_dimension: 1536,
  patchsize: 3,
  pre_proj: 1,
  dsc_layers: 2,
  dsc_hidden: 1024,
  dsc_margin: 0.5,
  noise_std: 0.015,
  noise_std_relative: 0,
  dsc_lr: 2e-4,
  dsc_weight_decay: 1e-5,
  proj_lr: 1e-4,
  proj_weight_decay: 0.01,
  meta_epochs: 40,
  gan_epochs: 4,
  batch_size: 8,
  map_sigma: 4,
  seed: 0,
};

/**
 * For CPU-emulated GPUs: a smaller input, narrower features and a handful of epochs, so a category trains in
 * about a minute on 2 cores. The architecture and losses are unchanged.
 */
export const QUICK: SimpleNetConfig = {
  ...PAPER,
  resize: 128,
  imagesize: 128,
  pretrain_embed_dimension: 384,
  target_embed_dimension: 384,
  dsc_hidden: 256,
  noise_std_relative: 0.1,
  meta_epochs: 2,
  gan_epochs: 4,
  map_sigma: 2,
};

export const PRESETS = { paper: PAPER, quick: QUICK } as const;
export type PresetName = keyof typeof PRESETS;

export function simpleNetConfig(preset: PresetName, overrides: Partial<SimpleNetConfig> = {}): SimpleNetConfig {
  const base = PRESETS[preset];
  if (!base) throw new Error(`texad: unknown SimpleNet preset '${preset}' (use ${Object.keys(PRESETS).join(' or ')})`);
  return { ...base, ...overrides };
}
