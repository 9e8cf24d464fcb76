// Mean-Shift's training objective (official main.py contrastive_loss and run_epoch): the mean-shifted NT-Xent.
import { add, exp, log, mul, scale, square, sub } from '../../ops/elementwise.ts';
import { concat } from '../../ops/layout.ts';
import { matmul } from '../../ops/matmul.ts';
import { l2Normalize, mean, sum } from '../../ops/reduce.ts';
import type { Backbone } from '../../backbones/index.ts';
import { backward } from '../../runtime/autograd.ts';
import type { Optimizer } from '../../runtime/optim.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { features } from './model.ts';

/**
 * SimCLR's NT-Xent over the 2B rows of normalize(out1), normalize(out2) [B, D] each: per row, -log of
 * exp(<o1_i, o2_i>/T) over the sum of exp(<o_r, o_s>/T) for the 2B - 1 rows s != r; the mean over rows. Written as
 * mean(log(denominator) - positive / T), the same value without forming the ratio.
 */
export function ntXent(out1: Tensor, out2: Tensor, temperature: number): Tensor {
  const [b] = out1.shape as [number];
  if (out2.shape[0] !== b || out1.rank !== 2) {
    throw new Error(`texad: Mean-Shift ntXent needs two views [B, D] of the same shape, got [${out1.shape}] and [${out2.shape}]`);
  }
  const o1 = l2Normalize(out1, 1);
  const o2 = l2Normalize(out2, 1);
  const rows = concat([o1, o2], 0);
  const sim = exp(scale(matmul(rows, rows, { transB: true }), 1 / temperature));
  // The official masked_select of the off-diagonal entries, as a product with a constant mask.
  const offDiagonal = new Float32Array(4 * b * b).fill(1);
  for (let i = 0; i < 2 * b; i++) offDiagonal[i * 2 * b + i] = 0;
  const denominator = sum(mul(sim, out1.rt.tensor(offDiagonal, [2 * b, 2 * b])), [1]);
  const positive = scale(sum(mul(o1, o2), [1]), 1 / temperature);
  return mean(sub(log(denominator), concat([positive, positive], 0)));
}

/**
 * The loss of one batch: features z1, z2 [B, D] (normalised model outputs of two views) shifted by the centre
 * [1, D], NT-Xent at `temperature`; with `angular`, plus mean ||z1 - c||^2 + mean ||z2 - c||^2.
 */
export function meanShiftLoss(z1: Tensor, z2: Tensor, center: Tensor, temperature: number, angular: boolean): Tensor {
  const s1 = sub(z1, center);
  const s2 = sub(z2, center);
  const loss = ntXent(s1, s2, temperature);
  if (!angular) return loss;
  return add(loss, add(mean(sum(square(s1), [1])), mean(sum(square(s2), [1]))));
}

/**
 * One official training step (run_epoch): features of the two views [B, 3, S, S], the loss, backward into the
 * network's trainable parameters, the optimizer step, gradients cleared. Returns the loss (owned by the caller).
 */
export function meanShiftStep(net: Backbone, x1: Tensor, x2: Tensor, center: Tensor, optimizer: Optimizer,
  opts: { temperature: number; angular: boolean }): Tensor {
  const loss = meanShiftLoss(features(net, x1), features(net, x2), center, opts.temperature, opts.angular);
  backward(loss);
  optimizer.step();
  optimizer.zeroGrad();
  return loss;
}
