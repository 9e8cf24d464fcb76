// DRAEM's training losses (VitjanZ/DRAEM loss.py): SSIM with an 11x11 Gaussian window and the focal loss on the
// 2-class softmax, built from differentiable ops.
import { add, addScalar, depthwiseConv2d, div, gaussianKernel2d, log, mean, mul, neg, scale, slice, softmax, square, sub } from '../../ops/index.ts';
import { formatShape, type Tensor } from '../../runtime/tensor.ts';

/**
 * loss.py ssim(img1, img2) with size_average: mean of the SSIM map, Gaussian window `window` (sigma 1.5) applied
 * per channel with zero padding window // 2, C1 = (0.01 L)^2, C2 = (0.03 L)^2 with dynamic range L = 1 (the
 * official code picks L from the data: 1 for [0, 1] images, see README "DRAEM").
 */
export function ssim(img1: Tensor, img2: Tensor, window = 11, sigma = 1.5, range = 1): Tensor {
  if (img1.shape.join() !== img2.shape.join() || img1.rank !== 4) {
    throw new Error(`texad: ssim img1${formatShape(img1.shape)} img2${formatShape(img2.shape)}: need two [N, C, H, W] of one shape`);
  }
  const k = gaussianKernel2d(sigma, (window - 1) / 2);
  const pad = Math.floor(window / 2);
  const blur = (t: Tensor) => depthwiseConv2d(t, k, window, pad);
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  const mu1 = blur(img1);
  const mu2 = blur(img2);
  const mu1Sq = square(mu1);
  const mu2Sq = square(mu2);
  const mu12 = mul(mu1, mu2);
  const s1 = sub(blur(square(img1)), mu1Sq);
  const s2 = sub(blur(square(img2)), mu2Sq);
  const s12 = sub(blur(mul(img1, img2)), mu12);
  const v1 = addScalar(scale(s12, 2), c2);
  const v2 = addScalar(add(s1, s2), c2);
  const num = mul(addScalar(scale(mu12, 2), c1), v1);
  const den = mul(addScalar(add(mu1Sq, mu2Sq), c1), v2);
  return mean(div(num, den));
}

/**
 * loss.py FocalLoss(apply_nonlin=None, alpha=None, gamma, smooth=1e-5) on softmax probabilities of 2 classes:
 * the one-hot target is clamped to [smooth, 1 - smooth], pt = sum(target * p) + smooth, loss = mean over pixels
 * of -(1 - pt)^gamma log(pt). `probs` [N, 2, H, W], `mask` [N, 1, H, W] in {0, 1} (class 1 = anomalous).
 */
export function focalLoss(probs: Tensor, mask: Tensor, gamma = 2, smooth = 1e-5): Tensor {
  const [n, c, h, w] = probs.shape;
  if (probs.rank !== 4 || c !== 2 || mask.shape.join() !== [n, 1, h, w].join()) {
    throw new Error(`texad: focalLoss probs${formatShape(probs.shape)} mask${formatShape(mask.shape)}: need probs [N, 2, H, W] and mask [N, 1, H, W]`);
  }
  if (gamma !== 2) throw new Error(`texad: focalLoss: gamma ${gamma} is not supported (DRAEM uses 2)`);
  const p1 = slice(probs, 1, 1, 2);
  // p of the target class: mask * p1 + (1 - mask) * (1 - p1) = (1 - p1) + mask * (2 p1 - 1).
  const pTarget = add(addScalar(neg(p1), 1), mul(mask, addScalar(scale(p1, 2), -1)));
  // Clamped one-hot: (1 - smooth) p_target + smooth (1 - p_target), plus smooth.
  const pt = addScalar(scale(pTarget, 1 - 2 * smooth), 2 * smooth);
  return mean(neg(mul(square(addScalar(neg(pt), 1)), log(pt))));
}

/** Softmax over the class dim of [N, 2, H, W] logits. */
export const classProbs = (logits: Tensor): Tensor => softmax(logits, 1);
