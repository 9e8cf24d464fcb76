import { describe, expect, it } from 'vitest';
import { knnSquaredDistance } from '../src/ops/distance.ts';
import type { Runtime } from '../src/runtime/runtime.ts';
import { assertClose, gpuRuntime, loadGolden, randomData } from './helpers/gpu.ts';
import { withLimits } from './helpers/limits.ts';

/** Runs the search and reads back distances and indices. */
async function search(rt: Runtime, queries: ArrayLike<number>, bank: ArrayLike<number>, d: number, k: number) {
  return rt.tidyAsync(async () => {
    const { distances, indices } = knnSquaredDistance(
      rt.tensor(queries, [queries.length / d, d]),
      rt.tensor(bank, [bank.length / d, d]),
      k,
    );
    return { distances: await distances.read(), indices: await indices.read() };
  });
}

describe('distance: PyTorch golden (cdist ** 2 + topk)', () => {
  for (const c of loadGolden('distance')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      const k = c.args.k as number;
      const d = c.inputs.queries!.shape[1]!;
      const { distances, indices } = await search(rt, c.inputs.queries!.data, c.inputs.bank!.data, d, k);
      const q = distances.length / k;
      const rows = (j: number) => Array.from({ length: q * k }, (_, i) => c.output.data[Math.floor(i / k) * 2 * k + j * k + (i % k)]!);
      assertClose(distances, rows(0), `${c.name} distances`);
      expect(Array.from(indices)).toEqual(rows(1));
    });
  }
});

describe('distance: ties, precision, sizes and errors', () => {
  it('lists tied rows by ascending index across bank slices', async () => {
    const rt = await gpuRuntime();
    const [m, d] = [800, 3];
    const bank = randomData(m * d, 31, 5, 9);
    // Three copies of one row, in three different slices, and the query next to them.
    for (const row of [700, 5, 300]) bank.set([0.5, 0.25, 0], row * d);
    const { distances, indices } = await search(rt, [0.5, 0.25, 0.125], bank, d, 4);
    expect(Array.from(indices.slice(0, 3))).toEqual([5, 300, 700]);
    expect(Array.from(distances.slice(0, 3))).toEqual([0.015625, 0.015625, 0.015625]);
    expect(distances[3]).toBeGreaterThan(0.015625);
  });

  it('keeps near-duplicate distances accurate at large norms (direct form)', async () => {
    const rt = await gpuRuntime();
    const d = 64;
    const bank = randomData(d, 32, -1000, 1000);
    const query = bank.map((v, i) => v + 1e-3 * (((i * 7) % 5) - 2));
    let expected = 0;
    for (let i = 0; i < d; i++) expected += (query[i]! - bank[i]!) ** 2;
    const { distances } = await search(rt, query, bank, d, 1);
    // The expanded form |q|^2 - 2 q.b + |b|^2 would be off by ~|q|^2 * 2^-24 ~ 1e-1 here.
    assertClose(distances, [expected], 'distance', { rtol: 1e-4, atol: 0 });
  });

  it('runs on a folded 2-D workgroup grid', async () => {
    const rt = await gpuRuntime();
    const [q, m, d] = [500, 12, 3];
    const queries = randomData(q * d, 33);
    const bank = randomData(m * d, 34);
    const { indices } = await withLimits(rt, { maxComputeWorkgroupsPerDimension: 3 }, () => search(rt, queries, bank, d, 2));
    for (const i of [0, 257, 499]) {
      const dist = Array.from({ length: m }, (_, j) => {
        let s = 0;
        for (let c = 0; c < d; c++) s += (queries[i * d + c]! - bank[j * d + c]!) ** 2;
        return [s, j] as const;
      }).sort((a, b) => a[0] - b[0]);
      expect([indices[2 * i], indices[2 * i + 1]]).toEqual([dist[0]![1], dist[1]![1]]);
    }
  });

  it('throws naming the op, shapes and limits', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const q = rt.tensor(new Float32Array(6), [2, 3]);
      const b = rt.tensor(new Float32Array(12), [4, 3]);
      expect(() => knnSquaredDistance(q, rt.tensor(new Float32Array(8), [4, 2]), 1)).toThrow(
        /knnSquaredDistance queries\[2, 3\] bank\[4, 2\] k 1: need queries \[Q, D\] and bank \[M, D\] with the same D/,
      );
      expect(() => knnSquaredDistance(q, b, 5)).toThrow(/k must be an integer in 1..4 \(at most 16 and the bank size\)/);
      const trainable = rt.tensor(new Float32Array(6), [2, 3], true);
      expect(() => knnSquaredDistance(trainable, b, 1)).toThrow(/has no backward; run it under rt.noGrad\(\)/);
    });
  });
});
