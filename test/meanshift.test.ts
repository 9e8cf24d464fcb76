// Mean-Shift: one training step against PyTorch (tools/golden/meanshift.py: loss, gradients of layer3/layer4
// convs and BatchNorm affines, the SGD update), the augmentation ops against torchvision's functional versions,
// seeded views, the refusal of too few training images, and detection of an obvious defect on the tiny fit.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { initKey, loadBackbone } from '../src/backbones/index.ts';
import { imagesInMemory } from '../src/methods/detector.ts';
import { METHODS } from '../src/methods/index.ts';
import { adjust, augmentViews, drawViews, grayscale, hflip, resizedCrop } from '../src/methods/meanshift/augment.ts';
import { QUICK } from '../src/methods/meanshift/config.ts';
import { meanShiftStep } from '../src/methods/meanshift/train.ts';
import { expand } from '../src/ops/elementwise.ts';
import { pilGaussianBlur } from '../src/ops/filter.ts';
import { cpuUniform } from '../src/ops/random.ts';
import { SGD } from '../src/runtime/optim.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { seedResult } from '../src/report/results.ts';
import type { CategoryEvaluation, MetricSet } from '../src/eval/evaluate.ts';
import { fixtureWeights } from './helpers/fixture-weights.ts';
import { withLimits } from './helpers/limits.ts';
import { assertClose, gpuRuntime, type GoldenArray } from './helpers/gpu.ts';

interface StepCase {
  angular: boolean; seed: number; batch: number; size: number; lr: number; weight_decay: number; loss: number;
  grad: Record<string, GoldenArray | number>; updated: Record<string, GoldenArray | number>;
}
interface Fixture {
  steps: StepCase[];
  augment: { image: GoldenArray; ties: GoldenArray; ops: Array<{ name: string; args: Record<string, unknown>; output: GoldenArray }> };
  pil_blur: { image: GoldenArray; radii: Array<{ radius: number; float: GoldenArray; pil: GoldenArray; pil_max_abs_diff: number }> };
}
const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/golden/meanshift.json', import.meta.url)), 'utf8')) as Fixture;

/** Sum of t * direction, the direction regenerated like tools/golden/backbones.py uniform('direction/<name>'). */
function along(values: Float32Array, seed: number, name: string): number {
  const d = cpuUniform(initKey(seed, `direction/${name}`), 0, values.length, -1, 1);
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]! * d[i]!;
  return s;
}

describe('Mean-Shift training step vs PyTorch (resnet18, layer3/layer4 trainable, BatchNorm in eval mode)', () => {
  for (const c of fixture.steps) {
    it(`loss, gradients and SGD update within 1e-4 relative (angular ${c.angular})`, async () => {
      const rt = await gpuRuntime();
      const net = await loadBackbone(rt, 'resnet18', { weights: fixtureWeights(c.seed), taps: ['layer4'], trainable: ['layer3', 'layer4'] });
      try {
        const params = net.trainable();
        expect(params.map((p) => p.name).sort()).toEqual(Object.keys(c.grad).sort());
        const shape = [c.batch, 3, c.size, c.size];
        const view = (name: string) => rt.tensor(cpuUniform(initKey(c.seed, name), 0, c.batch * 3 * c.size * c.size), shape);
        // Gradients are read between backward and the step: a probe optimizer with lr 0 keeps them for reading.
        const probe = { step: () => undefined, zeroGrad: () => undefined } as unknown as SGD;
        const center = rt.tensor(cpuUniform(initKey(c.seed, 'center'), 0, 512, -0.05, 0.05), [1, 512]);
        const loss = meanShiftStep(net, view('view1'), view('view2'), center, probe, { temperature: 0.25, angular: c.angular });
        assertClose(await loss.read(), [c.loss], 'loss');
        const sgd = new SGD(params, { lr: c.lr, weightDecay: c.weight_decay });
        for (const { name, tensor } of params) {
          const g = await tensor.grad!.read();
          const expected = c.grad[name]!;
          if (typeof expected === 'number') assertClose([along(g, c.seed, name)], [expected], `grad ${name} along its direction`);
          else assertClose(g, expected.data, `grad ${name}`);
        }
        sgd.step();
        for (const { name, tensor } of params) {
          const w = await tensor.read();
          const expected = c.updated[name]!;
          if (typeof expected === 'number') assertClose([along(w, c.seed, name)], [expected], `updated ${name} along its direction`);
          else assertClose(w, expected.data, `updated ${name}`);
        }
        sgd.dispose();
      } finally {
        net.dispose();
      }
    }, 300_000);
  }
});

describe('Mean-Shift augmentations vs torchvision.transforms.functional (fixed parameters)', () => {
  const { image, ties, ops } = fixture.augment;
  for (const op of ops) {
    it(`${op.name} ${JSON.stringify(op.args)}`, async () => {
      const rt = await gpuRuntime();
      await rt.tidyAsync(async () => {
        const x = op.name === 'hue_ties' ? rt.tensor(ties.data, ties.shape) : rt.tensor(image.data, image.shape);
        const [, h, w] = image.shape as [number, number, number];
        let y: Tensor;
        if (op.name === 'grayscale') y = expand(grayscale(x), [3, h, w]);
        else if (op.name === 'hflip') y = hflip(x);
        else if (op.name === 'resized_crop') y = resizedCrop(x, op.args['crop'] as [number, number, number, number], op.args['size'] as number);
        else if (op.name === 'hue_ties') y = adjust(x, 'hue', op.args['factor'] as number);
        else y = adjust(x, op.name as 'brightness' | 'contrast' | 'saturation' | 'hue', op.args['factor'] as number);
        expect(y.shape).toEqual(op.output.shape);
        assertClose(await y.read(), op.output.data, op.name, { rtol: 1e-5, atol: 1e-6 });
      });
    });
  }
});

describe('Mean-Shift blur vs PIL ImageFilter.GaussianBlur (8-bit image, 14 x 19)', () => {
  const { image, radii } = fixture.pil_blur;
  for (const c of radii) {
    it(`radius ${c.radius}: PIL's box-blur arithmetic in float32, within PIL's 8-bit rounding of its six passes`, async () => {
      const rt = await gpuRuntime();
      await rt.tidyAsync(async () => {
        const y = await pilGaussianBlur(rt.tensor(image.data, image.shape), c.radius).read();
        assertClose(y, c.float.data, `pilGaussianBlur ${c.radius}`, { rtol: 1e-5, atol: 1e-6 });
        // PIL rounds to 8 bits after each of its 6 passes: at most 6 x 0.5 / 255 apart (measured up to 2.96 / 255).
        expect(c.pil_max_abs_diff).toBeLessThanOrEqual(3 / 255);
        assertClose(y, c.pil.data, `pilGaussianBlur ${c.radius} vs PIL`, { rtol: 0, atol: 3 / 255 + 1e-6 });
      });
    });
  }
});

describe('Mean-Shift views', () => {
  it('draws torchvision-ranged parameters, the same for the same (seed, stream), others for another stream', () => {
    const a = drawViews(QUICK, 64, 200, 7, 3);
    expect(drawViews(QUICK, 64, 200, 7, 3)).toEqual(a);
    expect(drawViews(QUICK, 64, 200, 7, 4)).not.toEqual(a);
    for (const v of a) {
      const [top, left, h, w] = v.crop;
      expect(top + h).toBeLessThanOrEqual(64);
      expect(left + w).toBeLessThanOrEqual(64);
      // scale 0.2..1 of the area with aspect 3/4..4/3, up to rounding.
      expect(h * w).toBeGreaterThanOrEqual(0.2 * 64 * 64 - 2 * 64);
      for (const [op, f] of v.jitter) {
        if (op === 'hue') expect(Math.abs(f)).toBeLessThanOrEqual(0.1);
        else expect(f).toBeGreaterThanOrEqual(0.6), expect(f).toBeLessThanOrEqual(1.4);
      }
      if (v.blur > 0) expect(v.blur).toBeGreaterThanOrEqual(0.1), expect(v.blur).toBeLessThanOrEqual(2);
    }
    // Probabilities near their settings over 200 draws: jitter 0.8, grayscale 0.2, blur 0.5, flip 0.5.
    const rate = (f: (v: (typeof a)[number]) => boolean) => a.filter(f).length / a.length;
    expect(rate((v) => v.jitter.length > 0)).toBeCloseTo(0.8, 1);
    expect(rate((v) => v.grayscale)).toBeCloseTo(0.2, 1);
    expect(rate((v) => v.blur > 0)).toBeCloseTo(0.5, 1);
    expect(rate((v) => v.flip)).toBeCloseTo(0.5, 1);
  });

  it('augments a batch identically for the same parameters, into the requested size', async () => {
    const rt = await gpuRuntime();
    await rt.tidyAsync(async () => {
      const images = rt.tensor(cpuUniform(3, 0, 2 * 3 * 20 * 20), [2, 3, 20, 20]);
      const params = drawViews(QUICK, 20, 2, 1, 0);
      const a = await augmentViews(images, params, 16).read();
      expect(a.length).toBe(2 * 3 * 16 * 16);
      expect(await augmentViews(images, params, 16).read()).toEqual(a);
      expect(a.every((v) => v >= 0 && v <= 1)).toBe(true);
    });
  });
});

/** A seeded striped texture with mild noise, CHW RGB in [0, 1] (as in test/methods.test.ts). */
function texture(side: number, seed: number): Float32Array {
  const noise = cpuUniform(seed, 0, 3 * side * side);
  return Float32Array.from(noise, (u, i) => 0.5 + 0.15 * Math.sin((i % side) * 0.8 + Math.floor(i / (side * side))) + 0.05 * u);
}

describe('Mean-Shift detector', () => {
  it('scores an image with an obvious defect above defect-free images of the same texture (tiny fit)', async () => {
    const m = METHODS['meanshift']!;
    const det = await m.create(await gpuRuntime(), { preset: 'quick', seed: 0, config: m.tinyConfig });
    try {
      const side = det.inputSize;
      await det.fit(imagesInMemory(Array.from({ length: 6 }, (_, i) => texture(side, i)), side));
      const defect = texture(side, 101);
      for (let c = 0; c < 3; c++) for (let y = side / 4; y < side / 2; y++) for (let x = side / 4; x < side / 2; x++) defect[c * side * side + y * side + x] = 1;
      const images = new Float32Array(3 * 3 * side * side);
      images.set(texture(side, 100), 0);
      images.set(texture(side, 102), 3 * side * side);
      images.set(defect, 2 * 3 * side * side);
      const { scores } = await det.predict({ images, count: 3, height: side, width: side });
      expect(scores[2]!).toBeGreaterThan(Math.max(scores[0]!, scores[1]!));
    } finally {
      det.dispose();
    }
  }, 300_000);

  it('refuses a training batch over the device limits, naming the largest batch that fits, which then trains', async () => {
    const m = METHODS['meanshift']!;
    const rt = await gpuRuntime();
    // At 160 px a ResNet-18 stem output is 64 x 80 x 80 floats (1.6 MB) per image; a device that binds at most
    // ResNet-18's largest weight (a layer4 3x3 conv, 512 x 512 x 9 floats, 9.4 MB) takes 5 such images, not 6.
    const side = 160;
    const train = imagesInMemory(Array.from({ length: 6 }, (_, i) => texture(side, i)), side);
    const fitWith = async (batch: number): Promise<void> => {
      const config = { ...m.tinyConfig, resize: side, imagesize: side, batch_size: batch, epochs: 1 };
      const det = await m.create(rt, { preset: 'quick', seed: 0, config });
      try {
        await det.fit(train);
      } finally {
        det.dispose();
      }
    };
    await withLimits(rt, { maxStorageBufferBindingSize: 512 * 512 * 9 * 4 }, async () => {
      const refusal = await fitWith(6).then(() => 'trained', (e: Error) => e.message);
      expect(refusal).toMatch(/Mean-Shift training batch of 6 images at 160 px is over the device's maxStorageBufferBindingSize/);
      const advised = Number(/the largest batch that fits is (\d+)/.exec(refusal)?.[1]);
      expect(advised).toBeGreaterThanOrEqual(2);
      expect(advised).toBeLessThan(6);
      await fitWith(advised);
    });
  }, 600_000);

  it('refuses fewer than 3 training images with the reason', async () => {
    const m = METHODS['meanshift']!;
    const det = await m.create(await gpuRuntime(), { preset: 'quick', seed: 0, config: m.tinyConfig });
    try {
      const two = imagesInMemory([new Float32Array(3 * 32 * 32), new Float32Array(3 * 32 * 32)], 32);
      await expect(det.fit(two)).rejects.toThrow('Mean-Shift needs at least 3 training images (each is scored by its 2 nearest');
    } finally {
      det.dispose();
    }
  });
});

// The '–' cells of the paper tables for such a method are checked in test/run-shards.test.ts.
describe('results of a method without anomaly maps (pixelMaps: false)', () => {
  it('blanks the pixel metrics, keeps the image metrics', () => {
    const metrics: MetricSet = {
      imageAUROC: 0.75, pixelAUROC: 0.5, aupro: 0.3, imageF1max: 0.6, pixelF1max: 0.1, imageAP: 0.7, pixelAP: 0.1, images: 4, defective: 2,
    };
    const ev = { category: 'cloth', metrics, perSubclass: { a: metrics }, mapRange: [0, 1], heatmaps: [], seconds: { predict: 1 }, testImages: 4 } as CategoryEvaluation;
    const seed = seedResult(0, ev, 1, 0.5, false);
    expect([seed.metrics.pixelAUROC, seed.metrics.aupro, seed.perSubclass['a']!.pixelAP]).toEqual([NaN, NaN, NaN]);
    expect(seed.metrics.imageAUROC).toBe(0.75);
  });
});
