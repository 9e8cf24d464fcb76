// One DRAEM training loss (train_DRAEM.py): the reconstruction of the augmented batch against the clean
// images (MSE + 1 - SSIM), and the focal loss of the discriminative network's softmax against the mask. The
// focal gradient reaches the reconstructive network too (the official code does not detach the reconstruction).
// And the inference graph of test_DRAEM.py (Draem.predict and the benchmark case run it).
import { add, addScalar, boxFilter, concat, max, mean, neg, slice, softmax, square, sub } from '../../ops/index.ts';
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

/**
 * test_DRAEM.py's scoring of images x [N, 3, S, S] (networks in eval mode): map = softmax channel 1 of the
 * discriminative logits on (reconstruction, image), [N, 1, S, S]; image score = max of the map after
 * avg_pool2d(scorePool, stride 1, padding scorePool // 2, padding counted), [N].
 */
export function draemInference(rec: ReconstructiveSubNetwork, seg: DiscriminativeSubNetwork, x: Tensor, scorePool: number): { map: Tensor; scores: Tensor } {
  const reconstruction = rec.forward(x);
  const map = slice(softmax(seg.forward(concat([reconstruction, x], 1)), 1), 1, 1, 2);
  return { map, scores: max(boxFilter(map, scorePool), [1, 2, 3]) };
}
