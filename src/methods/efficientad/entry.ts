// EfficientAD's registry entry: presets, resources (the teacher, optional penalty images) and the tiny test
// configuration.
import type { MethodEntry } from '../index.ts';
import { imagesOf, weightsOf, type ImagesResource } from '../resources.ts';
import { PRESETS, pdnName, type EfficientAdConfig } from './config.ts';
import { EfficientAd } from './index.ts';

const PENALTY: ImagesResource = {
  kind: 'images',
  name: 'imagenet',
  purpose: "EfficientAD's penalty-loss images (ImageNet, as nelson1425's --imagenet_train_path)",
  howTo: 'any folder of natural images, e.g. ImageNet train or Imagenette (https://github.com/fastai/imagenette)',
  // nelson1425's default (--imagenet_train_path none) trains without the penalty.
  optional: true,
};

export const EFFICIENTAD: MethodEntry<EfficientAdConfig> = {
  description: 'EfficientAD (Batzner et al., WACV 2024): PDN teacher, student and autoencoder, quantile-normalised maps',
  presets: PRESETS,
  unit: 'iterations',
  // The map quantiles are measured on held-out good images.
  validation: true,
  pixelMaps: true,
  resources: (config) => {
    const arch = pdnName(config.model_size);
    return {
      teacher: {
        kind: 'weights', name: arch, purpose: `EfficientAD's distilled ${arch} teacher (${config.out_channels} outputs)`,
        howTo: `python3 tools/export-weights.py ${arch} --checkpoint teacher_${config.model_size}.pth --out <dir>/${arch}.safetensors ` +
          '(nelson1425/EfficientAD or anomalib released teachers; src/methods/efficientad/README.md)',
      },
      penalty: PENALTY,
    };
  },
  create: (rt, { config, seed, resources }) => {
    const penalty = imagesOf(resources, 'penalty', PENALTY);
    return EfficientAd.create(rt, { config: { ...config, seed }, teacher: weightsOf(resources, 'teacher'), ...(penalty ? { penalty } : {}) });
  },
  // 64 px is the smallest image the autoencoder takes; 2 steps give the conformance test two checkpoint intervals.
  tinyConfig: { image_size: 64, train_steps: 2 },
};
