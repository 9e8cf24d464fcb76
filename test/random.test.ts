import { describe, expect, it } from 'vitest';
import { GpuRng, cpuNormal, cpuUniform, dropout, philox4x32 } from '../src/ops/random.ts';
import { backward } from '../src/runtime/autograd.ts';
import type { Runtime } from '../src/runtime/runtime.ts';
import { assertClose, gpuRuntime, gradCheck, randomData } from './helpers/gpu.ts';

function moments(v: Float32Array): { mean: number; variance: number } {
  let s = 0;
  for (const x of v) s += x;
  const mean = s / v.length;
  let q = 0;
  for (const x of v) q += (x - mean) ** 2;
  return { mean, variance: q / v.length };
}

/** Runs `fn` with a pretend binding limit of 1 KiB, so the chunked path runs on any device. */
async function withSmallBindings<T>(rt: Runtime, fn: () => Promise<T>): Promise<T> {
  const saved = Object.getOwnPropertyDescriptor(rt.gpu, 'limits')!;
  Object.defineProperty(rt.gpu, 'limits', { value: { ...rt.limits, maxStorageBufferBindingSize: 1024 }, configurable: true });
  try {
    return await fn();
  } finally {
    Object.defineProperty(rt.gpu, 'limits', saved);
  }
}

describe('random: Philox4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    const hex = (w: number[]) => w.map((x) => x.toString(16).padStart(8, '0')).join(' ');
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    expect(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toBe(
      '408f276d 41c83b0e a20bc7c6 6d5451fd',
    );
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe(
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    );
  });
});

describe('random: GPU equals the CPU twin', () => {
  it('uniform [0, 1) bit for bit, odd sizes, several seeds and streams', async () => {
    const rt = await gpuRuntime();
    for (const [seed, n] of [[0, 1], [7, 5], [123456789, 4099], [2 ** 40 + 5, 63]] as const) {
      const rng = new GpuRng(rt, seed);
      for (let stream = 0; stream < 2; stream++) {
        const got = await rt.tidyAsync(() => rng.uniform([n]).read());
        expect(Array.from(got)).toEqual(Array.from(cpuUniform(seed, stream, n)));
      }
    }
  });

  it('uniform [lo, hi) to within one f32 rounding', async () => {
    const rt = await gpuRuntime();
    const got = await rt.tidyAsync(() => new GpuRng(rt, 3).uniform([7, 11], -2.5, 0.75).read());
    assertClose(got, cpuUniform(3, 0, 77, -2.5, 0.75), 'uniform[-2.5, 0.75)', { rtol: 2 ** -23, atol: 2 ** -22 });
    for (const v of got) expect(v >= -2.5 && v < 0.75).toBe(true);
  });

  it('normal to a few ulp (GPU log/sin/cos are f32)', async () => {
    const rt = await gpuRuntime();
    const got = await rt.tidyAsync(() => new GpuRng(rt, 11).normal([3, 333], 1.5, 0.5).read());
    // 2e-6 absolute on values of size ~1: a few f32 ulp; transcendental functions differ between drivers.
    assertClose(got, cpuNormal(11, 0, 999, 1.5, 0.5), 'normal', { rtol: 4e-6, atol: 2e-6 });
  });

  it('does not depend on how the tensor is split across bindings', async () => {
    const rt = await gpuRuntime();
    const n = 1000;
    const whole = await rt.tidyAsync(() => new GpuRng(rt, 5).normal([n]).read());
    const split = await withSmallBindings(rt, () => rt.tidyAsync(() => new GpuRng(rt, 5).normal([n]).read()));
    expect(Array.from(split)).toEqual(Array.from(whole));
  });
});

describe('random: reproducibility and streams', () => {
  it('same seed and call order give identical tensors; streams and forks differ', async () => {
    const rt = await gpuRuntime();
    const draws = (seed: number) =>
      rt.tidyAsync(async () => {
        const rng = new GpuRng(rt, seed);
        const a = await rng.uniform([100]).read();
        const b = await rng.uniform([100]).read();
        const f = rng.fork();
        const c = await f.uniform([100]).read();
        const d = await rng.fork().uniform([100]).read();
        return [a, b, c, d].map((v) => Array.from(v));
      });
    const [first, second] = [await draws(42), await draws(42)];
    expect(second).toEqual(first);
    const [a, b, c, d] = first as [number[], number[], number[], number[]];
    for (const [x, y] of [[a, b], [a, c], [c, d], [b, d]] as const) expect(x.filter((v, i) => v === y[i]).length).toBeLessThan(3);
    expect(await rt.tidyAsync(async () => Array.from(await new GpuRng(rt, 43).uniform([100]).read()))).not.toEqual(a);
  });

  it('each call consumes one stream', async () => {
    const rt = await gpuRuntime();
    const rng = new GpuRng(rt, 9);
    rt.tidy(() => {
      rng.uniform([3]);
      rng.dropoutMask([3], 0.5);
      rng.fork();
    });
    expect(rng.stream).toBe(3);
  });
});

describe('random: statistics', () => {
  const n = 1 << 16;
  it('uniform mean 1/2, variance 1/12', async () => {
    const rt = await gpuRuntime();
    const { mean, variance } = moments(await rt.tidyAsync(() => new GpuRng(rt, 1).uniform([n]).read()));
    // 5 standard errors: sd(mean) = sqrt(1/12/n), sd(var) ~ sqrt(1/180/n).
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(5 * Math.sqrt(1 / 180 / n));
  });

  it('normal mean, variance and tails', async () => {
    const rt = await gpuRuntime();
    const v = await rt.tidyAsync(() => new GpuRng(rt, 2).normal([n], 3, 2).read());
    const { mean, variance } = moments(v);
    expect(Math.abs(mean - 3)).toBeLessThan(5 * Math.sqrt(4 / n));
    expect(Math.abs(variance - 4)).toBeLessThan(5 * 4 * Math.sqrt(2 / n));
    // P(|z| > 2) = 0.0455; its standard error at n = 65536 is 0.0008.
    const tail = v.filter((x) => Math.abs(x - 3) > 4).length / n;
    expect(Math.abs(tail - 0.0455)).toBeLessThan(0.004);
  });

  it('dropout mask keeps 1 - p of the elements, scaled by 1/(1-p)', async () => {
    const rt = await gpuRuntime();
    const p = 0.2;
    const m = await rt.tidyAsync(() => new GpuRng(rt, 3).dropoutMask([n], p).read());
    const kept = m.filter((x) => x !== 0);
    expect(kept.every((x) => x === Math.fround(1 / (1 - p)))).toBe(true);
    expect(Math.abs(kept.length / n - (1 - p))).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
  });
});

describe('random: dropout', () => {
  it('keeps exactly the elements whose uniform is >= p, forward and backward', async () => {
    const rt = await gpuRuntime();
    const p = 0.3;
    const shape = [3, 5, 7];
    const x = randomData(105, 1);
    const g = randomData(105, 2);
    const rng = new GpuRng(rt, 17);
    const u = cpuUniform(rng.key, rng.stream, 105);
    await rt.tidyAsync(async () => {
      const xt = rt.tensor(x, shape, true);
      const y = dropout(xt, p, rng);
      backward(y, rt.tensor(g, shape));
      const [yv, gv] = [await y.read(), await xt.grad!.read()];
      const s = Math.fround(1 / (1 - p));
      for (let i = 0; i < 105; i++) {
        const m = u[i]! >= p ? s : 0;
        expect(yv[i]).toBe(Math.fround(x[i]! * m));
        expect(gv[i]).toBe(Math.fround(g[i]! * m));
      }
    });
  });

  it('p = 0 is the identity and p = 1 gives zeros', async () => {
    const rt = await gpuRuntime();
    const x = randomData(10, 3);
    const rng = new GpuRng(rt, 1);
    expect(Array.from(await rt.tidyAsync(() => dropout(rt.tensor(x, [10]), 0, rng).read()))).toEqual(Array.from(x));
    const zeros = await rt.tidyAsync(() => dropout(rt.tensor(x, [10]), 1, rng).read());
    expect(zeros.every((v) => v === 0)).toBe(true);
  });

  it('finite-difference gradient', async () => {
    const rt = await gpuRuntime();
    // A fresh generator per call: the gradient check reruns f and must see the same mask.
    await gradCheck(rt, ([x]) => dropout(x!, 0.4, new GpuRng(rt, 8)), [{ data: randomData(30, 4), shape: [5, 6] }]);
  });
});

describe('random: errors', () => {
  it('rejects bad probabilities, seeds and parameters', async () => {
    const rt = await gpuRuntime();
    const rng = new GpuRng(rt, 1);
    rt.tidy(() => {
      const x = rt.tensor(new Float32Array(4), [2, 2]);
      expect(() => dropout(x, 1.5, rng)).toThrow(/dropout x\[2, 2\] p=1.5: p must be in \[0, 1\]/);
      expect(() => dropout(x, NaN, rng)).toThrow(/p must be in \[0, 1\], got NaN/);
      expect(() => rng.dropoutMask([4], -0.1)).toThrow(/GpuRng.dropoutMask \[4\]: p must be in \[0, 1\]/);
      expect(() => rng.normal([4], 0, -1)).toThrow(/GpuRng.normal \[4\]: need a finite mean and std >= 0/);
      expect(() => rng.uniform([4], 1, 0)).toThrow(/GpuRng.uniform \[4\]: need finite lo <= hi/);
    });
    expect(() => new GpuRng(rt, -1)).toThrow(/seed must be an integer in \[0, 2\^53\), got -1/);
    expect(() => new GpuRng(rt, 0.5)).toThrow(/seed must be an integer/);
    expect(() => cpuUniform(1, -1, 4)).toThrow(/stream must be a u32/);
  });
});
