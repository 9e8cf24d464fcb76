import { describe, expect, it } from 'vitest';
import {
  applyLut, autocontrast, blendAnomaly, brightness, equalize, gammaLut, hueSaturation, invertLut, posterizeLut,
  rotate, sharpen, solarizeLut,
} from '../src/ops/augment.ts';
import { perlinNoise, randomPerlinNoise } from '../src/ops/perlin.ts';
import { GpuRng } from '../src/ops/random.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { assertClose, gpuRuntime, loadGolden, type GoldenArray } from './helpers/gpu.ts';

const up = (t: { rt: Tensor['rt'] }, a: GoldenArray) => t.rt.tensor(a.data, a.shape);

describe('perlin: DRAEM perlin.py with fixed gradients (NumPy golden)', () => {
  for (const c of loadGolden('perlin')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await rt.tidyAsync(async () => {
        const res = (c.args.res as number[][]).map(([a, b]) => [a!, b!] as const);
        const y = perlinNoise(up({ rt }, c.inputs.angles!), res, c.args.size as [number, number]);
        expect(y.shape).toEqual(c.output.shape);
        assertClose(await y.read(), c.output.data, c.name, { rtol: 1e-4, atol: 2e-5 });
      });
    });
  }

  it('random angles are seeded: same seed same noise, another seed other noise, range of perlin.py', async () => {
    const rt = await gpuRuntime();
    await rt.tidyAsync(async () => {
      const draw = (seed: number) => randomPerlinNoise(new GpuRng(rt, seed), [[4, 8], [32, 1]], [64, 64]).read();
      const [a, b, c] = [await draw(5), await draw(5), await draw(6)];
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
      const max = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      // |noise| <= sqrt(2) * max |grad . offset| <= sqrt(2) * sqrt(2) / 2 * ... : bounded by 1 in practice.
      expect(max).toBeGreaterThan(0.3);
      expect(max).toBeLessThanOrEqual(1.5);
    });
  });

  it('names a lattice that does not divide the size', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const angles = rt.tensor(new Float32Array(2 * 20), [2, 20]);
      expect(() => perlinNoise(angles, [[1, 1], [3, 2]], [32, 32])).toThrow(/sample 1 has lattice \[3, 2\].*dividing the size/);
      expect(() => perlinNoise(angles, [[4, 4], [1, 1]], [32, 32])).toThrow(/angles must be \[2, >= 25\]/);
    });
  });
});

function lutFor(kind: string, value: number): Float32Array {
  if (kind === 'gamma') return gammaLut(value);
  if (kind === 'solarize') return solarizeLut(value);
  if (kind === 'posterize') return posterizeLut(value);
  return invertLut();
}

type Op = (x: Tensor, a: Record<string, unknown>) => Tensor;
const ops: Record<string, Op> = {
  sharpen: (x, a) => sharpen(x, a.factor as Array<number | null>),
  autocontrast: (x, a) => autocontrast(x, a.cutoff as Array<number | null>),
  equalize: (x, a) => equalize(x, a.on as boolean[]),
  lut: (x, a) => {
    const one = lutFor(a.kind as string, a.value as number);
    const tables = new Float32Array(x.shape[0]! * x.shape[1]! * 256);
    for (let k = 0; k < tables.length / 256; k++) tables.set(one, k * 256);
    return applyLut(x, tables);
  },
  brightness: (x, a) => brightness(x, a.params as Array<{ mul: number; add: number } | null>),
  hueSaturation: (x, a) => hueSaturation(x, a.params as Array<{ hue: number; saturation: number } | null>),
  rotate: (x, a) => rotate(x, a.degrees as Array<number | null>, { round: a.round as boolean }),
};

describe('augment: colour ops against PIL / the imgaug formulas, rotation, blend', () => {
  for (const c of loadGolden('augment')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await rt.tidyAsync(async () => {
        if (c.op === 'blend') {
          const beta = c.args.beta as Array<number | null>;
          const { augmented, mask } = blendAnomaly(up({ rt }, c.inputs.image!), up({ rt }, c.inputs.source!), up({ rt }, c.inputs.noise!), beta);
          assertClose(await augmented.read(), c.output.data, `${c.name} augmented`);
          assertClose(await mask.read(), (c as unknown as { mask: GoldenArray }).mask.data, `${c.name} mask`);
          return;
        }
        const y = ops[c.op]!(up({ rt }, c.inputs.x!), c.args);
        const got = await y.read();
        // Integer-valued outputs: exact for the table ops, PIL's sharpness and equalize; one grey level where the
        // kernel's f32 lands on the other side of a rounding boundary than the golden's float64 (autocontrast's
        // scale, the colour-space conversions, the rounded rotation).
        const offByOne = ['autocontrast', 'rotate', 'brightness', 'hueSaturation'].includes(c.op);
        const tol = c.op === 'rotate' && !c.args.round ? { rtol: 1e-5, atol: 1e-3 } : { rtol: 0, atol: offByOne ? 1 : 0 };
        assertClose(got, c.output.data, c.name, tol);
      });
    });
  }

  it('names a batch whose per-sample arguments do not match', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
      expect(() => sharpen(x, [1])).toThrow(/sharpen x\[2, 3, 4, 4\]: expected \[1, C, H, W\]/);
      expect(() => brightness(x.reshape([2, 1, 12, 4]), [null, null])).toThrow(/expected \[2, 3, H, W\]/);
      expect(() => autocontrast(x, [60, null])).toThrow(/sample 0 has cutoff 60/);
      expect(() => posterizeLut(0)).toThrow(/bits must be an integer in 1..8/);
    });
  });
});
