// PyramidFlow's training objective (official BatchDiffLoss + the Fourier loss in train.py), its optimizer and
// training step, and its texture augmentation.
import { fft2dMagnitude } from '../../ops/fft.ts';
import { concat, slice } from '../../ops/layout.ts';
import { absDiffChannelMean, mean, sqDiffChannelMean } from '../../ops/reduce.ts';
import { backward } from '../../runtime/autograd.ts';
import { Adam, clipGradNorm, type ParamLike } from '../../runtime/optim.ts';
import { formatShape, type Tensor } from '../../runtime/tensor.ts';
import type { PyramidFlowConfig } from './config.ts';
import { composePyramid } from './pyramid.ts';

/** Rows of one side of every pair i < j of a batch of n (numpy triu_indices(n, 1) order). */
function pairRows(x: Tensor, side: 0 | 1): Tensor {
  const n = x.shape[0]!;
  const rows: Tensor[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) rows.push(slice(x, 0, side === 0 ? i : j, (side === 0 ? i : j) + 1));
  return rows.length === 1 ? rows[0]! : concat(rows, 0);
}

/**
 * The latent template contrast: for every level, (out_i - out_j)^2 for every pair i < j of the batch (the
 * official code takes all pairs for any batch size), composed through the pyramid, averaged over channels, then
 * mean |FFT2| of the resulting maps. Needs at least 2 images. The channel mean is taken per level first (one
 * sqDiffChannelMean pass each way), then the one-channel maps are composed: the composition is linear and the same
 * for every channel, so this equals the official order up to rounding with C times less pyramid work.
 */
export function pyramidFlowLoss(outputs: readonly Tensor[]): Tensor {
  const n = outputs[0]?.shape[0] ?? 0;
  if (n < 2) {
    throw new Error(`texad: PyramidFlow loss: needs a batch of at least 2 images to compare pairs, got ${outputs[0] ? formatShape(outputs[0].shape) : 'no levels'}`);
  }
  const diffs = outputs.map((o) => sqDiffChannelMean(pairRows(o, 0), pairRows(o, 1)));
  return mean(fft2dMagnitude(composePyramid(diffs)));
}

/** The official optimizer (train.py): Adam with the config's lr, betas, eps and L2 weight decay. */
export function flowOptimizer(params: readonly ParamLike[], c: PyramidFlowConfig): Adam {
  return new Adam(params, { lr: c.lr, betas: c.betas, eps: c.eps, weightDecay: c.weight_decay });
}

/**
 * One official training step (train.py) on the flow outputs of a batch: the Fourier loss, backward, global
 * gradient-norm clipping of `params` to `maxNorm`, the Adam step, then zeroed gradients. Returns the loss, which is
 * that of the weights before the step. fit() and the benchmark case (bench/pyramidflow.ts) both take it.
 */
export function trainStep(outputs: readonly Tensor[], params: readonly ParamLike[], adam: Adam, maxNorm: number): Tensor {
  const loss = pyramidFlowLoss(outputs);
  backward(loss);
  clipGradNorm(params, maxNorm);
  adam.step();
  adam.zeroGrad();
  return loss;
}

/**
 * The anomaly map [N, 1, H, W]: |out - template| per level, composed through the pyramid, channel mean (official
 * order). Taken here as the channel mean per level first (one absDiffChannelMean pass each), then composed: the
 * composition is linear and the same for every channel, so the two orders agree up to float rounding, and this one
 * composes one channel instead of C. Inference only.
 */
export function anomalyMap(outputs: readonly Tensor[], template: readonly Tensor[]): Tensor {
  return composePyramid(outputs.map((o, i) => absDiffChannelMean(o, template[i]!)));
}

/**
 * albumentations' HorizontalFlip, VerticalFlip and RandomRotate90, each with p = 0.5, applied in place to each
 * square CHW image of `images` (count x 3 x side x side); RandomRotate90 turns by 90, 180 or 270 degrees (factor
 * 1..3, uniform). `random` draws uniform numbers in [0, 1).
 */
export function augmentTextures(images: Float32Array, count: number, side: number, random: () => number): void {
  const plane = side * side;
  const tmp = new Float32Array(plane);
  for (let n = 0; n < count; n++) {
    const hflip = random() < 0.5;
    const vflip = random() < 0.5;
    const turns = random() < 0.5 ? 1 + Math.min(2, Math.floor(random() * 3)) : 0;
    if (!hflip && !vflip && turns === 0) continue;
    for (let c = 0; c < 3; c++) {
      const base = (n * 3 + c) * plane;
      const src = images.subarray(base, base + plane);
      tmp.set(src);
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          // Output pixel (y, x) of flip-h, then flip-v, then `turns` counter-clockwise quarter turns (np.rot90).
          let [sy, sx] = [y, x];
          for (let t = 0; t < turns; t++) [sy, sx] = [sx, side - 1 - sy];
          if (vflip) sy = side - 1 - sy;
          if (hflip) sx = side - 1 - sx;
          src[y * side + x] = tmp[sy * side + sx]!;
        }
      }
    }
  }
}
