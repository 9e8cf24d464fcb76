// EfficientAD against a PyTorch reference written from the spec (tools/golden/efficientad.py): teacher
// normalisation, one training step of student + autoencoder (every loss, the hard-feature threshold, sampled
// gradients and their norms, Adam-updated weights), the normalised test map for fixed weights and quantiles, and
// the colour augmentation. Weights are regenerated on both sides from (seed, tensor name).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadBackbone } from '../src/backbones/index.ts';
import { ImageNetNormalize } from '../src/backbones/layers.ts';
import { randomWeights } from '../src/backbones/weights.ts';
import { hashString } from '../src/data/random.ts';
import { GpuRng, cpuUniform } from '../src/ops/random.ts';
import { backward } from '../src/runtime/autograd.ts';
import { Adam } from '../src/runtime/optim.ts';
import { Initializer, readModule, writeModule, type NamedTensor } from '../src/nn/layers.ts';
import { Autoencoder, TeacherNormalization, combineMaps, teacherNormalization } from '../src/methods/efficientad/model.ts';
import { colorJitter, efficientAdLoss, rawMaps, type EfficientAdNets, type Jitter } from '../src/methods/efficientad/train.ts';
import { assertClose, gpuRuntime, type GoldenArray } from './helpers/gpu.ts';

interface ParamCase { index: number[]; grad: number[]; gradNorm: number; updated: number[] }
interface Fixture {
  torch: string;
  dims: { size: number; out: number; teacherSeed: number; studentSeed: number; aeSeed: number; lr: number;
    weightDecay: number; hardQuantile: number; pad: number };
  train: GoldenArray; x: GoldenArray; xAe: GoldenArray; penalty: GoldenArray;
  teacherMean: GoldenArray; teacherStd: GoldenArray;
  losses: { hard: number; ae: number; stae: number; penalty: number; total: number; dHard: number };
  params: Record<string, ParamCase>;
  quantiles: { stLow: number; stHigh: number; aeLow: number; aeHigh: number };
  mapSt: GoldenArray; mapAe: GoldenArray; testMap: GoldenArray;
  jitter: Record<Jitter, GoldenArray>; jitterFactors: Record<Jitter, number>;
}

const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/golden/efficientad.json', import.meta.url)), 'utf8')) as Fixture;
const d = fixture.dims;

const close = (actual: number, expected: number, what: string) =>
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-4 * Math.max(1e-3, Math.abs(expected)));

describe('EfficientAD against the PyTorch reference (tools/golden/efficientad.py)', () => {
  it('normalisation, one training step and the normalised test map match', async () => {
    const rt = await gpuRuntime();
    const common = { normalize: false, padding: false } as const;
    const teacher = await loadBackbone(rt, 'pdn_small', { ...common, weights: randomWeights(d.teacherSeed), outChannels: d.out });
    const student = await loadBackbone(rt, 'pdn_small', {
      ...common, weights: randomWeights(d.studentSeed), outChannels: 2 * d.out, trainable: true,
    });
    // Dropout 0: the reference has no access to texad's Philox masks.
    const autoencoder = new Autoencoder(rt, d.size, d.out, 0, new GpuRng(rt, 0), new Initializer(0));
    const normalize = new ImageNetNormalize(rt);
    try {
      // The autoencoder's weights as the reference draws them: nn.Conv2d's bounds, cpuUniform per tensor name.
      const shapes = Object.fromEntries(autoencoder.tensors().map(({ name, tensor }) => [name, tensor.shape]));
      const values = Object.fromEntries(Object.entries(shapes).map(([name, shape]) => {
        const w = shapes[name.replace(/\.bias$/, '.weight')]!;
        const bound = 1 / Math.sqrt(w[1]! * w[2]! * w[3]!);
        const n = shape.reduce((p, q) => p * q, 1);
        return [name, { shape: [...shape], data: cpuUniform([d.aeSeed, hashString(name)], 0, n, -bound, bound) }];
      }));
      writeModule(autoencoder, values, 'parity test');
      autoencoder.eval();
      const upload = (g: GoldenArray, index = 0) => {
        const per = 3 * d.size * d.size;
        return normalize.forward(rt.tensor(Float32Array.from(g.data.slice(index * per, (index + 1) * per)), [1, 3, d.size, d.size]));
      };

      const measured = await teacherNormalization(teacher, d.out, async function* () {
        for (let i = 0; i < fixture.train.shape[0]!; i++) yield upload(fixture.train, i);
      });
      assertClose(measured.mean, fixture.teacherMean.data, 'teacher channel mean');
      assertClose(measured.std, fixture.teacherStd.data, 'teacher channel std');

      const normalization = new TeacherNormalization(Float32Array.from(fixture.teacherMean.data), Float32Array.from(fixture.teacherStd.data));
      const nets: EfficientAdNets = { teacher, student, autoencoder, normalization, outChannels: d.out };

      // The normalised test map for the initial weights and fixed quantiles.
      await rt.tidyAsync(async () => {
        const { st, ae } = rt.noGrad(() => rawMaps(nets, upload(fixture.x)));
        assertClose(await st.read(), fixture.mapSt.data, 'map_st');
        assertClose(await ae.read(), fixture.mapAe.data, 'map_ae');
        const map = rt.noGrad(() => combineMaps(st, ae, fixture.quantiles, d.pad, [d.size, d.size]));
        assertClose(await map.read(), fixture.testMap.data, 'normalised, padded, upsampled test map');
      });

      const named: NamedTensor[] = [
        ...student.trainable().map(({ name, tensor }) => ({ name: `student.${name}`, tensor })),
        ...autoencoder.trainable().map(({ name, tensor }) => ({ name: `ae.${name}`, tensor })),
      ];
      expect(named.map((p) => p.name).sort()).toEqual(Object.keys(fixture.params).sort());
      const optimizer = new Adam(named, { lr: d.lr, weightDecay: d.weightDecay });
      try {
        await rt.tidyAsync(async () => {
          const readsBefore = rt.readbackCount;
          const losses = efficientAdLoss(nets, { image: upload(fixture.x), imageAe: upload(fixture.xAe), penalty: upload(fixture.penalty) },
            d.hardQuantile);
          backward(losses.total);
          // Threshold, mask, losses and backward queue without a host round-trip.
          expect(rt.readbackCount).toBe(readsBefore);
          close((await losses.dHard.read())[0]!, fixture.losses.dHard, 'd_hard (0.999 quantile)');
          close((await losses.hard.read())[0]!, fixture.losses.hard, 'loss_hard');
          close((await losses.ae.read())[0]!, fixture.losses.ae, 'loss_ae');
          close((await losses.stae.read())[0]!, fixture.losses.stae, 'loss_stae');
          close((await losses.penalty!.read())[0]!, fixture.losses.penalty, 'loss_penalty');
          close((await losses.total.read())[0]!, fixture.losses.total, 'total loss');
          for (const { name, tensor } of named) {
            const expected = fixture.params[name]!;
            const grad = await tensor.grad!.read();
            const norm = Math.sqrt(grad.reduce((s, v) => s + v * v, 0));
            close(norm, expected.gradNorm, `|grad ${name}|`);
            assertClose(expected.index.map((i) => grad[i]!), expected.grad, `grad ${name} (sampled)`, { atol: 1e-4 * expected.gradNorm / Math.sqrt(grad.length) });
          }
          optimizer.step();
        });
        const after = { ...(await readModule(student)), ...(await readModule(autoencoder)) };
        for (const { name } of named) {
          const key = name.replace(/^(student|ae)\./, '');
          const expected = fixture.params[name]!;
          assertClose(expected.index.map((i) => after[key]!.data[i]!), expected.updated, `updated ${name}`, { rtol: 1e-4, atol: 1e-7 });
        }
      } finally {
        optimizer.dispose();
      }
    } finally {
      normalize.dispose();
      teacher.dispose();
      student.dispose();
      autoencoder.dispose();
    }
  }, 600_000);

  it('colour augmentation matches torchvision adjust_brightness / contrast / saturation', () => {
    const x = Float32Array.from(fixture.x.data);
    for (const kind of ['brightness', 'contrast', 'saturation'] as const) {
      assertClose(colorJitter(x, kind, fixture.jitterFactors[kind]), fixture.jitter[kind].data, `colorJitter ${kind}`, { atol: 1e-6 });
    }
  });
});
