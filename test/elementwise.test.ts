import { describe, expect, it } from 'vitest';
import * as E from '../src/ops/elementwise.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { backward } from '../src/runtime/autograd.ts';
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

describe('elementwise: vec4 kernels against the scalar kernels', () => {
  // Same-shape ops run four elements per invocation plus a scalar tail; the scalar kernels (one element per
  // invocation) are the reference. Sizes: tail only, 1 + 2, 8 + 3, and 260 vec4s (two workgroups) + 1.
  const unaryOps: Array<[string, (x: Tensor) => Tensor]> = [
    ['relu', E.relu], ['leakyRelu', (x) => E.leakyRelu(x, 0.2)], ['tanh', E.tanh], ['atan', E.atan], ['exp', E.exp],
    ['log', (x) => E.log(E.abs(x))], ['softplus', (x) => E.softplus(x, 0.5)], ['sqrt', (x) => E.sqrt(E.abs(x))],
    ['square', E.square], ['abs', E.abs], ['clamp', (x) => E.clamp(x, -0.5, 1)], ['sigmoid', E.sigmoid],
    ['affine', (x) => E.affine(x, -1.5, 0.25)], ['atLeast', (x) => E.atLeast(x, 0.5)],
  ];
  const binaryOps: Array<[string, (a: Tensor, b: Tensor) => Tensor]> = [
    ['add', E.add], ['sub', E.sub], ['mul', E.mul], ['div', E.div], ['maximum', E.maximum],
  ];
  /** Output and input gradients of f, as flat arrays; recorded with the scalar kernels when `scalar`. */
  const outputs = async (rt: Awaited<ReturnType<typeof gpuRuntime>>, f: (xs: Tensor[]) => Tensor, data: Float32Array[], n: number,
    scalar: boolean) =>
    rt.tidyAsync(async () => {
      const record = (): Tensor[] => {
        const xs = data.map((d) => rt.tensor(d, [n], true));
        const y = f(xs);
        backward(y, rt.tensor(randomData(n, 99), [n]));
        return [y, ...xs.map((x) => x.grad!)];
      };
      const ts = scalar ? E.withScalarPointwise(record) : record();
      return Promise.all(ts.map((t) => t.read()));
    });
  for (const n of [3, 6, 35, 1041]) {
    it(`every unary and binary op, forward and backward, bit for bit at ${n} elements`, async () => {
      const rt = await gpuRuntime();
      const x = randomData(n, n, -3, 3);
      const b = randomData(n, n + 1, -3, 3);
      x[0] = 0.5; // a tie for maximum's gradient rule
      b[0] = 0.5;
      const cases: Array<[string, (xs: Tensor[]) => Tensor, Float32Array[]]> = [
        ...unaryOps.map(([name, f]) => [name, (xs: Tensor[]) => f(xs[0]!), [x]] as [string, (xs: Tensor[]) => Tensor, Float32Array[]]),
        ...binaryOps.map(([name, f]) => [name, (xs: Tensor[]) => f(xs[0]!, xs[1]!), [x, b]] as [string, (xs: Tensor[]) => Tensor, Float32Array[]]),
      ];
      for (const [name, f, data] of cases) {
        const vec = await outputs(rt, f, data, n, false);
        const ref = await outputs(rt, f, data, n, true);
        vec.forEach((v, k) => expect([...v], `${name} ${k === 0 ? 'output' : `grad ${k - 1}`}`).toEqual([...ref[k]!]));
      }
    });
  }
});

describe('elementwise: atLeast', () => {
  it('is 1 at and above the float32-rounded threshold, 0 below and for NaN, with a zero gradient', async () => {
    const rt = await gpuRuntime();
    const t = 0.1; // not a float32: the comparison uses Math.fround(0.1), the float32 the data holds
    const values = new Float32Array([Math.fround(t), 0.0999, 0.1001, -3, 7, NaN, Infinity, -Infinity, 0.1]);
    await rt.tidyAsync(async () => {
      const x = rt.tensor(values, [values.length], true);
      const y = E.atLeast(x, t);
      expect([...await y.read()]).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 1]);
      backward(y, rt.tensor(new Float32Array(values.length).fill(1), [values.length]));
      expect([...await x.grad!.read()]).toEqual(new Array(values.length).fill(0));
    });
  });
});

describe('elementwise: greaterEqual', () => {
  it('is 1 where a >= b (broadcasting, vec4 and scalar kernels alike), 0 below and for NaN, and records no gradient', async () => {
    const rt = await gpuRuntime();
    const a = new Float32Array([0.5, 0.25, 0.75, -3, 7, NaN, Infinity, -Infinity, 0.5, 1]);
    const b = new Float32Array([0.5, 0.5, 0.5, -4, 8, 0, NaN, -Infinity, 0.4999, 2]);
    const expected = [1, 0, 1, 1, 0, 0, 0, 1, 1, 0];
    await rt.tidyAsync(async () => {
      const x = rt.tensor(a, [10], true);
      const y = E.greaterEqual(x, rt.tensor(b, [10]));
      expect([...await y.read()]).toEqual(expected);
      expect([...await E.withScalarPointwise(() => E.greaterEqual(x, rt.tensor(b, [10]))).read()]).toEqual(expected);
      expect(y.node).toBeNull();
      // A [1] threshold broadcasts, as quantileTensor's does in EfficientAD's hard-feature mask.
      expect([...await E.greaterEqual(x.reshape([2, 5]), rt.tensor([0.5], [1])).read()]).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 1, 1]);
    });
  });
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
