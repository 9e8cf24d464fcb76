import { describe, expect, it } from 'vitest';
import * as E from '../src/ops/elementwise.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData } from './helpers/gpu.ts';

type Op = (i: Record<string, Tensor>, a: Record<string, unknown>) => Tensor;
const ops: Record<string, Op> = {
  relu: ({ x }) => E.relu(x!),
  leakyRelu: ({ x }, a) => E.leakyRelu(x!, a.slope as number),
  tanh: ({ x }) => E.tanh(x!),
  atan: ({ x }) => E.atan(x!),
  exp: ({ x }) => E.exp(x!),
  log: ({ x }) => E.log(x!),
  softplus: ({ x }, a) => E.softplus(x!, a.beta as number),
  sqrt: ({ x }) => E.sqrt(x!),
  square: ({ x }) => E.square(x!),
  abs: ({ x }) => E.abs(x!),
  clamp: ({ x }, a) => E.clamp(x!, a.lo as number, a.hi as number),
  sigmoid: ({ x }) => E.sigmoid(x!),
  affine: ({ x }, a) => E.affine(x!, a.scale as number, a.shift as number),
  add: ({ a, b }) => E.add(a!, b!),
  sub: ({ a, b }) => E.sub(a!, b!),
  mul: ({ a, b }) => E.mul(a!, b!),
  div: ({ a, b }) => E.div(a!, b!),
  expand: ({ x }, a) => E.expand(x!, a.shape as number[]),
  sumTo: ({ x }, a) => E.sumTo(x!, a.shape as number[]),
};

describe('elementwise: PyTorch golden', () => {
  for (const c of loadGolden('elementwise')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, ops[c.op]!);
    });
  }
});

describe('elementwise: finite-difference gradients', () => {
  const smooth: Array<[string, (x: Tensor) => Tensor]> = [
    ['tanh', E.tanh], ['atan', E.atan], ['exp', E.exp], ['softplus', (x) => E.softplus(x, 0.5)],
    ['square', E.square], ['sigmoid', E.sigmoid], ['leakyRelu', (x) => E.leakyRelu(x, 0.2)],
  ];
  for (const [name, f] of smooth) {
    it(name, async () => {
      const rt = await gpuRuntime();
      await gradCheck(rt, ([x]) => f(x!), [{ data: randomData(24, 3), shape: [4, 6] }], { eps: 1e-3 });
    });
  }
  it('broadcast mul/div chain', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([a, b]) => E.div(E.mul(a!, b!), E.addScalar(E.square(b!), 1)), [
      { data: randomData(24, 4), shape: [2, 3, 4] },
      { data: randomData(4, 5), shape: [4] },
    ], { eps: 1e-3 });
  });
});

describe('elementwise: errors', () => {
  it('names both shapes on a broadcast mismatch', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const a = rt.tensor(new Float32Array(6), [2, 3]);
      const b = rt.tensor(new Float32Array(4), [4]);
      expect(() => E.add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4\] do not broadcast/);
    });
  });
  it('refuses a disposed tensor', async () => {
    const rt = await gpuRuntime();
    const a = rt.tensor(new Float32Array(4), [4]);
    a.dispose();
    expect(() => E.relu(a)).toThrow(/relu was given a disposed tensor of shape \[4\]/);
  });
  it('splits a pointwise op across bindings when a tensor exceeds one binding', async () => {
    const rt = await gpuRuntime();
    // Pretend the binding limit is small so the chunked path is exercised on any device.
    const saved = Object.getOwnPropertyDescriptor(rt.gpu, 'limits');
    Object.defineProperty(rt.gpu, 'limits', { value: { ...rt.limits, maxStorageBufferBindingSize: 1024 }, configurable: true });
    try {
      const n = 1000;
      const x = randomData(n, 9);
      const y = await rt.tidyAsync(async () => E.affine(rt.tensor(x, [n]), 2, 1).read());
      for (let i = 0; i < n; i++) expect(y[i]).toBeCloseTo(2 * x[i]! + 1, 5);
    } finally {
      if (saved) Object.defineProperty(rt.gpu, 'limits', saved);
    }
  });
});
