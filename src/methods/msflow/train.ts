// MSFlow's training step (cool-xuan/msflow train.py train_meta_epoch): negative log-likelihood of the latents,
// backward, global gradient-norm clipping, Adam step. Nothing is read back in a step: a non-finite loss makes the
// gradients non-finite, which the optimizer's kernel refuses element by element (those parameters keep their values)
// and flags on the device; fit() reads the last loss and the flags once per epoch (checkEpoch) and stops there.
import { backward } from '../../runtime/autograd.ts';
import { clipGradNorm, type Optimizer } from '../../runtime/optim.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { NamedTensor } from '../../nn/layers.ts';
import { nllLoss, type MSFlowModel } from './model.ts';

/** Where a training run stands: steps taken and the last finite loss read (and its step), for the divergence message. */
export interface StepCounter {
  step: number;
  lastFinite: number;
  lastFiniteStep: number;
}

/** One optimizer step on a batch of per-scale features and conditions; returns the loss, not read back. */
export function trainStep(model: MSFlowModel, feats: readonly Tensor[], conds: readonly Tensor[],
  params: readonly NamedTensor[], optimizer: Optimizer, maxGradNorm: number, counter: StepCounter): Tensor {
  const { out, logdet } = model.forward(feats, conds);
  const loss = nllLoss(out, logdet);
  backward(loss);
  clipGradNorm(params, maxGradNorm);
  optimizer.step();
  optimizer.zeroGrad();
  counter.step++;
  return loss;
}

/**
 * The end of an epoch: reads its last loss and the optimizer's non-finite flags; throws when either shows a
 * diverged flow, naming the steps (the optimizer's own message names the first bad step per parameter).
 */
export async function checkEpoch(loss: Tensor | null, optimizer: Optimizer, counter: StepCounter): Promise<number> {
  const value = loss ? (await loss.read())[0]! : NaN;
  let flags = '';
  try {
    await optimizer.checkFinite();
  } catch (e) {
    flags = ` ${(e as Error).message}`;
  }
  if (flags || (loss && !Number.isFinite(value))) {
    throw new Error(`texad: MSFlow training diverged: loss ${value} at step ${counter.step} (last finite loss ` +
      `${counter.lastFinite} at step ${counter.lastFiniteStep}); a non-finite gradient leaves its parameters unchanged ` +
      `and the optimizer state is discarded. Lower lr or check the features for NaN/Inf.${flags}`);
  }
  if (loss) {
    counter.lastFinite = value;
    counter.lastFiniteStep = counter.step;
  }
  return value;
}
