// The weights of the backbone parity fixtures (tools/golden/backbones.py), regenerated from (seed, tensor name):
// shared by the backbone and Mean-Shift parity tests.
import { initKey, randomWeights, type WeightStore } from '../../src/backbones/index.ts';
import type { RandomInit } from '../../src/backbones/weights.ts';
import { cpuUniform } from '../../src/ops/random.ts';
import { shapeSize } from '../../src/runtime/tensor.ts';

/** BatchNorm ranges of the fixtures (BN_RANGES in tools/golden/backbones.py). */
export const BN_RANGES: Record<string, [number, number]> = {
  weight: [0.5, 1.5], bias: [-0.2, 0.2], running_mean: [-0.2, 0.2], running_var: [0.5, 1.5],
};

/** The fixtures' weights: random-init convs, BatchNorm statistics drawn uniformly from BN_RANGES. */
export function fixtureWeights(seed: number, init: RandomInit = 'torchvision'): WeightStore {
  const random = randomWeights(seed, init);
  return {
    ...random,
    read: async (rt, p) => {
      const field = p.key.slice(p.key.lastIndexOf('.') + 1);
      const isBn = p.init.kind === 'constant';
      if (!isBn) return random.read(rt, p);
      const [lo, hi] = BN_RANGES[field]!;
      return cpuUniform(initKey(seed, p.key), 0, shapeSize(p.shape), lo, hi);
    },
  };
}
