import { describe, expect, it } from 'vitest';
import * as L from '../src/ops/layout.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData } from './helpers/gpu.ts';
import { withLimits } from './helpers/limits.ts';

type Op = (i: Record<string, Tensor>, a: Record<string, unknown>) => Tensor;
const ops: Record<string, Op> = {
  concat: (i, a) => L.concat((a.inputs as string[]).map((k) => i[k]!), a.axis as number),
  split: ({ x }, a) => L.split(x!, a.sizes as number[], a.axis as number)[a.piece as number]!,
  slice: ({ x }, a) => L.slice(x!, a.axis as number, a.start as number, a.end as number),
  permute: ({ x }, a) => L.permute(x!, a.dims as number[]),
  gatherChannels: ({ x }, a) => L.gatherChannels(x!, Uint32Array.from(a.index as number[])),
  pad2d: ({ x }, a) => L.pad2d(x!, a.pads as [number, number, number, number], a.value as number),
};

describe('layout: PyTorch golden', () => {
  for (const c of loadGolden('layout')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, ops[c.op]!);
    });
  }
});

const input = (shape: number[], seed: number) => ({ data: randomData(shape.reduce((p, q) => p * q, 1), seed), shape });

describe('layout: finite-difference gradients', () => {
  it('concat', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([a, b]) => L.concat([a!, b!], 1), [input([2, 3, 4], 1), input([2, 2, 4], 2)]);
  });
  it('split (both pieces used)', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => {
      const [p, q] = L.split(x!, [2, 2], 2);
      return L.concat([q!, p!], 0);
    }, [input([2, 3, 4], 3)]);
  });
  it('slice', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => L.slice(x!, 0, 1, 3), [input([4, 5], 4)]);
  });
  it('permute', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => L.permute(x!, [2, 0, 3, 1]), [input([2, 3, 4, 2], 5)]);
  });
  it('gatherChannels with repeats', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => L.gatherChannels(x!, [1, 1, 0, 3, 1]), [input([2, 4, 3], 6)]);
  });
  it('pad2d with crop', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x]) => L.pad2d(x!, [2, -1, -1, 3], 0.5), [input([2, 4, 5], 7)]);
  });
});

describe('layout: sizes and errors', () => {
  it('permutes, gathers and pads on a folded 2-D workgroup grid', async () => {
    const rt = await gpuRuntime();
    // With 7 workgroups per dimension, a few thousand elements already need a 2-D grid.
    await withLimits(rt, { maxComputeWorkgroupsPerDimension: 7 }, async () => {
      const [n, c] = [1001, 5];
      const data = randomData(n * c, 8);
      const [t, g, p] = await rt.tidyAsync(async () => {
        const x = rt.tensor(data, [n, c]);
        return Promise.all([L.permute(x, [1, 0]).read(), L.gatherChannels(x, [4, 0]).read(), L.pad2d(x, [1, 0, 0, 0]).read()]);
      });
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < c; j++) expect(t[j * n + i]).toBe(data[i * c + j]);
        expect([g[2 * i], g[2 * i + 1]]).toEqual([data[i * c + 4], data[i * c]]);
        expect(p[i * (c + 1)]).toBe(0);
        expect(p[i * (c + 1) + c]).toBe(data[i * c + c - 1]);
      }
    });
  });

  it('throws naming the op, shapes and fix', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const a = rt.tensor(new Float32Array(6), [2, 3]);
      const b = rt.tensor(new Float32Array(8), [2, 4]);
      expect(() => L.concat([a, b], 0)).toThrow(/concat \[2, 3\], \[2, 4\] axis 0: shapes must match except along axis 0/);
      expect(() => L.concat([], 0)).toThrow(/concat needs at least one tensor/);
      expect(() => L.split(a, [1, 1], 1)).toThrow(/split x\[2, 3\] axis 1: sizes \[1, 1\] must .* adding up to 3/);
      expect(() => L.slice(a, 1, 2, 5)).toThrow(/slice x\[2, 3\] axis 1 \[2, 5\): need integers 0 <= start <= end <= 3/);
      expect(() => L.permute(a, [0, 0])).toThrow(/permute x\[2, 3\] dims \[0, 0\]: dims must be a permutation of 0..1/);
      expect(() => L.gatherChannels(a, [0, 3])).toThrow(/gatherChannels x\[2, 3\] index\[2\]: index\[1\] = 3 is not a channel/);
      expect(() => L.pad2d(a, [0, 0, -2, -1])).toThrow(/pad2d x\[2, 3\] pads \[0, 0, -2, -1\]: need 4 integers/);
    });
  });
});
