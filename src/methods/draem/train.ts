// One DRAEM training loss (train_DRAEM.py): the reconstruction of the augmented batch against the clean
// images (MSE + 1 - SSIM), and the focal loss of the discriminative network's softmax against the mask. The
// focal gradient reaches the reconstructive network too (the official code does not detach the reconstruction).
import { add, addScalar, concat, mean, neg, softmax, square, sub } from '../../ops/index.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { focalLoss, ssim } from './losses.ts';
import type { DiscriminativeSubNetwork, ReconstructiveSubNetwork } from './model.ts';

export interface DraemLosses {
  l2: Tensor;
  ssim: Tensor;
  focal: Tensor;
  total: Tensor;
}

export function draemLoss(
  rec: ReconstructiveSubNetwork,
  seg: DiscriminativeSubNetwork,
  image: Tensor,
  augmented: Tensor,
  mask: Tensor,
  gamma: number,
): DraemLosses {
  const reconstruction = rec.forward(augmented);
  const probs = softmax(seg.forward(concat([reconstruction, augmented], 1)), 1);
  const l2 = mean(square(sub(reconstruction, image)));
  const ssimLoss = addScalar(neg(ssim(reconstruction, image)), 1);
  const focal = focalLoss(probs, mask, gamma);
  return { l2, ssim: ssimLoss, focal, total: add(add(l2, ssimLoss), focal) };
}
