// SimpleNet's training step (§3.3–3.4): Gaussian noise on projected normal features makes the fake anomalies,
// and a truncated L1 loss pushes D(true) above +margin and D(fake) below -margin.
import { add, affine, relu } from '../../ops/elementwise.ts';
import { concat, split } from '../../ops/layout.ts';
import { mean } from '../../ops/reduce.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { Discriminator, Projection } from './model.ts';

/** mean(max(0, th - D(true))) + mean(max(0, th + D(fake))), the official `dsc_margin` hinge. */
export function truncatedL1(trueScores: Tensor, fakeScores: Tensor, margin: number): Tensor {
  return add(mean(relu(affine(trueScores, -1, margin))), mean(relu(affine(fakeScores, 1, margin))));
}

/**
 * Forward pass of one training batch: `rows` [R, D] are embedded features of normal images and `noise` [R, D]
 * the Gaussian perturbation (N(0, noise_std^2) in training). Returns the loss; true and fake rows go through the
 * discriminator together, so BatchNorm's batch statistics see both, as in the official code.
 */
export function simpleNetLoss(
  rows: Tensor,
  projection: Projection,
  discriminator: Discriminator,
  noise: Tensor,
  margin: number,
): Tensor {
  const trueFeats = projection.forward(rows);
  const fakeFeats = add(trueFeats, noise);
  const scores = discriminator.forward(concat([trueFeats, fakeFeats], 0));
  const n = rows.shape[0]!;
  const [trueScores, fakeScores] = split(scores, [n, n], 0) as [Tensor, Tensor];
  return truncatedL1(trueScores, fakeScores, margin);
}
