// MSFlow's training step (cool-xuan/msflow train.py train_meta_epoch): negative log-likelihood of the latents,
// backward, global gradient-norm clipping, Adam step. A non-finite loss stops before the step, so the model keeps
// the last good parameters.
import { backward } from '../../runtime/autograd.ts';
import { clipGradNorm, type Optimizer } from '../../runtime/optim.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { NamedTensor } from '../../nn/layers.ts';
import { nllLoss, type MSFlowModel } from './model.ts';

/** Where a training run stands: steps taken and the last finite loss, for the divergence message. */
export interface StepCounter {
  step: number;
  lastFinite: number;
}

/**
 * One optimizer step on a batch of per-scale features and conditions; returns the loss (read back, so that a
 * diverging flow is caught before it updates anything).
 */
export async function trainStep(model: MSFlowModel, feats: readonly Tensor[], conds: readonly Tensor[],
  params: readonly NamedTensor[], optimizer: Optimizer, maxGradNorm: number, counter: StepCounter): Promise<number> {
  const { out, logdet } = model.forward(feats, conds);
  const loss = nllLoss(out, logdet);
  const value = (await loss.read())[0]!;
  if (!Number.isFinite(value)) {
    throw new Error(`texad: MSFlow training diverged: loss ${value} at step ${counter.step + 1} ` +
      `(last finite loss ${counter.lastFinite} at step ${counter.step}); the model keeps the parameters of step ` +
      `${counter.step}. Lower lr or check the features for NaN/Inf`);
  }
  backward(loss);
  clipGradNorm(params, maxGradNorm);
  optimizer.step();
  optimizer.zeroGrad();
  counter.step++;
  counter.lastFinite = value;
  return value;
}
