// EfficientAD's configuration and bad-input handling: teacher files of the wrong size or width are refused naming
// both, image sizes the autoencoder cannot take are refused, the autoencoder has the official sizes at 256 px; the
// training loop reads nothing back between logging points.
// (Training, restore, determinism and resume: test/methods.test.ts; PyTorch parity: test/efficientad-parity.test.ts.)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planResources } from '../src/cli/resources.ts';
import { METHODS } from '../src/methods/index.ts';
import { pdnManifest } from '../src/backbones/pdn.ts';
import { encodeSafetensors } from '../src/io/safetensors.ts';
import { imagesInMemory } from '../src/methods/detector.ts';
import { EfficientAd } from '../src/methods/efficientad/index.ts';
import { decoderSizes } from '../src/methods/efficientad/model.ts';
import { gpuRuntime } from './helpers/gpu.ts';

/** A teacher checkpoint of `arch` with `out` outputs (zeros), optionally labelled with texad.arch metadata. */
function teacherFile(arch: 'pdn_small' | 'pdn_medium', out: number, label: boolean): Uint8Array {
  const tensors = Object.fromEntries(pdnManifest(arch, out).params.map((p) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    return [p.key, { shape: [...p.shape], data: new Float32Array(n) }];
  }));
  return encodeSafetensors(tensors, label ? { 'texad.arch': arch } : {});
}

describe('EfficientAD configuration and inputs', () => {
  it('has the official autoencoder sizes at 256 px and scales them with image_size', () => {
    expect(decoderSizes(256)).toEqual({ resizes: [3, 8, 15, 32, 63, 127], output: 56 });
    expect(decoderSizes(128)).toEqual({ resizes: [1, 4, 7, 16, 31, 63], output: 24 });
    expect(() => decoderSizes(100)).toThrow(/image_size must be a multiple of 32 and at least 64.*got 100/);
  });

  it('refuses a teacher of the other model size, naming both', async () => {
    const rt = await gpuRuntime();
    await expect(EfficientAd.create(rt, { preset: 'quick', config: { model_size: 'medium' }, teacher: teacherFile('pdn_small', 384, true) }))
      .rejects.toThrow(/model_size 'medium' needs a pdn_medium teacher.*holds pdn_small weights, not pdn_medium/);
  });

  it('refuses a teacher with another output width, naming both shapes', async () => {
    const rt = await gpuRuntime();
    await expect(EfficientAd.create(rt, { preset: 'quick', teacher: teacherFile('pdn_small', 256, false) }))
      .rejects.toThrow(/pdn_small teacher with 384 outputs.*'conv4.weight' is \[256, 256, 4, 4\] in the file but \[384, 256, 4, 4\]/);
  });

  it('refuses an image size the autoencoder cannot take before building anything', async () => {
    const rt = await gpuRuntime();
    await expect(EfficientAd.create(rt, { preset: 'quick', config: { image_size: 48 } })).rejects.toThrow(/image_size.*got 48/);
  });

  it('--penalty-data: an empty folder stops before training; without it the penalty is off; other methods refuse it', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'texad-penalty-'));
    try {
      const efficientad = METHODS['efficientad']!;
      await expect(planResources(efficientad, 'quick', {}, { weights: 'random', folders: { penalty: empty } }))
        .rejects.toThrow(/penalty: .*no readable images in .*texad-penalty-/);
      const plan = await planResources(efficientad, 'quick', {}, { weights: 'random' });
      expect(plan.where).toEqual({ teacher: 'random' });
      await expect(planResources(METHODS['simplenet']!, 'quick', {}, { weights: 'random', folders: { penalty: empty } }))
        .rejects.toThrow(/simplenet \(quick\) has no image-folder resource 'penalty'/);
    } finally {
      await rm(empty, { recursive: true });
    }
  });
});

describe('EfficientAD training loop', () => {
  it('queues steps without readbacks: the loss and the non-finite flags are read every 10 steps and at the end', async () => {
    const rt = await gpuRuntime();
    const det = await EfficientAd.create(rt, { preset: 'quick', config: { image_size: 64, out_channels: 32, train_steps: 11 } });
    try {
      const image = (seed: number) => Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => 0.5 + 0.3 * Math.sin(i * 0.37 + seed));
      const marks: Array<[number, number]> = [];
      await det.fit(imagesInMemory([image(0), image(1), image(2)], 64), {
        onProgress: (p) => { if (p.phase === 'train') marks.push([p.done, rt.readbackCount]); },
      });
      expect(marks.map(([done]) => done)).toEqual([10, 11]);
      // Step 11 and the end of training: two readbacks (the loss, the optimizer's flags); the step itself reads
      // nothing (the former host-side quantile read once more per step). 11 steps: each costs seconds here.
      expect(marks[1]![1] - marks[0]![1]).toBe(2);
    } finally {
      det.dispose();
    }
  });
});
