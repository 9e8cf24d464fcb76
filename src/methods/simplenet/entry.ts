// SimpleNet's registry entry: presets, resources and the tiny test configuration.
import type { MethodEntry } from '../index.ts';
import { weightsOf } from '../resources.ts';
import { PRESETS, type SimpleNetConfig } from './config.ts';
import { SimpleNet } from './index.ts';

export const SIMPLENET: MethodEntry<SimpleNetConfig> = {
  description: 'SimpleNet (Liu et al., CVPR 2023): frozen features, feature-space Gaussian anomalies, discriminator',
  presets: PRESETS,
  unit: 'epochs',
  // The official code trains on all good images and selects nothing on held-out data.
  validation: false,
  pixelMaps: true,
  resources: (config) => ({
    backbone: { kind: 'weights', name: config.backbone, purpose: `SimpleNet's frozen ${config.backbone} feature extractor` },
  }),
  create: (rt, { config, seed, resources }) => SimpleNet.create(rt, { config: { ...config, seed }, weights: weightsOf(resources, 'backbone') }),
  tinyConfig: {
    backbone: 'resnet18', resize: 64, imagesize: 64, pretrain_embed_dimension: 32, target_embed_dimension: 32,
    dsc_hidden: 16, meta_epochs: 1, gan_epochs: 2,
  },
};
