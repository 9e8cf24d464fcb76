import { describe, expect, it } from 'vitest';
import { GEMM_VARIANTS, subgroupGemm, withGemmVariant } from '../src/ops/gemm.ts';
import { linear, matmul } from '../src/ops/matmul.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData, type GoldenCase } from './helpers/gpu.ts';

type Op = (i: Record<string, Tensor>, a: Record<string, unknown>) => Tensor;
const ops: Record<string, Op> = {
  matmul: ({ a, b }, o) => matmul(a!, b!, { transA: o.transA as boolean, transB: o.transB as boolean }),
  linear: ({ x, weight, bias }) => linear(x!, weight!, bias ?? null),
};

const cases = loadGolden('matmul');

describe('matmul: PyTorch golden, default variant', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, ops[c.op]!);
    });
  }
});

// Every variant must agree with PyTorch, whichever the autotuner picks on a given adapter. A handful of
// cases per variant covers row/column tails, transposes, broadcasts, split-K and single-column outputs.
describe('matmul: PyTorch golden, every variant', () => {
  const picked = ['19x37 * 37x26', 'transA transB', 'broadcast a batch 1', 'skinny output 40x6 * 6x3',
    'long reduction (split-K) 3x150 * 150x5', 'linear 17x33 -> 19', 'linear one output feature 20x9 -> 1'];
  const subset = picked.map((n) => cases.find((c) => c.name === n)).filter((c): c is GoldenCase => c !== undefined);
  it('picks every named case', () => expect(subset.length).toBe(picked.length));
  for (const v of GEMM_VARIANTS) {
    it(v.name, async (ctx) => {
      const rt = await gpuRuntime();
      // The subgroup variants exist on devices with subgroups of 8 lanes only (lavapipe has them).
      if (v.subgroups && !subgroupGemm(rt)) ctx.skip();
      for (const c of subset) await checkGoldenCase(rt, c, (i, a) => withGemmVariant(v.name, () => ops[c.op]!(i, a)));
    });
  }
});

// Every variant sums each output in reduction order and split-K counts 64 x 64 tiles whatever the variant, so the
// variant the autotuner or the runtime picks cannot change a result: Node (subgroup tiles) and Deno (none) train
// to the same bits.
describe('matmul: every variant gives the same bits', () => {
  const shapes: Array<[string, number, number, number]> = [['long reduction, split-K', 5, 3000, 7], ['wide', 70, 33, 130], ['one column', 40, 17, 1]];
  for (const [name, m, k, n] of shapes) {
    it(name, async () => {
      const rt = await gpuRuntime();
      const a = randomData(m * k, 21);
      const b = randomData(k * n, 22);
      const results = new Map<string, Float32Array>();
      for (const v of GEMM_VARIANTS) {
        if (v.subgroups && !subgroupGemm(rt)) continue;
        results.set(v.name, await rt.tidyAsync(async () => withGemmVariant(v.name, () => matmul(rt.tensor(a, [m, k]), rt.tensor(b, [k, n]))).read()));
      }
      const [first, reference] = [...results][0]!;
      for (const [name, got] of results) expect(Array.from(got), `${name} vs ${first}`).toEqual(Array.from(reference));
    });
  }
});

describe('matmul: finite-difference gradients', () => {
  it('batched, transposed, broadcast', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([a, b]) => matmul(a!, b!, { transA: true }), [
      { data: randomData(1 * 6 * 5, 1), shape: [1, 6, 5] },
      { data: randomData(3 * 6 * 7, 2), shape: [3, 6, 7] },
    ], { eps: 1e-2, rtol: 1e-2 });
  });
  it('transB with a skinny output', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([a, b]) => matmul(a!, b!, { transB: true }), [
      { data: randomData(30 * 9, 3), shape: [30, 9] },
      { data: randomData(2 * 9, 4), shape: [2, 9] },
    ], { eps: 1e-2, rtol: 1e-2 });
  });
  it('linear with bias', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x, w, b]) => linear(x!, w!, b!), [
      { data: randomData(2 * 5 * 11, 5), shape: [2, 5, 11] },
      { data: randomData(6 * 11, 6), shape: [6, 11] },
      { data: randomData(6, 7), shape: [6] },
    ], { eps: 1e-2, rtol: 1e-2 });
  });
});

describe('matmul: large grids', () => {
  it('splits rows over several dispatches past the workgroup-count limit', async () => {
    const rt = await gpuRuntime();
    const a = randomData(40 * 6, 8);
    const b = randomData(6 * 12, 9);
    const expected = new Float32Array(40 * 12);
    for (let i = 0; i < 40; i++) for (let j = 0; j < 12; j++) for (let k = 0; k < 6; k++) expected[i * 12 + j] += a[i * 6 + k]! * b[k * 12 + j]!;
    // Pretend the device allows 2 workgroups per dimension: 40 rows in tiles of 8 need 3 dispatches.
    const saved = Object.getOwnPropertyDescriptor(rt.gpu, 'limits');
    Object.defineProperty(rt.gpu, 'limits', { value: { ...rt.limits, maxComputeWorkgroupsPerDimension: 2 }, configurable: true });
    try {
      const y = await rt.tidyAsync(async () =>
        withGemmVariant('r8x8', () => matmul(rt.tensor(a, [40, 6]), rt.tensor(b, [6, 12]))).read());
      for (let i = 0; i < y.length; i++) expect(y[i]).toBeCloseTo(expected[i]!, 4);
    } finally {
      if (saved) Object.defineProperty(rt.gpu, 'limits', saved);
    }
  });
});

describe('matmul: errors', () => {
  const shapes = async (...s: number[][]) => {
    const rt = await gpuRuntime();
    return s.map((shape) => rt.tensor(new Float32Array(shape.reduce((x, y) => x * y, 1)), shape));
  };
  it('names both shapes when inner dimensions differ', async () => {
    const [a, b] = await shapes([2, 3], [4, 5]);
    expect(() => matmul(a!, b!)).toThrow(/matmul a\[2, 3\] b\[4, 5\]: inner dimensions differ \(3 vs 4\)/);
  });
  it('rejects batches that do not broadcast', async () => {
    const [a, b] = await shapes([2, 3, 4], [3, 4, 5]);
    expect(() => matmul(a!, b!)).toThrow(/batch sizes 2 and 3 do not broadcast/);
  });
  it('rejects unsupported ranks', async () => {
    const [a, b] = await shapes([2, 2, 3, 4], [4, 5]);
    expect(() => matmul(a!, b!)).toThrow(/a must have rank 2 or 3, got \[2, 2, 3, 4\]/);
  });
  it('linear checks features and bias', async () => {
    const [x, w, b] = await shapes([3, 5], [4, 6], [3]);
    expect(() => linear(x!, w!, null)).toThrow(/x has 5 features but weight expects 6/);
    const [w2] = await shapes([4, 5]);
    expect(() => linear(x!, w2!, b!)).toThrow(/bias must be \[4\]/);
  });
  it('refuses unknown variants', () => {
    expect(() => withGemmVariant('r99', () => 0)).toThrow(/unknown gemm variant 'r99'/);
  });
});
