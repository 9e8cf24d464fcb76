import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Initializer, InstanceNorm2d, LayerNorm, LeakyReLU, Linear, MaxPool2d,
  ReLU, Sequential, Sigmoid, Tanh, Upsample, readModule, writeModule, type Layer,
} from '../src/nn/layers.ts';
import { GpuRng } from '../src/ops/random.ts';
import { backward } from '../src/runtime/autograd.ts';
import type { Runtime } from '../src/runtime/runtime.ts';
import { assertClose, gpuRuntime, type GoldenArray } from './helpers/gpu.ts';

interface NnCase {
  name: string;
  layers: Array<[string, Record<string, unknown>]>;
  training: boolean;
  x: GoldenArray;
  state: Record<string, GoldenArray>;
  output: GoldenArray;
  gradOutput: GoldenArray;
  grads: Record<string, GoldenArray>;
  stateAfter: Record<string, GoldenArray>;
}

const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/golden/nn.json', import.meta.url)), 'utf8')) as {
  cases: NnCase[];
};

/** The texad twin of tools/golden/nn.py's build(): child i is named `${i}`, as in torch.nn.Sequential. */
function build(rt: Runtime, spec: NnCase['layers'], init: Initializer): Sequential {
  return new Sequential(spec.map(([kind, kw], i): Layer => {
    const name = String(i);
    const n = (k: string) => kw[k] as number;
    switch (kind) {
      case 'Conv2d':
        return new Conv2d(rt, name, n('in'), n('out'), n('k'), init, {
          stride: n('stride') ?? 1, padding: n('padding') ?? 0, dilation: n('dilation') ?? 1, groups: n('groups') ?? 1,
          bias: (kw.bias as boolean | undefined) ?? true,
        });
      case 'Linear': return new Linear(rt, name, n('in'), n('out'), init, { bias: (kw.bias as boolean | undefined) ?? true });
      case 'BatchNorm1d': return new BatchNorm1d(rt, name, n('c'), { momentum: n('momentum') ?? 0.1, eps: n('eps') ?? 1e-5 });
      case 'BatchNorm2d': return new BatchNorm2d(rt, name, n('c'), { momentum: n('momentum') ?? 0.1, eps: n('eps') ?? 1e-5 });
      case 'InstanceNorm2d': return new InstanceNorm2d(rt, name, n('c'), { affine: kw.affine as boolean });
      case 'LayerNormChannels': return new LayerNorm(rt, name, n('c'), { over: 'channels' });
      case 'LayerNorm': return new LayerNorm(rt, name, n('c'));
      case 'ReLU': return new ReLU();
      case 'LeakyReLU': return new LeakyReLU(n('slope'));
      case 'Sigmoid': return new Sigmoid();
      case 'Tanh': return new Tanh();
      case 'MaxPool2d': return new MaxPool2d(n('k'), n('stride') ?? n('k'), n('padding') ?? 0);
      case 'AvgPool2d': return new AvgPool2d(n('k'), n('stride') ?? n('k'), n('padding') ?? 0);
      case 'Upsample': return new Upsample({
        ...(kw.size ? { size: kw.size as [number, number] } : { scaleFactor: n('scale') }),
        mode: kw.mode as 'nearest' | 'bilinear',
        ...(kw.align !== undefined ? { alignCorners: kw.align as boolean } : {}),
      });
      default: throw new Error(`unknown layer ${kind}`);
    }
  }));
}

const values = (s: Record<string, GoldenArray>) =>
  Object.fromEntries(Object.entries(s).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }]));

describe('nn: PyTorch golden (forward, input and parameter gradients, running statistics)', () => {
  for (const c of fixture.cases) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      const net = build(rt, c.layers, new Initializer(1));
      try {
        // Loading by name checks that texad's names are PyTorch's state-dict names.
        expect(net.tensors().map((t) => t.name).sort()).toEqual(Object.keys(c.state).sort());
        writeModule(net, values(c.state), c.name);
        net.train(c.training);
        await rt.tidyAsync(async () => {
          const x = rt.tensor(Float32Array.from(c.x.data), c.x.shape, true);
          const y = net.forward(x);
          expect(y.shape).toEqual(c.output.shape);
          assertClose(await y.read(), c.output.data, `${c.name} output`);
          backward(y, rt.tensor(Float32Array.from(c.gradOutput.data), c.gradOutput.shape));
          assertClose(await x.grad!.read(), c.grads.x!.data, `${c.name} grad x`);
          const params = net.trainable();
          expect(params.map((p) => p.name).sort()).toEqual(Object.keys(c.grads).filter((k) => k !== 'x').sort());
          for (const { name, tensor } of params) assertClose(await tensor.grad!.read(), c.grads[name]!.data, `${c.name} grad ${name}`);
          x.dispose();
        });
        const after = await readModule(net);
        for (const [k, v] of Object.entries(c.stateAfter)) assertClose(after[k]!.data, v.data, `${c.name} ${k} after the step`);
      } finally {
        net.dispose();
      }
    });
  }
});

describe('nn: modes, initialisation, errors', () => {
  it('train()/eval() reach every layer inside nested containers', async () => {
    const rt = await gpuRuntime();
    const bn = new BatchNorm2d(rt, '0.1', 2);
    const net = new Sequential([new Sequential([new ReLU(), bn]), new Tanh()]);
    expect(bn.training).toBe(true);
    net.eval();
    expect([net.training, bn.training]).toEqual([false, false]);
    net.train();
    expect(bn.training).toBe(true);
    net.dispose();
  });

  it('Dropout drops about p in training (survivors scaled by 1/(1-p)) and is the identity in eval', async () => {
    const rt = await gpuRuntime();
    const drop = new Dropout(0.25, new GpuRng(rt, 9));
    const x = rt.tensor(new Float32Array(4000).fill(1), [4000]);
    const y = await rt.tidyAsync(async () => drop.forward(x).read());
    const kept = y.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
    expect(Math.abs(1 - kept.length / 4000 - 0.25)).toBeLessThan(0.03);
    drop.eval();
    expect(drop.forward(x)).toBe(x);
    x.dispose();
  });

  it('PyTorch default init: U(+-1/sqrt(fan_in)) with fan_in = in / groups * k * k; one seed, one set of weights', async () => {
    const rt = await gpuRuntime();
    const a = new Conv2d(rt, 'c', 8, 6, 3, new Initializer(5), { groups: 2 });
    const b = new Conv2d(rt, 'c', 8, 6, 3, new Initializer(5), { groups: 2 });
    const other = new Conv2d(rt, 'c', 8, 6, 3, new Initializer(6), { groups: 2 });
    const w = await a.weight.read();
    const bound = 1 / Math.sqrt(4 * 9);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(Math.max(...(await a.bias!.read()).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(await b.weight.read()).toEqual(w);
    expect(await other.weight.read()).not.toEqual(w);
    for (const m of [a, b, other]) m.dispose();
  });

  it('explicit inits: DRAEM-style N(0, 0.02) conv weights, zero bias, BatchNorm gamma N(1, 0.02)', async () => {
    const rt = await gpuRuntime();
    const init = new Initializer(3);
    const conv = new Conv2d(rt, 'c', 16, 32, 3, init, { weightInit: { std: 0.02 }, biasInit: 'zeros' });
    const w = await conv.weight.read();
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    expect(Array.from(await conv.bias!.read()).every((v) => v === 0)).toBe(true);
    const bn = new BatchNorm2d(rt, 'bn', 256, { gammaInit: { std: 0.02 }, init });
    const g = await bn.gamma.read();
    expect(Math.abs(g.reduce((s, v) => s + v, 0) / g.length - 1)).toBeLessThan(0.01);
    expect(() => new BatchNorm2d(rt, 'bn', 4, { gammaInit: { std: 0.02 } })).toThrow(/gammaInit needs opts.init/);
    conv.dispose();
    bn.dispose();
  });

  it('errors name the layer, the shape and the fix', async () => {
    const rt = await gpuRuntime();
    expect(() => new Conv2d(rt, 'enc.0', 6, 4, 3, new Initializer(0), { groups: 4 })).toThrow(
      /Conv2d 'enc.0': 6 input and 4 output channels must be multiples of groups 4/);
    const bn = new BatchNorm2d(rt, 'bn', 3);
    const x = rt.tensor(new Float32Array(6), [2, 3]);
    expect(() => bn.forward(x)).toThrow(/BatchNorm2d 'bn' needs x of rank 4 \(\[N, C, \.\.\.\]\), got \[2, 3\]/);
    expect(() => new Upsample({ mode: 'nearest' })).toThrow(/exactly one of size and scaleFactor/);
    expect(() => new Upsample({ scaleFactor: 2, alignCorners: true })).toThrow(/alignCorners only applies to mode 'bilinear'/);
    const img = rt.tensor(new Float32Array(15), [1, 1, 3, 5]);
    expect(() => new Upsample({ scaleFactor: 1.5 }).forward(img)).toThrow(/scaleFactor 1.5 turns 3x5 into 4.5x7.5, not whole sizes/);
    bn.dispose();
    x.dispose();
    img.dispose();
  });
});
