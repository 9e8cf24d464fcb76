// MSFlow's hyper-parameters under the official names (cool-xuan/msflow default.py, main.py, train.py).

import type { BackboneName } from '../../backbones/index.ts';

export interface MSFlowConfig {
  /** Frozen feature extractor (`extractor` in the official code). */
  backbone_arch: BackboneName;
  /** Backbone stages whose outputs feed one parallel flow each, in network order. */
  layers: string[];
  /** Images are resized to input_size x input_size (no crop). */
  input_size: number;
  /** Positional-encoding condition channels per scale (multiples of 4). */
  c_conds: number[];
  /** AllInOne coupling blocks per scale. */
  parallel_blocks: number[];
  /** Soft clamp of the affine couplings (1.9 tanh in the parallel flows, atan in the fusion flow). */
  clamp_alpha: number;
  batch_size: number;
  lr: number;
  /** Training runs meta_epochs x sub_epochs passes; schedules step once per sub-epoch. */
  meta_epochs: number;
  sub_epochs: number;
  lr_warmup: boolean;
  /** LinearLR start factor and length (meta-epochs) of the warm-up. */
  lr_warmup_from: number;
  lr_warmup_epochs: number;
  /** MultiStepLR milestones counted in sub-epochs, as the official scheduler steps. */
  lr_decay_milestones: number[];
  lr_decay_gamma: number;
  /** Global gradient-norm clipping over all flow parameters. */
  max_grad_norm: number;
  /** Fraction of the map's pixels whose mean is the image score. */
  top_k: number;
  /**
   * texad addition: how random backbone weights are drawn when no weights file is given ('zero-mean': every k x k
   * kernel made zero-mean, as SimpleNet's quick preset); ignored when weights are loaded from a file.
   */
  random_init: 'torchvision' | 'zero-mean';
  seed: number;
}

/** The official settings (Texture-AD runs the repository defaults; batch 8 is the CLI default). */
export const PAPER: MSFlowConfig = {
  backbone_arch: 'wide_resnet50_2',
  layers: ['layer1', 'layer2', 'layer3'],
  input_size: 512,
  c_conds: [64, 64, 64],
  parallel_blocks: [2, 5, 8],
  clamp_alpha: 1.9,
  batch_size: 8,
  lr: 1e-4,
  meta_epochs: 25,
  sub_epochs: 4,
  lr_warmup: true,
  lr_warmup_from: 0.1,
  lr_warmup_epochs: 3,
  lr_decay_milestones: [70, 90],
  lr_decay_gamma: 0.33,
  max_grad_norm: 2,
  top_k: 0.03,
  random_init: 'torchvision',
  seed: 0,
};

/**
 * CPU-sized demo for RANDOM backbone weights: a zero-mean random ResNet-18 (layer1-3) on the tiny synthetic
 * 128 px images, a short schedule. Flows, loss, schedules and post-processing are the official ones; every
 * departure is listed in src/methods/msflow/README.md. Not the paper's settings; its numbers are not MSFlow's.
 */
export const QUICK: MSFlowConfig = {
  ...PAPER,
  backbone_arch: 'resnet18',
  input_size: 128,
  random_init: 'zero-mean',
  // 24 training images per category, the official batch 8: 3 steps per sub-epoch; one meta-epoch of 4 sub-epochs
  // (12 steps) keeps a run of the three tiny categories within minutes on a loaded 2-core machine.
  meta_epochs: 1,
  // Warm-up over that meta-epoch, decay at its last sub-epoch: the official shape, scaled to the short run.
  lr_warmup_epochs: 1,
  lr_decay_milestones: [3],
  // Set before any run for 12 steps instead of thousands; not tuned on any data.
  lr: 1e-3,
};

export const PRESETS = { paper: PAPER, quick: QUICK } as const;

/** lr of sub-epoch `t` (0-based): the official LinearLR warm-up and MultiStepLR, both stepped per sub-epoch. */
export function learningRate(c: MSFlowConfig, t: number): number {
  const warmIters = c.lr_warmup_epochs * c.sub_epochs;
  const warm = c.lr_warmup && warmIters > 0
    ? c.lr_warmup_from + ((1 - c.lr_warmup_from) * Math.min(t, warmIters)) / warmIters
    : 1;
  return c.lr * warm * c.lr_decay_gamma ** c.lr_decay_milestones.filter((m) => m <= t).length;
}
