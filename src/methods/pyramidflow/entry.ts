// PyramidFlow's registry entry: presets, resources and the tiny test configuration.
import type { MethodEntry } from '../index.ts';
import { weightsOf, type ResourceSpecs } from '../resources.ts';
import { PRESETS, type PyramidFlowConfig } from './config.ts';
import { PyramidFlow } from './index.ts';

export const PYRAMIDFLOW: MethodEntry<PyramidFlowConfig> = {
  description: 'PyramidFlow (Lei et al., CVPR 2023): Laplacian pyramid normalizing flow, Fourier latent-template loss',
  presets: PRESETS,
  unit: 'epochs',
  // The official code computes its template on the training images and selects nothing on held-out data.
  validation: false,
  // Anomaly maps at the input size (pixel metrics are meaningful).
  pixelMaps: true,
  // The encoder-free variant needs no weights.
  resources: (config): ResourceSpecs => (config.encoder === 'resnet18'
    ? { backbone: { kind: 'weights', name: 'resnet18', purpose: "PyramidFlow's frozen ResNet18 stem + layer1 encoder" } }
    : {}),
  create: (rt, { config, seed, resources }) => PyramidFlow.create(rt, { config: { ...config, seed }, weights: weightsOf(resources, 'backbone') }),
  tinyConfig: { x_size: 32, numChannel: 4, kernelSize: 3, numLayer: 3, numStack: 1, epochs: 2 },
};
