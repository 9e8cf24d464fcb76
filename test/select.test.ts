import { describe, expect, it } from 'vitest';
import * as S from '../src/ops/select.ts';
import { assertClose, gpuRuntime, loadGolden, randomData } from './helpers/gpu.ts';
import { withLimits } from './helpers/limits.ts';

const methods = ['gpu', 'cpu'] as const;

describe('select: PyTorch golden', () => {
  for (const c of loadGolden('select')) for (const method of methods) {
    it(`${c.name} (${method})`, async () => {
      const rt = await gpuRuntime();
      const got = await rt.tidyAsync(async () => {
        const x = rt.tensor(c.inputs.x!.data, c.inputs.x!.shape);
        const out: number[] = [];
        if (c.op === 'quantile') for (const q of c.args.qs as number[]) out.push(await S.quantile(x, q, { method }));
        else for (const k of c.args.ks as number[]) out.push(await S.topKMean(x, k, { method }));
        return out;
      });
      // Selection is exact and interpolates in float64 like the reference, whose output the fixture stores
      // rounded to f32. topKMean sums in f32: its error scales with the data, so keep the default floor.
      assertClose(got, c.output.data, c.name, c.op === 'quantile' ? { rtol: 1e-7, atol: 1e-45 } : {});
    });
  }
});

/** Sorted copy for references. */
const sorted = (data: Float32Array) => Float64Array.from(data).sort();

/** The linearly interpolated q-quantile of ascending values. */
function refQuantile(ref: Float64Array, q: number): number {
  const pos = q * (ref.length - 1);
  const lo = Math.floor(pos);
  return lo === pos ? ref[lo]! : ref[lo]! + (pos - lo) * (ref[lo + 1]! - ref[lo]!);
}

describe('select: sizes and special values', () => {
  for (const method of methods) it(`matches a sorted reference on 2^20 + 5 values with many ties (${method})`, async () => {
    const rt = await gpuRuntime();
    const n = (1 << 20) + 5;
    const data = randomData(n, 21, -4, 4).map((v) => Math.round(v * 64) / 64);
    const ref = sorted(data);
    const [q, top] = await rt.tidyAsync(async () => {
      const x = rt.tensor(data, [n]);
      const qs: number[] = [];
      for (const q of [0, 0.5, 0.9, 0.999, 1]) qs.push(await S.quantile(x, q, { method }));
      return [qs, await S.topKMean(x, 31457, { method })] as const;
    });
    [0, 0.5, 0.9, 0.999, 1].forEach((qq, i) => expect(q[i]).toBeCloseTo(refQuantile(ref, qq), 12));
    let s = 0;
    for (let i = n - 31457; i < n; i++) s += ref[i]!;
    expect(top).toBeCloseTo(s / 31457, 5);
  });

  it('histograms tensors larger than one storage binding in chunks', async () => {
    const rt = await gpuRuntime();
    const data = randomData(5000, 22);
    const ref = sorted(data);
    const got = await withLimits(rt, { maxStorageBufferBindingSize: 4096 }, () =>
      rt.tidyAsync(async () => S.quantile(rt.tensor(data, [5000]), 0.3, { method: 'gpu' })),
    );
    expect(got).toBeCloseTo(refQuantile(ref, 0.3), 12);
  });

  for (const method of methods) it(`handles infinities, signed zeros and NaN (${method})`, async () => {
    const rt = await gpuRuntime();
    await rt.tidyAsync(async () => {
      const inf = rt.tensor([Infinity, -1, 0.5, -Infinity, 2], [5]);
      expect(await S.quantile(inf, 0, { method })).toBe(-Infinity);
      expect(await S.quantile(inf, 1, { method })).toBe(Infinity);
      expect(await S.quantile(inf, 0.5, { method })).toBe(0.5);
      // Between 2 and inf, torch.lerp's formula computes inf - inf: NaN, as in torch.quantile.
      expect(await S.quantile(inf, 0.9, { method })).toBeNaN();
      // -0 sorts just below +0 (equal values either way).
      expect((await S.quantile(rt.tensor([0, -0, 0, -0], [4]), 0.5, { method })) === 0).toBe(true);
      const nan = rt.tensor([1, NaN, 3], [3]);
      expect(await S.quantile(nan, 0.5, { method })).toBeNaN();
      expect(await S.topKMean(nan, 1, { method })).toBeNaN();
    });
  });

  it('quickselects sorted, reversed, constant and organ-pipe inputs exactly (cpu)', async () => {
    const rt = await gpuRuntime();
    const n = 4099;
    const patterns = [(i: number) => i, (i: number) => -i, () => 3, (i: number) => Math.min(i, n - i), (i: number) => i % 7];
    for (const f of patterns) {
      const data = Float32Array.from({ length: n }, (_, i) => f(i));
      const ref = sorted(data);
      const got = await rt.tidyAsync(async () => {
        const x = rt.tensor(data, [n]);
        return Promise.all([0, 0.01, 0.5, 0.75, 1].map((q) => S.quantile(x, q, { method: 'cpu' })));
      });
      [0, 0.01, 0.5, 0.75, 1].forEach((q, i) => expect(got[i]).toBeCloseTo(refQuantile(ref, q), 9));
    }
  });

  it('throws naming the op, shape and valid range', async () => {
    const rt = await gpuRuntime();
    await rt.tidyAsync(async () => {
      const x = rt.tensor([1, 2, 3], [3]);
      await expect(S.quantile(x, 1.5)).rejects.toThrow(/quantile x\[3\] q 1.5: q must be in \[0, 1\]/);
      await expect(S.topKMean(x, 4)).rejects.toThrow(/topKMean x\[3\] k 4: k must be an integer in 1..3/);
      await expect(S.quantile(rt.tensor([], [0]), 0.5)).rejects.toThrow(/quantile: x\[0\] is empty/);
      await expect(S.quantile(x, 0.5, { method: 'tpu' as 'gpu' })).rejects.toThrow(/method must be 'gpu' or 'cpu', got 'tpu'/);
    });
  });
});
