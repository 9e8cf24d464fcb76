// Mean-Shift's hyper-parameters under the official names (talreiss/Mean-Shifted-Anomaly-Detection main.py argparse;
// the constants the official code hard-codes are named here after what they are).

export interface MeanShiftConfig {
  /** Official `--backbone`: 152 (ResNet152, stem/layer1/layer2 frozen) or 18 (ResNet18, everything trains). */
  backbone: 152 | 18;
  /** Official `--epochs`. */
  epochs: number;
  /** Official `--lr` (SGD, no momentum). */
  lr: number;
  /** SGD weight decay (hard-coded 0.00005 in the official train_model). */
  weight_decay: number;
  /** Official `--batch_size`: images per step; the NT-Xent loss runs over its 2 x batch_size views. */
  batch_size: number;
  /** Official `--angular`: normalise the centre and add mean ||f(x1) - c||^2 + mean ||f(x2) - c||^2. */
  angular: boolean;
  /** NT-Xent temperature (hard-coded 0.25 in the official contrastive_loss). */
  temperature: number;
  /** Eval transform: Resize(`resize`) then CenterCrop(`imagesize`); also the side of the augmented views. */
  resize: number;
  imagesize: number;
  /** RandomResizedCrop area scale range (MoCo v2: 0.2 to 1). */
  crop_scale: [number, number];
  /** ColorJitter(brightness, contrast, saturation, hue) applied with probability `jitter_p`. */
  jitter: [number, number, number, number];
  jitter_p: number;
  grayscale_p: number;
  /** Gaussian blur with sigma ~ U(blur_sigma) applied with probability `blur_p`. */
  blur_sigma: [number, number];
  blur_p: number;
  seed: number;
}

/** The official settings (main.py defaults; Texture-AD runs them unchanged). */
export const PAPER: MeanShiftConfig = {
  backbone: 152,
  epochs: 20,
  lr: 1e-5,
  weight_decay: 5e-5,
  batch_size: 64,
  angular: false,
  temperature: 0.25,
  resize: 256,
  imagesize: 224,
  crop_scale: [0.2, 1],
  jitter: [0.4, 0.4, 0.4, 0.1],
  jitter_p: 0.8,
  grayscale_p: 0.2,
  blur_sigma: [0.1, 2],
  blur_p: 0.5,
  seed: 0,
};

/**
 * CPU-sized: ResNet18 (the official alternative, every layer trains) on images resized to 64 px without a crop,
 * batches of 8 (16 views) and 2 epochs; the loss, optimiser and augmentations are the official ones. At 128 px one
 * epoch of 24 images took ~12 min on the loaded 2-core machine, hence 64 px. Every departure is listed in
 * src/methods/meanshift/README.md.
 */
export const QUICK: MeanShiftConfig = {
  ...PAPER,
  backbone: 18,
  epochs: 2,
  batch_size: 8,
  resize: 64,
  imagesize: 64,
};

export const PRESETS = { paper: PAPER, quick: QUICK } as const;
