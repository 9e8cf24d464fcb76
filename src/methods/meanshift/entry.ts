// Mean-Shift's registry entry: presets, resources and the tiny test configuration.
import type { MethodEntry } from '../index.ts';
import { weightsOf } from '../resources.ts';
import { PRESETS, type MeanShiftConfig } from './config.ts';
import { MeanShift } from './index.ts';
import { backboneOf } from './model.ts';

export const MEANSHIFT: MethodEntry<MeanShiftConfig> = {
  description: 'Mean-Shifted Contrastive Loss (Reiss & Hoshen, AAAI 2023): contrastive ResNet fine-tuning, kNN image scores',
  presets: PRESETS,
  unit: 'epochs',
  // The official code trains on all good images and selects nothing on held-out data.
  validation: false,
  // Image-level only: the official method has no anomaly map.
  pixelMaps: false,
  resources: (config) => {
    const { name } = backboneOf(config);
    return { backbone: { kind: 'weights', name, purpose: `Mean-Shift's ${name}, fine-tuned from these weights` } };
  },
  create: (rt, { config, seed, resources }) => MeanShift.create(rt, { ...config, seed }, weightsOf(resources, 'backbone')),
  tinyConfig: { backbone: 18, resize: 32, imagesize: 32, batch_size: 4, epochs: 2 },
};
