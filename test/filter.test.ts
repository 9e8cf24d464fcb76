import { describe, expect, it } from 'vitest';
import * as F from '../src/ops/filter.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData } from './helpers/gpu.ts';

type Op = (i: Record<string, Tensor>, a: Record<string, unknown>) => Tensor;
const ops: Record<string, Op> = {
  unfold3x3: ({ x }) => F.unfold3x3(x!),
  gaussianBlur: ({ x }, a) => F.gaussianBlur(x!, a.sigma as number, { truncate: a.truncate as number }),
  depthwiseConv2d: ({ x }, a) =>
    F.depthwiseConv2d(x!, Float32Array.from(a.kernel as number[]), a.k as number, a.padding as number),
  boxFilter: ({ x }, a) => F.boxFilter(x!, a.k as number),
};

describe('filter: PyTorch / scipy golden', () => {
  for (const c of loadGolden('filter')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, ops[c.op]!);
    });
  }
});

const input = (shape: number[], seed: number) => ({ data: randomData(shape.reduce((p, q) => p * q, 1), seed), shape });

describe('filter: finite-difference gradients', () => {
  it('depthwiseConv2d, separable 5x5 binomial', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => F.depthwiseConv2d(x!, F.binomialKernel2d(5), 5, 2), [input([1, 2, 6, 7], 1)]);
  });
  it('depthwiseConv2d, full 3x3 with padding 0', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => F.depthwiseConv2d(x!, randomData(9, 2), 3, 0), [input([2, 5, 6], 3)]);
  });
  it('boxFilter 5', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => F.boxFilter(x!, 5), [input([1, 1, 7, 6], 4)]);
  });
});

describe('filter: kernels, paths and errors', () => {
  it('builds binomial and Gaussian kernels', () => {
    const b = [1, 4, 6, 4, 1];
    expect(Array.from(F.binomialKernel2d(5))).toEqual(b.flatMap((p) => b.map((q) => Math.fround((p / 16) * (q / 16)))));
    const g = F.gaussianKernel1d(4, 16);
    expect(g.length).toBe(33);
    expect(g.reduce((p, q) => p + q, 0)).toBeCloseTo(1, 6);
    expect(g[16]! / g[0]!).toBeCloseTo(Math.exp(8), 2);
    expect(F.gaussianKernel2d(1.5, 5)[60]).toBeCloseTo(F.gaussianKernel1d(1.5, 5)[5]! ** 2, 8);
  });

  it('runs rank-one kernels as two 1-D passes and others as one 2-D pass', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.tensor(randomData(2 * 8 * 8, 5), [2, 8, 8]);
      const passes = (kernel: Float32Array, k: number) => {
        const before = rt.dispatchCount;
        F.depthwiseConv2d(x, kernel, k, 1);
        return rt.dispatchCount - before;
      };
      expect(passes(F.gaussianKernel2d(1, 1), 3)).toBe(2);
      expect(passes(randomData(9, 6), 3)).toBe(1);
    });
  });

  it('throws naming the op, shape and fix', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.tensor(new Float32Array(16), [1, 4, 4]);
      expect(() => F.unfold3x3(x)).toThrow(/unfold3x3 x\[1, 4, 4\]: x must be \[N, C, H, W\]/);
      expect(() => F.boxFilter(rt.tensor([1, 2], [2]), 3)).toThrow(/boxFilter: x\[2\] needs at least 2 dims \(\.\.\., H, W\)/);
      expect(() => F.depthwiseConv2d(x, new Float32Array(8), 3, 1)).toThrow(/need a k\*k kernel \(got 8 values for k = 3\)/);
      expect(() => F.depthwiseConv2d(x, new Float32Array(49), 7, 0)).toThrow(/the output would be -2x-2; pad more/);
      expect(() => F.boxFilter(x, 4)).toThrow(/boxFilter x\[1, 4, 4\]: k must be a positive odd integer, got 4/);
      expect(() => F.gaussianBlur(x, 0)).toThrow(/gaussianBlur x\[1, 4, 4\] sigma 0 truncate 4: need sigma > 0/);
      const trainable = rt.tensor(new Float32Array(16), [1, 1, 4, 4], true);
      expect(() => F.gaussianBlur(trainable, 1)).toThrow(/has no backward; run it under rt.noGrad\(\)/);
      expect(() => rt.noGrad(() => F.unfold3x3(trainable))).not.toThrow();
      expect(rt.noGrad(() => F.gaussianBlur(rt.tensor([], [2, 0, 5]), 2)).shape).toEqual([2, 0, 5]);
    });
  });
});
