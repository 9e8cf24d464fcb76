import { describe, expect, it } from 'vitest';
import { conv2d } from '../src/ops/conv2d.ts';
import { GEMM_VARIANTS, subgroupGemm, withGemmVariant } from '../src/ops/gemm.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData, type GoldenCase } from './helpers/gpu.ts';

const run = ({ x, weight, bias, residual }: Record<string, Tensor>, a: Record<string, unknown>): Tensor =>
  conv2d(x!, weight!, bias ?? null, {
    stride: a.stride as number,
    padding: a.padding as number,
    dilation: (a.dilation as number | undefined) ?? 1,
    groups: (a.groups as number | undefined) ?? 1,
    ...(a.relu ? { activation: 'relu' as const } : {}),
    ...(residual ? { residual } : {}),
  });

const cases = loadGolden('conv2d');

describe('conv2d: PyTorch golden, default variant', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, run);
    });
  }
});

describe('conv2d: PyTorch golden, every variant', () => {
  const picked = ['k3 s2 p2 n2', 'k7 s1 p3 n2', 'wide channels 3x3 s1 p1', 'inference residual relu', 'groups 2 dilation 2 k3 s1 p2'];
  const subset = picked.map((n) => cases.find((c) => c.name === n)).filter((c): c is GoldenCase => c !== undefined);
  it('picks every named case', () => expect(subset.length).toBe(picked.length));
  for (const v of GEMM_VARIANTS) {
    it(v.name, async (ctx) => {
      const rt = await gpuRuntime();
      // The subgroup variants exist on devices with subgroups of 8 lanes only (lavapipe has them).
      if (v.subgroups && !subgroupGemm(rt)) ctx.skip();
      for (const c of subset) await checkGoldenCase(rt, c, (i, a) => withGemmVariant(v.name, () => run(i, a)));
    });
  }
});

describe('conv2d: finite-difference gradients', () => {
  const geometries: Array<[string, number[], number[], number, number, number?, number?]> = [
    ['3x3 stride 1 pad 1', [2, 3, 6, 5], [4, 3, 3, 3], 1, 1],
    ['4x4 stride 2 pad 1', [1, 2, 9, 8], [3, 2, 4, 4], 2, 1],
    ['3x3 stride 2 pad 0', [1, 3, 7, 7], [2, 3, 3, 3], 2, 0],
    ['3x3 dilation 2 stride 2 pad 2', [1, 2, 9, 8], [3, 2, 3, 3], 2, 2, 2],
    ['3x3 groups 2 dilation 3 pad 1', [2, 4, 8, 7], [4, 2, 3, 3], 1, 1, 3, 2],
  ];
  for (const [name, xs, ws, stride, padding, dilation = 1, groups = 1] of geometries) {
    it(name, async () => {
      const rt = await gpuRuntime();
      const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
      await gradCheck(rt, ([x, w, b]) => conv2d(x!, w!, b!, { stride, padding, dilation, groups }), [
        { data: randomData(size(xs), 11), shape: xs },
        { data: randomData(size(ws), 12), shape: ws },
        { data: randomData(ws[0]!, 13), shape: [ws[0]!] },
      ], { eps: 1e-2, rtol: 1e-2 });
    });
  }
});

describe('conv2d: errors', () => {
  const tensors = async (...shapes: number[][]) => {
    const rt = await gpuRuntime();
    return shapes.map((s) => rt.tensor(new Float32Array(s.reduce((a, b) => a * b, 1)), s));
  };
  it('names the shapes on a channel mismatch', async () => {
    const [x, w] = await tensors([1, 3, 8, 8], [4, 2, 3, 3]);
    expect(() => conv2d(x!, w!, null)).toThrow(/conv2d x\[1, 3, 8, 8\] weight\[4, 2, 3, 3\]: x has 3 channels, so with groups 1 the weight needs 3 input channels, it has 2/);
  });
  it('rejects a kernel larger than the padded input', async () => {
    const [x, w] = await tensors([1, 1, 4, 4], [1, 1, 7, 7]);
    expect(() => conv2d(x!, w!, null, { padding: 1 })).toThrow(/7x7 kernel \(dilation 1\) does not fit the 4x4 input with padding 1/);
  });
  it('rejects bad stride, padding, bias, residual and activation', async () => {
    const [x, w, b, r] = await tensors([1, 2, 6, 6], [3, 2, 3, 3], [2], [1, 3, 5, 5]);
    expect(() => conv2d(x!, w!, null, { stride: 0 })).toThrow(/stride must be a positive integer, got 0/);
    expect(() => conv2d(x!, w!, null, { padding: 1.5 })).toThrow(/padding must be a non-negative integer, got 1.5/);
    expect(() => conv2d(x!, w!, null, { dilation: 0 })).toThrow(/dilation must be a positive integer, got 0/);
    expect(() => conv2d(x!, w!, null, { dilation: 3 })).toThrow(/3x3 kernel \(dilation 3\) does not fit the 6x6 input/);
    expect(() => conv2d(x!, w!, null, { groups: 2 })).toThrow(/3 output channels must both be multiples of groups 2/);
    expect(() => conv2d(x!, w!, null, { groups: 0 })).toThrow(/groups must be a positive integer, got 0/);
    expect(() => conv2d(x!, w!, b!)).toThrow(/bias must be \[3\]/);
    expect(() => conv2d(x!, w!, null, { residual: r! })).toThrow(/residual \[1, 3, 5, 5\] must match the output \[1, 3, 4, 4\]/);
    expect(() => conv2d(x!, w!, null, { activation: 'gelu' as 'relu' })).toThrow(/unsupported activation 'gelu'/);
  });
  it('names the op and the fix when a tensor exceeds one storage binding', async () => {
    const rt = await gpuRuntime();
    const [x, w] = await tensors([1, 4, 32, 32], [2, 4, 3, 3]);
    const saved = Object.getOwnPropertyDescriptor(rt.gpu, 'limits');
    Object.defineProperty(rt.gpu, 'limits', { value: { ...rt.limits, maxStorageBufferBindingSize: 4096 }, configurable: true });
    try {
      expect(() => rt.tidy(() => conv2d(x!, w!, null))).toThrow(
        /conv2d x\[1, 4, 32, 32\] weight\[2, 4, 3, 3\]: tensor \[1, 4, 32, 32\] is 16384 bytes.*use a smaller batch or input size/);
    } finally {
      if (saved) Object.defineProperty(rt.gpu, 'limits', saved);
    }
  });
  it('rejects inputs that are not NCHW', async () => {
    const [x, w] = await tensors([3, 8, 8], [4, 3, 3, 3]);
    expect(() => conv2d(x!, w!, null)).toThrow(/x must be \[N, C, H, W\]/);
  });
});
