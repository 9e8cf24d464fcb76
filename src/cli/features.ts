import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from './main.ts';
import { boolFlag, numberFlag, parseArgs, stringFlag, UsageError } from './args.ts';
import {
  BACKBONES, RESNET_TAPS, WEIGHTS_ENV, conventionalWeightsPath, loadBackbone, type BackboneName,
} from '../backbones/index.ts';
import { loadImage } from '../data/loader.ts';
import { writeNpy } from '../io/npy.ts';
import { Runtime } from '../runtime/runtime.ts';

/** `feats.npy` + `layer2` -> `feats_layer2.npy`; a path without the extension is used as the prefix. */
export function tapPath(out: string, tap: string): string {
  return `${out.replace(/\.npy$/i, '')}_${tap}.npy`;
}

export const command: Command = {
  summary: 'write a backbone\'s feature maps for one image as .npy (parity checks against PyTorch)',
  help: `usage: texad features --backbone NAME --image IMG --out OUT.npy [--layers layer2,layer3] [--size S]
                      [--weights FILE.safetensors | --weights random [--seed N]] [--weights-dir DIR] [--no-normalize]

Loads IMG as RGB in [0, 1], resizes it to S x S (bilinear, antialiased when shrinking, like torchvision's Resize on
a PIL image), applies the ImageNet mean/std, runs the backbone and writes every requested output as float32 .npy of
shape [1, C, H, W]: OUT.npy with --layers layer2,layer3 gives OUT_layer2.npy and OUT_layer3.npy.
  --backbone NAME   ${BACKBONES.join(', ')}
  --layers LIST     ResNets: any of ${RESNET_TAPS.join(', ')} (default all); PDNs: out; MobileNetV2: Keras layer
                    names, e.g. block_6_expand_relu,block_13_expand_relu (the default)
  --size S          input side in pixels (default: the image's own size)
  --weights FILE    a .safetensors file written by tools/export-weights.py or texad weights, or 'random' for
                    seeded random init
  --weights-dir DIR folder holding NAME.safetensors (default: $${WEIGHTS_ENV}); used when --weights is absent
  --seed N          random-init seed (default 0)
  --no-normalize    feed the [0, 1] pixels without the ImageNet mean/std (MobileNetV2: without x * 2 - 1)`,
  async run(argv) {
    const args = parseArgs(argv);
    const known = new Set(['backbone', 'image', 'out', 'layers', 'size', 'weights', 'weights-dir', 'seed',
      'no-normalize']);
    for (const flag of args.flags.keys()) if (!known.has(flag)) throw new UsageError(`unknown option --${flag}`);
    if (args.positional.length > 0) throw new UsageError(`unexpected argument '${args.positional[0]}'`);
    const backbone = stringFlag(args, 'backbone') as BackboneName;
    if (!BACKBONES.includes(backbone)) {
      throw new UsageError(`unknown backbone '${backbone}'; choose from ${BACKBONES.join(', ')}`);
    }
    const imagePath = stringFlag(args, 'image');
    const out = stringFlag(args, 'out');
    const layers = args.flags.has('layers')
      ? stringFlag(args, 'layers').split(',').map((l) => l.trim()).filter(Boolean)
      : undefined;
    const size = args.flags.has('size') ? numberFlag(args, 'size') : undefined;
    if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
      throw new UsageError(`--size expects a positive integer, got ${size}`);
    }
    const seed = numberFlag(args, 'seed', 0);
    const weights = resolveWeights(backbone, args.flags.has('weights') ? stringFlag(args, 'weights') : undefined,
      args.flags.has('weights-dir') ? stringFlag(args, 'weights-dir') : undefined);

    const image = await loadImage(imagePath, size === undefined ? {} : { size });
    const rt = await Runtime.create();
    try {
      const normalize = !boolFlag(args, 'no-normalize');
      const bb = await loadBackbone(rt, backbone, { weights, seed, taps: layers, normalize });
      try {
        const taps = await rt.tidyAsync(async () => {
          const outputs = bb.forward(rt.tensor(image.data, [1, 3, image.height, image.width]));
          const read: Array<[string, Float32Array, readonly number[]]> = [];
          for (const tap of bb.taps) read.push([tap, await outputs[tap]!.read(), outputs[tap]!.shape]);
          return read;
        });
        for (const [tap, data, shape] of taps) {
          const path = tapPath(out, tap);
          writeFileSync(path, writeNpy(data, shape));
          console.log(`${path}  ${tap} [${shape.join(', ')}]`);
        }
      } finally {
        bb.dispose();
      }
    } finally {
      await rt.destroy();
    }
    return 0;
  },
};

/** --weights, else NAME.safetensors in --weights-dir or $TEXAD_WEIGHTS; a usage error says how to get a file. */
function resolveWeights(backbone: string, weights: string | undefined, dir: string | undefined): string {
  if (weights !== undefined) return weights;
  const path = conventionalWeightsPath(backbone, dir);
  if (path !== undefined && existsSync(path)) return path;
  const looked = path === undefined ? `--weights-dir and $${WEIGHTS_ENV} are unset` : `${path} does not exist`;
  throw new UsageError(
    `no weights for ${backbone} (${looked}). Pass --weights FILE.safetensors, or --weights random for seeded random ` +
      `init; make the file with: python3 tools/export-weights.py ${backbone} --out ${backbone}.safetensors`,
  );
}
