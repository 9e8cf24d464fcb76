import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inceptionManifest, loadBackbone, memoryWeights, mobilenetTaps, type BackboneName } from '../src/backbones/index.ts';
import { Rng } from '../src/data/random.ts';
import { readTfjsModelFile } from '../src/io/tfjs.ts';
import { assertClose, gpuRuntime } from './helpers/gpu.ts';

interface ParityCase {
  name: string;
  arch: BackboneName;
  /** A TF.js model file holding the weights, or: */
  model?: string;
  /** weights drawn by Rng.derive(seed, name), uniform in ranges[name], as tools/tfjs-parity.mjs drew them. */
  random?: { seed: number; ranges: Record<string, [number, number]> };
  size: number;
  /** The 8-bit image, NHWC; fed as bytes / 255. */
  bytes: number[];
  outputs: Record<string, { shape: number[]; data: number[] }>;
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/tfjs/keras_parity.json', import.meta.url), 'utf8')) as {
  cases: ParityCase[];
};

/** The case's weights under their Keras names. */
async function caseWeights(c: ParityCase): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  if (c.model) return (await readTfjsModelFile(c.model)).weights;
  const { seed, ranges } = c.random!;
  const shapes = new Map(inceptionManifest().params.map((p) => [p.key, p.shape]));
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, [lo, hi]] of Object.entries(ranges)) {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`${c.name}: ${name} is not an inception_v3 tensor`);
    const r = Rng.derive(seed, name);
    out.set(name, { shape: [...shape], data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.range(lo, hi)) });
  }
  return out;
}

/** NHWC -> NCHW. */
function toNchw(data: ArrayLike<number>, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n!; b++) for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) for (let k = 0; k < c!; k++) {
    out[((b * c! + k) * h! + y) * w! + x] = data[((b * h! + y) * w! + x) * c! + k]!;
  }
  return out;
}

describe('Keras backbones: parity with a TF.js forward pass (tools/tfjs-parity.mjs)', () => {
  for (const c of fixture.cases) {
    it(`${c.name}: taps ${Object.keys(c.outputs).join(', ')} within 1e-3`, async () => {
      const rt = await gpuRuntime();
      const taps = Object.keys(c.outputs);
      const weights = memoryWeights(c.model ?? c.name, await caseWeights(c));
      const bb = await loadBackbone(rt, c.arch, { weights, taps, normalize: false });
      try {
        await rt.tidyAsync(async () => {
          const pixels = Float32Array.from(c.bytes, (q) => q / 255);
          const images = rt.tensor(toNchw(pixels, [1, c.size, c.size, 3]), [1, 3, c.size, c.size]);
          const out = bb.forward(images);
          for (const tap of taps) {
            const e = c.outputs[tap]!;
            const [, h, w, ch] = e.shape as [number, number, number, number];
            expect(out[tap]!.shape).toEqual([1, ch, h, w]);
            expect(bb.outputShape(tap, [c.size, c.size])).toEqual([ch, h, w]);
            const expected = toNchw(e.data, e.shape);
            const peak = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
            expect(peak).toBeGreaterThan(0);
            assertClose(await out[tap]!.read(), expected, `${c.name} ${tap}`, { rtol: 1e-3, atol: 1e-3 * peak });
          }
        });
      } finally {
        bb.dispose();
      }
    });
  }
});

describe('mobilenet_v2: taps and bad input', () => {
  it('lists Keras layer names as taps and refuses unknown ones by name', async () => {
    const taps = mobilenetTaps('mobilenet_v2');
    expect(taps).toContain('block_6_expand_relu');
    expect(taps).toContain('block_2_add');
    expect(taps).not.toContain('block_1_project_BN' + 'x');
    const rt = await gpuRuntime();
    await expect(loadBackbone(rt, 'mobilenet_v2', { weights: 'random', taps: ['layer2'] })).rejects.toThrow(/no tap 'layer2'/);
    await expect(loadBackbone(rt, 'mobilenet_v2', { weights: 'random', trainable: true })).rejects.toThrow(/frozen only/);
  });
  it('random init (Keras glorot_uniform, identity BatchNorm) runs to the default taps', async () => {
    const rt = await gpuRuntime();
    const bb = await loadBackbone(rt, 'mobilenet_v2', { weights: 'random', taps: ['block_3_expand_relu'] });
    try {
      await rt.tidyAsync(async () => {
        const out = bb.forward(rt.tensor(new Float32Array(2 * 3 * 24 * 24).fill(0.3), [2, 3, 24, 24]));
        expect(out['block_3_expand_relu']!.shape).toEqual([2, 144, 6, 6]);
      });
    } finally {
      bb.dispose();
    }
  });
});
