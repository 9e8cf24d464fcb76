import { describe, expect, it } from 'vitest';
import { greaterEqual } from '../src/ops/elementwise.ts';
import { sum } from '../src/ops/reduce.ts';
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
  for (const c of loadGolden('select').filter((g) => g.op === 'quantile')) {
    it(`${c.name} (quantileTensor, on the device)`, async () => {
      const rt = await gpuRuntime();
      const got = await rt.tidyAsync(async () => {
        const x = rt.tensor(c.inputs.x!.data, c.inputs.x!.shape);
        const out: number[] = [];
        for (const q of c.args.qs as number[]) {
          const t = S.quantileTensor(x, q);
          expect(t.shape).toEqual([1]);
          out.push((await t.read())[0]!);
        }
        return out;
      });
      // f32 interpolation like torch.quantile's own on float32: the last bit may differ from a float64 lerp.
      assertClose(got, c.output.data, c.name, { rtol: 2e-7, atol: 1e-45 });
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
    const [got, onDevice] = await withLimits(rt, { maxStorageBufferBindingSize: 4096 }, () =>
      rt.tidyAsync(async () => {
        const x = rt.tensor(data, [5000]);
        return [await S.quantile(x, 0.3, { method: 'gpu' }), (await S.quantileTensor(x, 0.3).read())[0]!];
      }),
    );
    expect(got).toBeCloseTo(refQuantile(ref, 0.3), 12);
    expect(onDevice).toBeCloseTo(refQuantile(ref, 0.3), 6);
  });

  it('quantileTensor queues without a readback and feeds a device-side mask (greaterEqual)', async () => {
    const rt = await gpuRuntime();
    const n = 70007;
    const data = randomData(n, 23, -3, 3);
    const ref = sorted(data);
    await rt.tidyAsync(async () => {
      const x = rt.tensor(data, [7, 10001]);
      const before = rt.readbackCount;
      const t = S.quantileTensor(x, 0.999);
      const mask = greaterEqual(x, t);
      const count = sum(mask);
      expect(rt.readbackCount).toBe(before);
      const threshold = (await t.read())[0]!;
      expect(threshold).toBeCloseTo(refQuantile(ref, 0.999), 5);
      // Distinct values: the threshold lies strictly between ranks lo and lo + 1 (lo = floor(0.999 (n - 1))), so
      // exactly the n - 1 - lo values above rank lo pass.
      expect((await count.read())[0]).toBe(data.filter((v) => v >= threshold).length);
      expect((await count.read())[0]).toBe(n - 1 - Math.floor(0.999 * (n - 1)));
      // A NaN anywhere gives a NaN threshold, and NaN compares false, so the mask is empty.
      const nan = rt.tensor([1, NaN, 3, 4], [4]);
      const tn = S.quantileTensor(nan, 0.5);
      expect((await tn.read())[0]).toBeNaN();
      expect(Array.from(await greaterEqual(nan, tn).read())).toEqual([0, 0, 0, 0]);
      // Integral positions return the element itself, infinite or not.
      const inf = rt.tensor([Infinity, -1, 0.5, -Infinity, 2], [5]);
      expect((await S.quantileTensor(inf, 0).read())[0]).toBe(-Infinity);
      expect((await S.quantileTensor(inf, 1).read())[0]).toBe(Infinity);
      expect((await S.quantileTensor(inf, 0.5).read())[0]).toBe(0.5);
    });
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
      expect(() => S.quantileTensor(x, -0.1)).toThrow(/quantileTensor x\[3\] q -0.1: q must be in \[0, 1\]/);
    });
  });
});
