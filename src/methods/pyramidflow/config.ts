// PyramidFlow's hyper-parameters under the official repository's names (gasharper/PyramidFlow train.py arguments;
// optimiser values from its Adam call).

export interface PyramidFlowConfig {
  /** 'resnet18': frozen torchvision ResNet18 stem + layer1 (64 channels at stride 4); 'none': semi-invertible 1x1 conv. */
  encoder: 'none' | 'resnet18';
  /**
   * ResNet18 encoder only. 'train' reproduces the official behaviour: flow.train() also puts the encoder's BatchNorm
   * layers in training mode, so during fit() they normalise with the statistics of each batch of 2 and update their
   * running statistics, which the template and predict() then use (eval mode). 'eval' is the corrected behaviour:
   * the frozen encoder always uses its pretrained statistics.
   */
  encoder_bn: 'train' | 'eval';
  /** Side of the square input (official: Resize(1024) with the ResNet18 encoder, 256 without). */
  x_size: number;
  /** Pyramid levels (official 'auto': 4; 8 for metal_nut/carpet/transistor; 2 for screw). */
  numLayer: number;
  /** Volume normalisation of the log-scales: 'CVN' over batch and channels, 'SVN' over batch and pixels. */
  volumeNorm: 'CVN' | 'SVN';
  /** Kernel size of both convolutions in each affine parameter block. */
  kernelSize: number;
  /** Flow channels with encoder 'none' (the ResNet18 encoder fixes 64). */
  numChannel: number;
  /** Repetitions of the per-stack block sequence (official 4: 16 blocks with 4 levels). */
  numStack: number;
  /** Images per training step; the loss compares every pair within the batch (official 2, drop_last). */
  batchSize: number;
  epochs: number;
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  /** Global gradient-norm clipping threshold. */
  max_norm: number;
  /**
   * Official texture augmentation: horizontal flip, vertical flip and rot90, each with p = 0.5, on training images
   * (never for the template). The official code applies it to carpet, leather, tile, wood and grid only; every
   * Texture-AD category is a texture, so it is on by default.
   */
  augment: boolean;
  /**
   * Image score from the anomaly map: 'max' (official) or, a texad addition, 'max-minus-mean': the max less the
   * map's mean, which discounts a whole-image offset from the template (one template serves every subclass of a
   * Texture-AD category, so a subclass far from the mean template scores high everywhere).
   */
  score: 'max' | 'max-minus-mean';
  /**
   * texad addition (0 = off, the official behaviour): illumination normalisation of every input image
   * (src/methods/components/illumination.ts), with a flat-field blur of sigma = this fraction of x_size.
   */
  illumination_sigma: number;
  seed: number;
}

/** The official settings with the ResNet18 encoder (Texture-AD Table 2 runs the official defaults). */
export const PAPER: PyramidFlowConfig = {
  encoder: 'resnet18',
  encoder_bn: 'train',
  x_size: 1024,
  numLayer: 4,
  volumeNorm: 'CVN',
  kernelSize: 7,
  numChannel: 16,
  numStack: 4,
  batchSize: 2,
  epochs: 15,
  lr: 2e-4,
  betas: [0.5, 0.9],
  eps: 1e-4,
  weight_decay: 1e-5,
  max_norm: 1,
  augment: true,
  score: 'max',
  illumination_sigma: 0,
  seed: 0,
};

/**
 * A CPU-sized demo: the encoder-free variant (trains from scratch, needs no ImageNet weights) at the tiny synthetic
 * set's 128 px. Every departure from PAPER is listed, with the measurements behind it, in README.md next to this file.
 */
export const QUICK: PyramidFlowConfig = {
  ...PAPER,
  encoder: 'none',
  x_size: 64,
  // The RGB input spans 3 dimensions whatever numChannel is; 3 channels make a step ~6x cheaper than 8 and scored
  // no worse on the held-out synthetic seeds 11 and 12 (README "Tuning").
  numChannel: 3,
  kernelSize: 5,
  numStack: 1,
  // SVN: the official 'auto' choice for the texture categories carpet and grid; it beat CVN on seeds 11 and 12.
  volumeNorm: 'SVN',
  // 12 steps per epoch on 24 training images: the official 2e-4 barely moves the flow in 48-96 steps (README).
  lr: 2e-3,
  // 8 epochs with the illumination normalisation below: 68.9 mean image AUROC on seeds 11 and 12 against 68.1 at 4.
  epochs: 8,
  score: 'max-minus-mean',
  // Flat-field sigma of 1/16 of the side: 68.1 on seeds 11 and 12 against 58.3 without (1/8: 66.7, 1/32: 67.4).
  illumination_sigma: 1 / 16,
};

export const PRESETS = { paper: PAPER, quick: QUICK } as const;

/** A preset with overrides, checked (the registry's parseConfig has already refused unknown presets and keys). */
export function pyramidFlowConfig(preset: keyof typeof PRESETS, overrides: Partial<PyramidFlowConfig> = {}): PyramidFlowConfig {
  return checkConfig({ ...PRESETS[preset], ...overrides });
}

function checkConfig(c: PyramidFlowConfig): PyramidFlowConfig {
  const bad = (what: string) => {
    throw new Error(`texad: PyramidFlow config: ${what}`);
  };
  if (c.encoder !== 'none' && c.encoder !== 'resnet18') bad(`encoder must be 'none' or 'resnet18', got '${String(c.encoder)}'`);
  if (c.encoder_bn !== 'train' && c.encoder_bn !== 'eval') bad(`encoder_bn must be 'train' or 'eval', got '${String(c.encoder_bn)}'`);
  if (c.score !== 'max' && c.score !== 'max-minus-mean') bad(`score must be 'max' or 'max-minus-mean', got '${String(c.score)}'`);
  if (c.volumeNorm !== 'CVN' && c.volumeNorm !== 'SVN') bad(`volumeNorm must be 'CVN' or 'SVN', got '${String(c.volumeNorm)}'`);
  if (!Number.isInteger(c.numLayer) || c.numLayer < 2) bad(`numLayer must be an integer >= 2, got ${c.numLayer}`);
  if (!Number.isInteger(c.kernelSize) || c.kernelSize % 2 !== 1) bad(`kernelSize must be an odd integer, got ${c.kernelSize}`);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 2) {
    bad(`batchSize must be an integer >= 2 (the loss compares pairs of images within a batch), got ${c.batchSize}`);
  }
  if (!(c.illumination_sigma >= 0 && 4 * c.illumination_sigma < 1)) {
    bad(`illumination_sigma must be in [0, 0.25) (a fraction of x_size; 0 = off), got ${JSON.stringify(c.illumination_sigma)}`);
  }
  const side = c.encoder === 'resnet18' ? c.x_size / 4 : c.x_size;
  const unit = 2 ** (c.numLayer - 1);
  if (!Number.isInteger(side) || side % unit !== 0 || (side & (side - 1)) !== 0) {
    bad(`x_size ${c.x_size} gives ${side} px flow inputs; they must be a power of two (for the Fourier loss) divisible by 2^(numLayer-1) = ${unit}`);
  }
  return c;
}
