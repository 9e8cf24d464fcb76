// DRAEM's registry entry: presets, the optional anomaly-source texture folder and the tiny test configuration.
import type { MethodEntry } from '../index.ts';
import { imagesOf, type ImagesResource } from '../resources.ts';
import { PRESETS, type DraemConfig } from './config.ts';
import { Draem } from './index.ts';

/** The anomaly-source textures: the paper uses DTD; without it, seeded procedural textures (README "DRAEM"). */
export const TEXTURES: ImagesResource = {
  kind: 'images',
  name: 'dtd',
  purpose: "DRAEM's anomaly-source textures (the paper: the Describable Textures Dataset)",
  howTo: 'download https://www.robots.ox.ac.uk/~vgg/data/dtd/ (dtd-r1.0.1.tar.gz) and put its images/ folders under ' +
    '<dir>/dtd/ (any folder of texture images works); without it DRAEM uses built-in procedural textures',
  optional: true,
};

export const DRAEM: MethodEntry<DraemConfig> = {
  description: 'DRAEM (Zavrtanik et al., ICCV 2021): reconstructive + discriminative U-Nets trained from scratch on synthetic anomalies',
  presets: PRESETS,
  pixelMaps: true,
  unit: 'epochs',
  // train_DRAEM.py trains on all good images and selects nothing on held-out data.
  validation: false,
  resources: () => ({ textures: TEXTURES }),
  create: (rt, { config, seed, resources }) => {
    const images = imagesOf(resources, 'textures', TEXTURES);
    return Draem.create(rt, { config: { ...config, seed }, ...(images ? { anomalySource: { images, label: 'dtd' } } : {}) });
  },
  tinyConfig: { img_size: 32, base_width: 2, base_channels: 2, epochs: 2, bs: 4 },
};
