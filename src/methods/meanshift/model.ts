// Mean-Shift's network (official utils.Model): a torchvision ResNet with fc replaced by identity, so the output is
// the global-average-pooled layer4 feature, L2-normalised. ResNet152 trains layer3 and layer4 (official
// freeze_parameters); ResNet18 trains everything. BatchNorm stays in eval mode throughout (the official model is put
// in eval() and never back in train()): running statistics, with trainable affine parameters.
import { loadBackbone, type Backbone } from '../../backbones/index.ts';
import type { WeightsSource } from '../../backbones/weights.ts';
import { globalAvgPool } from '../../ops/pool.ts';
import { l2Normalize } from '../../ops/reduce.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { MeanShiftConfig } from './config.ts';

/** The torchvision network and the parts that train, for the official `--backbone` values. */
export function backboneOf(cfg: MeanShiftConfig): { name: 'resnet152' | 'resnet18'; trainable: true | string[] } {
  if (cfg.backbone === 152) return { name: 'resnet152', trainable: ['layer3', 'layer4'] };
  if (cfg.backbone === 18) return { name: 'resnet18', trainable: true };
  throw new Error(`texad: Mean-Shift backbone must be 152 or 18 (the official --backbone values), got ${String(cfg.backbone)}`);
}

/** Builds the network in eval mode; random weights (seed 0, the same for every method seed) when `weights` is 'random'. */
export async function loadMeanShiftNetwork(rt: Runtime, cfg: MeanShiftConfig, weights: WeightsSource): Promise<Backbone> {
  const { name, trainable } = backboneOf(cfg);
  const bb = await loadBackbone(rt, name, { weights, seed: 0, taps: ['layer4'], trainable });
  return bb.eval();
}

/** z = normalize(GAP(layer4(x))): images [N, 3, H, W] in [0, 1] -> [N, C]; records for backward when parts train. */
export function features(bb: Backbone, images: Tensor): Tensor {
  const map = bb.forward(images)['layer4']!;
  const [n, c] = map.shape as [number, number];
  return l2Normalize(globalAvgPool(map).reshape([n, c]), 1);
}
