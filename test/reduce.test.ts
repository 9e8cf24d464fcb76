import { describe, expect, it } from 'vitest';
import * as R from '../src/ops/reduce.ts';
import { backward } from '../src/runtime/autograd.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { assertClose, checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData } from './helpers/gpu.ts';
import { withLimits } from './helpers/limits.ts';

type Op = (i: Record<string, Tensor>, a: Record<string, unknown>) => Tensor;
const axes = (a: Record<string, unknown>) => a.axes as number[] | undefined;
const ops: Record<string, Op> = {
  sum: ({ x }, a) => R.sum(x!, axes(a), a.keepDims as boolean),
  mean: ({ x }, a) => R.mean(x!, axes(a), a.keepDims as boolean),
  max: ({ x }, a) => R.max(x!, axes(a), a.keepDims as boolean),
  softmax: ({ x }, a) => R.softmax(x!, a.axis as number),
  logSoftmax: ({ x }, a) => R.logSoftmax(x!, a.axis as number),
  l2Normalize: ({ x }, a) => R.l2Normalize(x!, a.axis as number, a.eps as number),
};

describe('reduce: PyTorch golden', () => {
  for (const c of loadGolden('reduce')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, ops[c.op]!);
    });
  }
});

describe('reduce: finite-difference gradients', () => {
  const cases: Array<[string, (x: Tensor) => Tensor, number[]]> = [
    ['sum axes 0,2', (x) => R.sum(x, [0, 2]), [3, 4, 5]],
    ['mean axis 1 keepDims', (x) => R.mean(x, [1], true), [3, 4, 5]],
    ['max axes 0,2', (x) => R.max(x, [0, 2]), [3, 4, 5]],
    ['max all', (x) => R.max(x), [3, 4, 5]],
    ['softmax axis 1', (x) => R.softmax(x, 1), [2, 5, 3]],
    ['logSoftmax axis 0', (x) => R.logSoftmax(x, 0), [4, 3]],
    ['l2Normalize axis 1', (x) => R.l2Normalize(x, 1), [2, 6, 3]],
  ];
  for (const [name, f, shape] of cases) {
    it(name, async () => {
      const rt = await gpuRuntime();
      const n = shape.reduce((p, q) => p * q, 1);
      await gradCheck(rt, ([x]) => f(x!), [{ data: randomData(n, n), shape }], { eps: 1e-3 });
    });
  }
});

/** Float64 reference sums of the [A, K, B] view of `data` along K. */
function cpuSum(data: Float32Array, a: number, k: number, b: number): Float64Array {
  const out = new Float64Array(a * b);
  for (let i = 0; i < a; i++) for (let j = 0; j < k; j++) for (let l = 0; l < b; l++) out[i * b + l]! += data[(i * k + j) * b + l]!;
  return out;
}

describe('reduce: long lines (multi-pass)', () => {
  it('sums and means 2^21 + 37 elements (three passes)', async () => {
    const rt = await gpuRuntime();
    const n = (1 << 21) + 37;
    // Non-negative values: the f32 result is compared relative to a sum without cancellation.
    const data = randomData(n, 11, 0, 1);
    const expected = cpuSum(data, 1, n, 1)[0]!;
    const [s, m] = await rt.tidyAsync(async () => {
      const x = rt.tensor(data, [n]);
      return Promise.all([R.sum(x).read(), R.mean(x).read()]);
    });
    assertClose(s, [expected], 'sum');
    assertClose(m, [expected / n], 'mean');
  });

  it('reduces the middle axis of [3, 20001, 2] (two passes)', async () => {
    const rt = await gpuRuntime();
    const shape = [3, 20001, 2];
    const data = randomData(3 * 20001 * 2, 12, 0, 1);
    const got = await rt.tidyAsync(async () => R.sum(rt.tensor(data, shape), [1]).read());
    assertClose(got, cpuSum(data, 3, 20001, 2), 'sum axis 1');
  });

  it('folds, scatters and normalises on a folded 2-D workgroup grid', async () => {
    const rt = await gpuRuntime();
    const shape = [1500, 3];
    const data = randomData(4500, 16, 0, 1);
    const [s, soft, grad] = await withLimits(rt, { maxComputeWorkgroupsPerDimension: 5 }, () =>
      rt.tidyAsync(async () => {
        const x = rt.tensor(data, shape, true);
        const m = R.max(x, [1]);
        backward(m, rt.tensor(new Float32Array(1500).fill(1), [1500]));
        return Promise.all([R.sum(x, [1]).read(), R.softmax(x, 0).read(), x.grad!.read()]);
      }),
    );
    assertClose(s, cpuSum(data, 1500, 3, 1), 'sum');
    let col0 = 0;
    for (let i = 0; i < 1500; i++) col0 += soft[i * 3]!;
    expect(col0).toBeCloseTo(1, 4);
    for (let i = 0; i < 1500; i++) {
      const row = Array.from(data.subarray(i * 3, i * 3 + 3));
      expect(Array.from(grad.subarray(i * 3, i * 3 + 3))).toEqual(row.map((v) => (v === Math.max(...row) ? 1 : 0)));
    }
  });

  it('routes the max gradient to the first of tied maxima across threads, chunks and passes', async () => {
    const rt = await gpuRuntime();
    for (const [shape, axis, stride] of [[[1 << 20], 0, 1], [[2, 50001, 3], 1, 3]] as const) {
      const n = shape.reduce((p, q) => p * q, 1);
      const data = randomData(n, 13);
      // Tied maxima at K positions 301, 556, 44999, 70001 fall into different parts, and a later pass meets the
      // partial holding 556 before the one holding 301, so merges must prefer the lower index, not the first seen.
      const k = shape[axis]!;
      for (const t of [301, 556, 44999, 70001].filter((p) => p < k)) data[t * stride] = 2;
      const grad = await rt.tidyAsync(async () => {
        const x = rt.tensor(data, [...shape], true);
        const y = R.max(x, [axis]);
        expect((await y.read())[0]).toBe(2);
        backward(y, rt.tensor(new Float32Array(y.size).fill(1), y.shape));
        return x.grad!.read();
      });
      expect(grad[301 * stride]).toBe(1);
      let total = 0;
      for (const g of grad) total += g;
      expect(total).toBe(n / k);
    }
  });
});

describe('reduce: special values and errors', () => {
  it('propagates NaN through max and sum', async () => {
    const rt = await gpuRuntime();
    const data = randomData(3000, 14);
    data[1777] = NaN;
    const [mx, s] = await rt.tidyAsync(async () => {
      const x = rt.tensor(data, [3000]);
      return Promise.all([R.max(x).read(), R.sum(x).read()]);
    });
    expect(mx[0]).toBeNaN();
    expect(s[0]).toBeNaN();
  });

  it('keeps or drops reduced dims and treats [] as no reduction', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.tensor(randomData(24, 15), [2, 3, 4]);
      expect(R.sum(x, [0, 2], true).shape).toEqual([1, 3, 1]);
      expect(R.mean(x, [-1]).shape).toEqual([2, 3]);
      expect(R.max(x).shape).toEqual([]);
      expect(R.sum(x, []).shape).toEqual([2, 3, 4]);
    });
  });

  it('throws naming the op and shape on bad axes', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.tensor(new Float32Array(6), [2, 3]);
      expect(() => R.sum(x, [2])).toThrow(/sum: axis 2 is out of range for shape \[2, 3\]/);
      expect(() => R.mean(x, [1, -1])).toThrow(/mean: axes \[1, -1\] repeat a dimension of shape \[2, 3\]/);
      expect(() => R.softmax(x, -3)).toThrow(/softmax: axis -3 is out of range/);
      expect(() => R.max(rt.tensor([], [2, 0]), [1])).toThrow(/max: cannot take the max over an empty dimension/);
    });
  });
});

describe('reduce: sqDiffChannelMean and absDiffChannelMean (the fused anomaly maps)', () => {
  // Against the composed ops they replace (each PyTorch-golden-checked): the fused kernel when H * W % 4 == 0,
  // the composed path otherwise; b's channel slice at an offset, as EfficientAD compares the student's halves.
  // A b of batch 1 (PyramidFlow's template) is compared with every image of a, as sub broadcasts it.
  for (const [h, w, nb] of [[4, 6, 2], [3, 5, 2], [4, 6, 1], [3, 5, 1]] as const) {
    for (const [name, elementOp] of [['sqDiffChannelMean', 'square'], ['absDiffChannelMean', 'abs']] as const) {
      it(`${name} matches mean(${elementOp}(sub(a, slice(b))), [1]) at ${h}x${w}, b batch ${nb}`, async () => {
        const rt = await gpuRuntime();
        const [n, c, cb, off] = [2, 5, 12, 4];
        const a = rt.tensor(randomData(n * c * h * w, 1, -2, 2), [n, c, h, w]);
        const b = rt.tensor(randomData(nb * cb * h * w, 2, -2, 2), [nb, cb, h, w]);
        const fused = await R[name](a, b, off).read();
        const E = await import('../src/ops/elementwise.ts');
        const { slice } = await import('../src/ops/layout.ts');
        const composed = await R.mean(E[elementOp](E.sub(a, slice(b, 1, off, off + c))), [1], true).read();
        assertClose(fused, composed, `${name} vs composed ops`, { rtol: 1e-5, atol: 1e-6 });
        expect(fused.length).toBe(n * h * w);
      });
    }
  }

  // The backward (b of a's shape): the composed ops' gradients (each golden- and finite-difference-checked) at
  // H * W % 4 == 0 (the kernel) and not (the composed fallback), and a finite-difference check of the kernel.
  for (const [h, w] of [[4, 6], [3, 5]] as const) {
    for (const [name, elementOp] of [['sqDiffChannelMean', 'square'], ['absDiffChannelMean', 'abs']] as const) {
      it(`${name} gradients match the composed ops at ${h}x${w}`, async () => {
        const rt = await gpuRuntime();
        const E = await import('../src/ops/elementwise.ts');
        const shape = [2, 3, h, w];
        const size = 2 * 3 * h * w;
        const grads = async (fused: boolean) => rt.tidyAsync(async () => {
          const a = rt.tensor(randomData(size, 71, -2, 2), shape, true);
          const b = rt.tensor(randomData(size, 72, -2, 2), shape, true);
          const y = fused ? R[name](a, b) : R.mean(E[elementOp](E.sub(a, b)), [1], true);
          backward(R.sum(E.mul(y, rt.tensor(randomData(2 * h * w, 73, -1, 1), [2, 1, h, w]))));
          return [await a.grad!.read(), await b.grad!.read()];
        });
        const [fused, composed] = [await grads(true), await grads(false)];
        assertClose(fused[0]!, composed[0]!, `${name} grad a`, { rtol: 1e-5, atol: 1e-6 });
        assertClose(fused[1]!, composed[1]!, `${name} grad b`, { rtol: 1e-5, atol: 1e-6 });
      });
    }
  }
  it('sqDiffChannelMean passes a finite-difference gradient check', async () => {
    const rt = await gpuRuntime();
    const data = (seed: number) => ({ data: randomData(2 * 3 * 4 * 4, seed, -1, 1), shape: [2, 3, 4, 4] });
    await gradCheck(rt, ([a, b]) => R.sqDiffChannelMean(a!, b!), [data(74), data(75)]);
  });

  it('names wrong shapes, missing channels and a recorded gradient', async () => {
    const rt = await gpuRuntime();
    const a = rt.tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
    expect(() => R.sqDiffChannelMean(a, rt.tensor(new Float32Array(2 * 3 * 4 * 2), [2, 3, 4, 2]))).toThrow(
      'texad: sqDiffChannelMean a[2, 3, 4, 4] b[2, 3, 4, 2] offset 0: b must have a\'s batch (or 1) and spatial size [2, *, 4, 4]');
    expect(() => R.sqDiffChannelMean(a, rt.tensor(new Float32Array(2 * 4 * 16), [2, 4, 4, 4]), 2)).toThrow(
      /channels 2\.\.4 of b do not exist \(b has 4\)/);
    const leaf = rt.tensor(new Float32Array(2 * 3 * 16), [2, 3, 4, 4], true);
    const wide = rt.tensor(new Float32Array(2 * 5 * 16), [2, 5, 4, 4]);
    expect(() => R.sqDiffChannelMean(leaf, wide, 1)).toThrow(/no backward for a channel slice or a broadcast b; for a loss use mean\(square\(sub\(a, slice\(b, 1, 1, 4\)\)\)\)/);
    expect(rt.noGrad(() => R.sqDiffChannelMean(leaf, wide, 1)).shape).toEqual([2, 1, 4, 4]);
    expect(() => R.absDiffChannelMean(leaf, rt.tensor(new Float32Array(3 * 16), [1, 3, 4, 4]))).toThrow(/absDiffChannelMean .*no backward for a channel slice or a broadcast b/);
  });
});
