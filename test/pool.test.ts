import { describe, expect, it } from 'vitest';
import { adaptiveAvgPool1d, avgPool2d, globalAvgPool, maxPool2d, type AvgPool2dOptions } from '../src/ops/pool.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { assertClose, checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData } from './helpers/gpu.ts';

type Op = (i: Record<string, Tensor>, a: Record<string, unknown>) => Tensor;
const ops: Record<string, Op> = {
  maxPool2d: ({ x }, a) => maxPool2d(x!, a as unknown as AvgPool2dOptions),
  avgPool2d: ({ x }, a) => avgPool2d(x!, a as unknown as AvgPool2dOptions),
  globalAvgPool: ({ x }) => globalAvgPool(x!),
  adaptiveAvgPool1d: ({ x }, a) => adaptiveAvgPool1d(x!, a.outSize as number),
};

describe('pool: PyTorch golden', () => {
  for (const c of loadGolden('pool')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, ops[c.op]!);
    });
  }
});

/** Distinct values at least `gap` apart in random order, so no finite-difference step crosses a tie. */
function spacedData(n: number, seed: number, gap = 0.05): Float32Array {
  const order = randomData(n, seed);
  const ranks = [...order.keys()].sort((a, b) => order[a]! - order[b]!);
  const out = new Float32Array(n);
  ranks.forEach((idx, r) => (out[idx] = (r - n / 2) * gap));
  return out;
}

describe('pool: finite-difference gradients', () => {
  const shape = [2, 3, 7, 9];
  const size = 2 * 3 * 7 * 9;
  for (const [kernel, stride, padding] of [[2, 2, 0], [3, 2, 1], [3, 1, 1]] as const) {
    it(`maxPool2d ${kernel}x${kernel} s${stride} p${padding}`, async () => {
      const rt = await gpuRuntime();
      await gradCheck(rt, ([x]) => maxPool2d(x!, { kernel, stride, padding }), [{ data: spacedData(size, 51), shape }], { eps: 1e-3 });
    });
  }
  for (const countIncludePad of [true, false]) {
    it(`avgPool2d 3x3 s2 p1 countIncludePad=${countIncludePad}`, async () => {
      const rt = await gpuRuntime();
      await gradCheck(rt, ([x]) => avgPool2d(x!, { kernel: 3, stride: 2, padding: 1, countIncludePad }), [{ data: randomData(size, 52), shape }]);
    });
  }
  it('globalAvgPool', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => globalAvgPool(x!), [{ data: randomData(size, 53), shape }]);
  });
  it('adaptiveAvgPool1d 10 -> 4 (overlapping bins)', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => adaptiveAvgPool1d(x!, 4), [{ data: randomData(30, 54), shape: [3, 10] }]);
  });
});

describe('pool: beyond the golden sizes', () => {
  it('adaptiveAvgPool1d 4608 -> 1536 is the mean of each triple (SimpleNet)', async () => {
    const rt = await gpuRuntime();
    const x = randomData(2 * 4608, 61);
    const y = await rt.tidyAsync(async () => adaptiveAvgPool1d(rt.tensor(x, [2, 4608]), 1536).read());
    assertClose(y, Array.from({ length: 2 * 1536 }, (_, i) => (x[3 * i]! + x[3 * i + 1]! + x[3 * i + 2]!) / 3), 'triples');
  });
  it('globalAvgPool of a 40x36 plane (two stages over 36 bins)', async () => {
    const rt = await gpuRuntime();
    const x = randomData(2 * 1440, 63, -1, 3);
    const y = await rt.tidyAsync(async () => globalAvgPool(rt.tensor(x, [1, 2, 40, 36])).read());
    const mean = (k: number) => x.slice(k * 1440, (k + 1) * 1440).reduce((a, b) => a + b, 0) / 1440;
    assertClose(y, [mean(0), mean(1)], 'plane means');
    await gradCheck(rt, ([t]) => globalAvgPool(t!), [{ data: x, shape: [1, 2, 40, 36] }]);
  });
  it('maxPool2d without autograd keeps no argmax and matches the recorded path', async () => {
    const rt = await gpuRuntime();
    const x = randomData(2 * 3 * 9 * 9, 62);
    const plain = await rt.tidyAsync(async () => rt.noGrad(() => maxPool2d(rt.tensor(x, [2, 3, 9, 9], true), { kernel: 3, stride: 2, padding: 1 })).read());
    const recorded = await rt.tidyAsync(async () => maxPool2d(rt.tensor(x, [2, 3, 9, 9], true), { kernel: 3, stride: 2, padding: 1 }).read());
    expect(plain).toEqual(recorded);
  });
});

describe('pool: errors', () => {
  it('names the op, the shapes and the fix', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
      expect(() => maxPool2d(x, { kernel: 3, stride: 2, padding: 2 })).toThrow(
        /maxPool2d x\[2, 3, 4, 4\] kernel 3 stride 2 padding 2: padding must be at most half the kernel size/,
      );
      expect(() => avgPool2d(x, { kernel: 5, stride: 1 })).toThrow(/avgPool2d x\[2, 3, 4, 4\] kernel 5 .*window does not fit/);
      expect(() => maxPool2d(x, { kernel: 2, stride: 0 })).toThrow(/kernel and stride must be integers >= 1/);
      expect(() => maxPool2d(x.reshape([6, 4, 4]), { kernel: 2, stride: 2 })).toThrow(/x\[6, 4, 4\].*x must be \[N, C, H, W\]/);
      expect(() => globalAvgPool(x.reshape([6, 16]))).toThrow(/globalAvgPool needs x of shape \[N, C, H, W\], got \[6, 16\]/);
      expect(() => adaptiveAvgPool1d(x, 0)).toThrow(/adaptiveAvgPool1d x\[2, 3, 4, 4\] -> 0: the output size must be an integer >= 1/);
    });
  });
});
