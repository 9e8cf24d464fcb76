// EfficientAD's hyper-parameters under the names of nelson1425/EfficientAD (efficientad.py) and anomalib
// (models/image/efficient_ad): model_size, out_channels, image_size, train_steps, lr, weight_decay, padding.

export interface EfficientAdConfig {
  /** Teacher and student architecture: PDN-S ('small') or PDN-M ('medium'). */
  model_size: 'small' | 'medium';
  /** Teacher outputs (the student has twice as many: teacher imitation + autoencoder imitation). */
  out_channels: number;
  /**
   * Images are resized to image_size x image_size (no crop). 256 in the paper. Other sizes: a multiple of 32,
   * at least 64; the autoencoder's sizes then follow anomalib's image_size formulas (src/methods/efficientad/README.md).
   */
  image_size: number;
  /** Optimizer steps (batch 1). */
  train_steps: number;
  /** Adam learning rate and (L2) weight decay over the student and autoencoder parameters. */
  lr: number;
  weight_decay: number;
  /** StepLR: the learning rate is multiplied by 0.1 after this fraction of train_steps. */
  lr_step_fraction: number;
  /** Quantile of the squared student-teacher distance above which elements enter the hard-feature loss. */
  hard_quantile: number;
  /** Dropout probability in the autoencoder's decoder. */
  dropout: number;
  /** Colour augmentation of the autoencoder's input: factor U(1 - jitter, 1 + jitter). */
  color_jitter: number;
  /** Quantiles of the validation maps that normalisation maps to 0 and 0.1. */
  map_quantile_low: number;
  map_quantile_high: number;
  /** Zero padding of the PDN convolutions (anomalib `padding`; off in the official training). */
  padding: boolean;
  /**
   * Zero padding (map px per side) of the combined map before upsampling (anomalib `pad_maps`). The unpadded PDN maps
   * image_size / 4 - 8 locations per side; 4 px restores image_size / 4 and so aligns the map with the image.
   */
  pad_maps: number;
  seed: number;
}

/** The official settings (nelson1425/EfficientAD efficientad.py defaults; anomalib agrees). */
export const PAPER: EfficientAdConfig = {
  model_size: 'small',
  out_channels: 384,
  image_size: 256,
  train_steps: 70_000,
  lr: 1e-4,
  weight_decay: 1e-5,
  lr_step_fraction: 0.95,
  hard_quantile: 0.999,
  dropout: 0.2,
  color_jitter: 0.2,
  map_quantile_low: 0.9,
  map_quantile_high: 0.995,
  padding: false,
  pad_maps: 4,
  seed: 0,
};

/**
 * A CPU-sized configuration for the tiny synthetic set on 2 CPU cores: the official architecture and losses at
 * 64 px (the smallest image the autoencoder takes; a quarter of the tiny set's 128 px FLOPs) and 40 steps. Its
 * figures are not EfficientAD's published behaviour, and with a random teacher they say nothing about real data
 * (README "Presets" gives the reasons and the measured cost).
 */
export const QUICK: EfficientAdConfig = {
  ...PAPER,
  image_size: 64,
  train_steps: 40,
  // 1e-4 needs tens of thousands of steps; a 10x rate lets the student and autoencoder move within 40.
  lr: 1e-3,
};

export const PRESETS = { paper: PAPER, quick: QUICK } as const;
export type PresetName = keyof typeof PRESETS;

/** PDN backbone name of a model size. */
export function pdnName(size: EfficientAdConfig['model_size']): 'pdn_small' | 'pdn_medium' {
  if (size !== 'small' && size !== 'medium') {
    throw new Error(`texad: EfficientAD model_size must be 'small' or 'medium', got '${String(size)}'`);
  }
  return size === 'small' ? 'pdn_small' : 'pdn_medium';
}

/** Throws naming the rule when image_size cannot pass the autoencoder (a multiple of 32, at least 64). */
export function checkImageSize(size: number): void {
  if (!Number.isInteger(size) || size < 64 || size % 32 !== 0) {
    throw new Error(`texad: EfficientAD image_size must be a multiple of 32 and at least 64 (the autoencoder halves ` +
      `it five times before its last encoder conv), got ${size}; the paper uses 256`);
  }
}
