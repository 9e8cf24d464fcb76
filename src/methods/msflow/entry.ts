// MSFlow's registry entry: presets, resources and the tiny test configuration.
import type { MethodEntry } from '../index.ts';
import { weightsOf } from '../resources.ts';
import { PRESETS, type MSFlowConfig } from './config.ts';
import { MSFlow } from './index.ts';

export const MSFLOW: MethodEntry<MSFlowConfig> = {
  description: 'MSFlow (Zhou et al., TNNLS 2024): multi-scale parallel normalising flows + fusion flow on frozen features',
  presets: PRESETS,
  pixelMaps: true,
  unit: 'epochs',
  // The official code trains on all good images (it selects checkpoints on the test set, which texad does not).
  validation: false,
  resources: (config) => ({
    backbone: { kind: 'weights', name: config.backbone_arch, purpose: `MSFlow's frozen ${config.backbone_arch} feature extractor` },
  }),
  create: (rt, { config, seed, resources }) => MSFlow.create(rt, { config: { ...config, seed }, weights: weightsOf(resources, 'backbone') }),
  tinyConfig: { backbone_arch: 'resnet18', input_size: 64, parallel_blocks: [1, 1, 1], c_conds: [8, 8, 8], meta_epochs: 1, sub_epochs: 2, batch_size: 3 },
};
