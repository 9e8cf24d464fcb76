// The frozen feature extractor of a frozen-feature method (SimpleNet, MSFlow): a weights file, or seeded random
// weights drawn the method's documented way.
import { loadBackbone, type Backbone, type BackboneName } from '../../backbones/index.ts';
import { randomWeights, type RandomInit, type WeightsSource } from '../../backbones/weights.ts';
import type { Runtime } from '../../runtime/runtime.ts';

/**
 * Loads `name` with `taps`; 'random' weights follow `randomInit` and seed 0, so they stand in for fixed ImageNet
 * weights identically for every method seed. A weights file passes through untouched.
 */
export function loadFrozenBackbone(rt: Runtime, name: BackboneName, weights: WeightsSource, randomInit: RandomInit,
  taps: readonly string[]): Promise<Backbone> {
  return loadBackbone(rt, name, { weights: weights === 'random' ? randomWeights(0, randomInit) : weights, seed: 0, taps });
}
