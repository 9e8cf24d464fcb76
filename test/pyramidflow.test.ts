import { describe, expect, it } from 'vitest';
import { Initializer, writeModule } from '../src/nn/layers.ts';
import { Flow, InvConv2dLU, SemiInvertibleConv, blockOrder } from '../src/methods/pyramidflow/model.ts';
import { buildPyramid, composePyramid } from '../src/methods/pyramidflow/pyramid.ts';
import { anomalyMap, augmentTextures, pyramidFlowLoss } from '../src/methods/pyramidflow/train.ts';
import { luDecompose } from '../src/methods/pyramidflow/linalg.ts';
import { pyramidFlowConfig } from '../src/methods/pyramidflow/config.ts';
import { mean } from '../src/ops/reduce.ts';
import { backward } from '../src/runtime/autograd.ts';
import { Adam, clipGradNorm } from '../src/runtime/optim.ts';
import { assertClose, checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData, type GoldenArray } from './helpers/gpu.ts';
import { readFileSync } from 'node:fs';
import { PyramidFlow } from '../src/methods/pyramidflow/index.ts';
import { imagesInMemory } from '../src/methods/detector.ts';
import { decodeDetectorState, encodeDetectorState } from '../src/methods/checkpoint.ts';
import { fileURLToPath } from 'node:url';
import { memoryWeights } from '../src/backbones/weights.ts';

describe('PyramidFlow Laplacian pyramid: PyTorch golden', () => {
  for (const c of loadGolden('pyramidflow')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, (inputs, args) => {
        if (c.op === 'buildPyramid') return buildPyramid(inputs.x!, args.levels as number)[args.index as number]!;
        return composePyramid(Array.from({ length: args.levels as number }, (_, i) => inputs[`l${i}`]!));
      });
    });
  }
});

describe('PyramidFlow Laplacian pyramid', () => {
  it('compose(build(x)) == x, and gradients match finite differences', async () => {
    const rt = await gpuRuntime();
    const data = randomData(2 * 16 * 16, 3);
    await rt.tidyAsync(async () => {
      const x = rt.tensor(data, [1, 2, 16, 16]);
      assertClose(await composePyramid(buildPyramid(x, 4)).read(), data, 'roundtrip', { rtol: 1e-5, atol: 1e-5 });
    });
    // Level 0 = x - up(down(x)): blur, max pool, nearest upsampling and blur again.
    await gradCheck(rt, ([x]) => buildPyramid(x!, 3)[0]!, [{ data: randomData(2 * 8 * 8, 4), shape: [1, 2, 8, 8] }]);
  });

  it('refuses sizes the levels cannot halve', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => expect(() => buildPyramid(rt.zeros([1, 1, 12, 12]), 4)).toThrow(/divisible by 2\^\(levels-1\) = 8/));
  });
});

describe('PyramidFlow invertible 1x1 conv (LU)', () => {
  // Gradients to L, U and s are checked against PyTorch in the parity test below.
  it('is invertible and has det +-1 whatever s', async () => {
    const rt = await gpuRuntime();
    const conv = new InvConv2dLU(rt, 'c', 6, new Initializer(3));
    try {
      // Move s away from its initial value: the mean subtraction must still give |det| = 1.
      rt.write(conv.wS, randomData(6, 9, -2, 2));
      const w = await rt.tidyAsync(async () => conv.weight().read());
      const { u } = luDecompose(w, 6);
      const det = Array.from({ length: 6 }, (_, i) => u[i * 6 + i]!).reduce((p, q) => p * q, 1);
      expect(Math.abs(Math.abs(det) - 1)).toBeLessThan(1e-4);
      const x = randomData(2 * 6 * 5 * 5, 5);
      await rt.tidyAsync(async () => {
        const y = rt.noGrad(() => conv.forward(rt.tensor(x, [2, 6, 5, 5])));
        assertClose(await (await conv.inverse(y)).read(), x, 'inverse(forward(x))', { rtol: 1e-4, atol: 1e-5 });
      });
    } finally {
      conv.dispose();
    }
  });
});

describe('PyramidFlow structure and errors', () => {
  it('orders blocks as the official code', () => {
    const names = (l: number, s: number) => blockOrder(l, s).map((b) => `${b.kind}${b.start}`).join(' ');
    expect(names(4, 1)).toBe('fb20 down2 up0 fb21');
    expect(blockOrder(4, 4)).toHaveLength(16);
    expect(names(3, 1)).toBe('fb20 up0 down1');
    expect(names(2, 1)).toBe('down0 up0');
    expect(names(8, 1)).toBe('fb20 fb22 fb24 down6 up0 fb21 fb23 fb25');
  });

  it('refuses batches and sizes the loss cannot use', async () => {
    expect(() => pyramidFlowConfig('quick', { batchSize: 1 })).toThrow(/batchSize must be an integer >= 2/);
    expect(() => pyramidFlowConfig('quick', { x_size: 96 })).toThrow(/power of two/);
    const rt = await gpuRuntime();
    rt.tidy(() => expect(() => pyramidFlowLoss([rt.zeros([1, 2, 8, 8]), rt.zeros([1, 2, 4, 4])])).toThrow(/at least 2 images/));
  });

  it('augments with flips and quarter turns only (a permutation of each plane)', () => {
    const side = 5;
    const img = Float32Array.from({ length: 2 * 3 * side * side }, (_, i) => i);
    const out = img.slice();
    let k = 0;
    const draws = [0.1, 0.9, 0.2, 0.5, 0.7, 0.1, 0.3, 0.9];
    augmentTextures(out, 2, side, () => draws[k++ % draws.length]!);
    for (let p = 0; p < 6; p++) {
      const a = Array.from(out.subarray(p * 25, p * 25 + 25)).sort((x, y) => x - y);
      expect(a).toEqual(Array.from(img.subarray(p * 25, p * 25 + 25)));
    }
    expect(Array.from(out)).not.toEqual(Array.from(img));
  });
});

interface ModelCase {
  name: string;
  config: { numChannel: number; x_size: number; numLayer: number; numStack: number; kernelSize: number; volumeNorm: 'CVN' | 'SVN' };
  images: GoldenArray;
  initial: Record<string, GoldenArray>;
  outputs: GoldenArray[];
  loss: number;
  grads: Record<string, GoldenArray>;
  after: Record<string, GoldenArray>;
  template: GoldenArray[];
  map: GoldenArray;
}

const goldenModels = (JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/golden/pyramidflow-model.json', import.meta.url)), 'utf8')) as { cases: Array<ModelCase | ResNetCase> }).cases;
const modelCases = goldenModels.filter((c): c is ModelCase => !('tensors' in c));

describe('PyramidFlow parity with the PyTorch reference (tools/golden/pyramidflow.py)', () => {
  for (const c of modelCases) {
    it(`${c.name}: flow outputs, Fourier loss, gradients, one clipped Adam step, eval template map`, async () => {
      const rt = await gpuRuntime();
      const cfg = c.config;
      const flow = new Flow(rt, cfg.numChannel, cfg.x_size, cfg.numLayer, cfg.numStack, cfg.kernelSize, cfg.volumeNorm, new Initializer(0));
      const inconv = new SemiInvertibleConv(rt, cfg.numChannel, new Initializer(1));
      const values = Object.fromEntries(Object.entries(c.initial).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }]));
      writeModule(flow, values, 'parity');
      writeModule(inconv, values, 'parity');
      const params = flow.trainable();
      const adam = new Adam(params, { lr: 2e-4, betas: [0.5, 0.9], eps: 1e-4, weightDecay: 1e-5 });
      try {
        const images = rt.tensor(c.images.data, c.images.shape).keep();
        const pyramid = () => rt.noGrad(() => buildPyramid(inconv.forward(images), cfg.numLayer));
        await rt.tidyAsync(async () => {
          flow.train();
          const outs = flow.forward(pyramid());
          for (const [i, o] of outs.entries()) assertClose(await o.read(), c.outputs[i]!.data, `${c.name} output level ${i}`);
          const loss = pyramidFlowLoss(outs);
          assertClose(await loss.read(), [c.loss], `${c.name} loss`);
          backward(loss);
          for (const { name, tensor } of params) assertClose(await tensor.grad!.read(), c.grads[name]!.data, `${c.name} grad ${name}`, { rtol: 1e-4, atol: 1e-6 });
          clipGradNorm(params, 1);
          adam.step();
        });
        for (const { name, tensor } of flow.tensors()) {
          const want = c.after[name];
          if (!want) continue;
          const got = await tensor.read();
          assertClose(got, want.data, `${c.name} after Adam ${name}`);
          // The step itself (after - before), far smaller than the values, to a looser tolerance.
          const before = c.initial[name]!.data;
          assertClose(got.map((v, i) => v - before[i]!), want.data.map((v, i) => v - before[i]!), `${c.name} Adam step ${name}`, { rtol: 2e-2, atol: 2e-7 });
        }
        await rt.tidyAsync(async () => {
          flow.eval();
          const outs = rt.noGrad(() => flow.forward(pyramid()));
          const template = rt.noGrad(() => outs.map((o) => mean(o, [0], true)));
          for (const [i, t] of template.entries()) assertClose(await t.read(), c.template[i]!.data, `${c.name} template level ${i}`);
          assertClose(await rt.noGrad(() => anomalyMap(outs, template)).read(), c.map.data, `${c.name} anomaly map`);
        });
        images.dispose();
      } finally {
        adam.dispose();
        flow.dispose();
        inconv.dispose();
      }
    });
  }
});

describe('PyramidFlow detector', () => {
  const side = 32;
  // A smooth periodic texture with a little per-image noise and a random shift; a defect is a bright 6x6 square.
  const texture = (seed: number, defect: boolean): Float32Array => {
    const noise = randomData(3 * side * side, seed, -0.03, 0.03);
    const shift = seed % 4;
    return Float32Array.from({ length: 3 * side * side }, (_, i) => {
      const [y, x] = [Math.floor(i / side) % side, i % side];
      const base = 0.5 + 0.2 * Math.sin(((x + shift) * 2 * Math.PI) / 8) * Math.cos((y * 2 * Math.PI) / 8) + noise[i]!;
      return defect && y >= 12 && y < 18 && x >= 20 && x < 26 ? 1 : base;
    });
  };
  const config = { x_size: side, numChannel: 4, kernelSize: 3, numLayer: 3, numStack: 1, epochs: 2 };

  async function fitted() {
    const rt = await gpuRuntime();
    const det = await PyramidFlow.create(rt, { preset: 'quick', config });
    const report = await det.fit(imagesInMemory(Array.from({ length: 6 }, (_, i) => texture(10 + i, false)), side));
    const test = [texture(30, false), texture(31, false), texture(32, true), texture(33, true)];
    const pred = await det.predict({ images: Float32Array.from(test.flatMap((t) => Array.from(t))), count: 4, height: side, width: side });
    return { det, report, pred };
  }

  it('scores defects above normal images with the map peaking in the defect; deterministic; state round-trips', async () => {
    const a = await fitted();
    const b = await fitted();
    try {
      expect(Number.isFinite(a.report.finalLoss)).toBe(true);
      expect(Math.min(a.pred.scores[2]!, a.pred.scores[3]!)).toBeGreaterThan(Math.max(a.pred.scores[0]!, a.pred.scores[1]!));
      for (const n of [2, 3]) {
        const map = a.pred.maps.subarray(n * side * side, (n + 1) * side * side);
        const peak = map.indexOf(Math.max(...map));
        const [y, x] = [Math.floor(peak / side), peak % side];
        expect(y >= 10 && y < 20 && x >= 18 && x < 28, `peak at (${y}, ${x})`).toBe(true);
      }
      expect(Array.from(b.pred.scores)).toEqual(Array.from(a.pred.scores));

      const rt = await gpuRuntime();
      const bytes = encodeDetectorState(await a.det.state());
      const c = await PyramidFlow.create(rt, { preset: 'quick', config });
      await expect(c.predict({ images: new Float32Array(3 * side * side), count: 1, height: side, width: side })).rejects.toThrow(/no latent template/);
      await c.restore(await decodeDetectorState(bytes));
      const test = [texture(30, false), texture(31, false), texture(32, true), texture(33, true)];
      const p = await c.predict({ images: Float32Array.from(test.flatMap((t) => Array.from(t))), count: 4, height: side, width: side });
      expect(Array.from(p.scores)).toEqual(Array.from(a.pred.scores));
      c.dispose();
      const wrong = await PyramidFlow.create(rt, { preset: 'quick', config: { ...config, numStack: 2 } });
      await expect(wrong.restore(await decodeDetectorState(bytes))).rejects.toThrow(/numStack=1/);
      wrong.dispose();
      await expect(a.det.fit(imagesInMemory([texture(1, false)], side))).rejects.toThrow(/1 training images/);

      // score 'max-minus-mean': the max of each map less its mean (same flow, same maps).
      const d = await PyramidFlow.create(rt, { preset: 'quick', config: { ...config, score: 'max-minus-mean' } });
      await d.fit(imagesInMemory(Array.from({ length: 6 }, (_, i) => texture(10 + i, false)), side));
      const q = await d.predict({ images: Float32Array.from(test.flatMap((t) => Array.from(t))), count: 4, height: side, width: side });
      d.dispose();
      expect(q.maps).toEqual(a.pred.maps);
      for (let n = 0; n < 4; n++) {
        const map = q.maps.subarray(n * side * side, (n + 1) * side * side);
        expect(q.scores[n]!).toBeCloseTo(Math.max(...map) - map.reduce((p, v) => p + v, 0) / map.length, 5);
      }
    } finally {
      a.det.dispose();
      b.det.dispose();
    }
  });
});

describe('PyramidFlow ResNet18 encoder', () => {
  const side = 64;
  const images = Array.from({ length: 2 }, (_, k) => randomData(3 * side * side, 40 + k, 0, 1));
  const config = { x_size: side, numLayer: 3, numStack: 1, kernelSize: 3, epochs: 1, augment: false };

  it("encoder_bn 'train' moves the encoder's BatchNorm running statistics during fit (official quirk), 'eval' keeps them", async () => {
    const rt = await gpuRuntime();
    for (const encoder_bn of ['train', 'eval'] as const) {
      const det = await PyramidFlow.create(rt, { preset: 'paper', config: { ...config, encoder_bn } });
      try {
        await det.fit(imagesInMemory(images, side));
        const state = await det.state();
        const rm = state.tensors['bn1.running_mean'];
        if (encoder_bn === 'train') {
          expect(rm, 'the unfolded stem BatchNorm is checkpointed').toBeDefined();
          expect(Array.from(rm!.data).some((v) => v !== 0)).toBe(true);
        } else {
          expect(rm).toBeUndefined();
        }
        expect(state.tensors['template.0']!.shape).toEqual([1, 64, side / 4, side / 4]);
      } finally {
        det.dispose();
      }
    }
  });
});

interface GeneratedSpec { name?: string; shape: number[]; gen: 'uniform' | 'eye' | 'sign'; seed: number; scale: number; offset: number }

interface ResNetCase {
  name: string;
  config: { x_size: number; numLayer: number; numStack: number; kernelSize: number; volumeNorm: 'CVN' | 'SVN' };
  images: GeneratedSpec;
  tensors: Array<GeneratedSpec & { name: string }>;
  loss: number;
  steps: Record<string, [number, number, number]>;
  after: Record<string, GoldenArray>;
  template: GoldenArray[];
  map: GoldenArray;
}

/** tools/golden/pyramidflow.py hash_uniform: n values in [-1, 1) from a 32-bit integer hash of (index, seed). */
function hashUniform(n: number, seed: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => {
    let h = (Math.imul(i, 2654435761) + seed * 40503 + 12345) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
    h = Math.imul(h, 2246822519) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    return (h / 2 ** 32) * 2 - 1;
  });
}

function generated(spec: GeneratedSpec): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.gen === 'eye') return Float32Array.from({ length: n }, (_, i) => (Math.floor(i / spec.shape[0]!) === i % spec.shape[0]! ? 1 : 0));
  const v = hashUniform(n, spec.seed).map((h) => spec.offset + spec.scale * h);
  return Float32Array.from(v, (x) => (spec.gen === 'sign' ? Math.sign(x) : x));
}

/** The golden's summary(): sum, sum of squares and a hashed projection of a tensor. */
function summary(t: ArrayLike<number>, seed: number): [number, number, number] {
  const h = hashUniform(t.length, seed);
  let [s, q, p] = [0, 0, 0];
  for (let i = 0; i < t.length; i++) [s, q, p] = [s + t[i]!, q + t[i]! * t[i]!, p + t[i]! * h[i]!];
  return [s, q, p];
}

const resnetCase = goldenModels.find((c): c is ResNetCase => 'tensors' in c)!;

describe('PyramidFlow parity with the PyTorch reference: ResNet18 encoder', () => {
  it(`${resnetCase.name}: one fit step through the detector (loss, Adam steps, BatchNorm and VolumeNorm running statistics), template, map`, async () => {
    const rt = await gpuRuntime();
    const values = Object.fromEntries(resnetCase.tensors.map((t) => [t.name, { shape: t.shape, data: generated(t) }]));
    const encoderKeys = resnetCase.tensors.filter((t) => !t.name.startsWith('nf.')).map((t) => t.name);
    const weights = memoryWeights('hashed resnet18 stem + layer1', new Map(encoderKeys.map((k) => [k, values[k]!])));
    const cfg = resnetCase.config;
    const det = await PyramidFlow.create(rt, {
      preset: 'paper', weights,
      config: { ...cfg, encoder: 'resnet18', encoder_bn: 'train', epochs: 1, augment: false },
    });
    try {
      writeModule(det.flow, values, 'parity');
      const side = cfg.x_size;
      const images = generated(resnetCase.images);
      const plane = 3 * side * side;
      const report = await det.fit(imagesInMemory([images.slice(0, plane), images.slice(plane)], side));
      assertClose([report.finalLoss], [resnetCase.loss], 'loss');
      const state = await det.state();
      for (const [name, want] of Object.entries(resnetCase.after)) assertClose(state.tensors[name]!.data, want.data, `after the step: ${name}`);
      for (const [name, want] of Object.entries(resnetCase.steps)) {
        const before = values[name]!.data;
        const step = state.tensors[name]!.data.map((v, i) => v - before[i]!);
        // The Adam step is ~1e-4 per value: float32 parameters carry it to a few digits only.
        assertClose(summary(step, 7), want, `Adam step of ${name} (sum, sum of squares, projection)`, { rtol: 2e-2, atol: 1e-6 });
      }
      for (const [i, want] of resnetCase.template.entries()) assertClose(state.tensors[`template.${i}`]!.data, want.data, `template level ${i}`);
      const pred = await det.predict({ images, count: 2, height: side, width: side });
      const map = resnetCase.map.data;
      const px = map.length / 2;
      // The image score is the max of the map at the flow's resolution (S / 4), before upsampling to S.
      assertClose(pred.scores, [0, 1].map((n) => Math.max(...map.slice(n * px, (n + 1) * px))), 'image scores (max of the map)');
    } finally {
      det.dispose();
    }
  });
});
