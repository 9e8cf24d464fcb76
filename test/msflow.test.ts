// MSFlow's flows: every block inverts exactly, its log-determinant equals log |det J| of the numerically
// differentiated map (small instances), and the positional encoding / schedule follow the official code.
import { describe, expect, it } from 'vitest';
import { AllInOneBlock, FusionFlow, MSFlowModel, positionalEncoding2d } from '../src/methods/msflow/model.ts';
import { PAPER, learningRate } from '../src/methods/msflow/config.ts';
import { Initializer } from '../src/nn/layers.ts';
import type { Runtime } from '../src/runtime/runtime.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { assertClose, gpuRuntime, randomData } from './helpers/gpu.ts';

/** log |det A| of a dense n x n matrix (row-major) by LU with partial pivoting, in float64. */
function logAbsDet(a: Float64Array, n: number): number {
  const m = Float64Array.from(a);
  let acc = 0;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i * n + k]!) > Math.abs(m[p * n + k]!)) p = i;
    if (p !== k) for (let j = 0; j < n; j++) [m[k * n + j], m[p * n + j]] = [m[p * n + j]!, m[k * n + j]!];
    const piv = m[k * n + k]!;
    acc += Math.log(Math.abs(piv));
    for (let i = k + 1; i < n; i++) {
      const f = m[i * n + k]! / piv;
      for (let j = k; j < n; j++) m[i * n + j]! -= f * m[k * n + j]!;
    }
  }
  return acc;
}

/**
 * Central-difference Jacobian of a per-image map of D values: all 2D perturbed copies of `x` go through `f` as one
 * batch (every flow here is independent per image), then log |det J|.
 */
async function numericLogDet(rt: Runtime, x: Float32Array, f: (batch: Float32Array, count: number) => Promise<Float32Array>, eps: number): Promise<number> {
  const d = x.length;
  const batch = new Float32Array(2 * d * d);
  for (let j = 0; j < d; j++) {
    batch.set(x, 2 * j * d);
    batch.set(x, (2 * j + 1) * d);
    batch[2 * j * d + j]! += eps;
    batch[(2 * j + 1) * d + j]! -= eps;
  }
  const y = await f(batch, 2 * d);
  const jac = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < d; i++) jac[i * d + j] = (y[2 * j * d + i]! - y[(2 * j + 1) * d + i]!) / (2 * eps);
  }
  void rt;
  return logAbsDet(jac, d);
}

/** Moves the global affine away from identity so that its log-det term is exercised. */
function perturbGlobalAffine(rt: Runtime, block: AllInOneBlock, seed: number): void {
  const c = block.channels;
  rt.write(block.globalScale, randomData(c, seed, 6, 14));
  rt.write(block.globalOffset, randomData(c, seed + 1, -0.5, 0.5));
}

describe('MSFlow AllInOne coupling block', () => {
  const [C, COND, H, W] = [5, 4, 2, 2];
  it('inverse(forward(x)) = x and log-det(inverse) = -log-det(forward)', async () => {
    const rt = await gpuRuntime();
    const block = new AllInOneBlock(rt, 'b', C, COND, 1.9, new Initializer(3), 11);
    perturbGlobalAffine(rt, block, 5);
    try {
      await rt.tidyAsync(async () => rt.noGrad(async () => {
        const x = rt.tensor(randomData(2 * C * H * W, 1, -2, 2), [2, C, H, W]);
        const cond = rt.tensor(randomData(2 * COND * H * W, 2), [2, COND, H, W]);
        const fwd = block.forward(x, cond);
        const inv = block.inverse(fwd.out, cond);
        assertClose(await inv.out.read(), await x.read(), 'inverse(forward(x))', { rtol: 1e-4, atol: 1e-4 });
        const [ld, ild] = [await fwd.logdet.read(), await inv.logdet.read()];
        assertClose(ild, ld.map((v) => -v), 'inverse log-det');
        expect(Math.abs(ld[0]!)).toBeGreaterThan(0.1);
      }));
    } finally {
      block.dispose();
    }
  });

  it('log-det equals log |det J| of the numerical Jacobian', async () => {
    const rt = await gpuRuntime();
    const block = new AllInOneBlock(rt, 'b', C, COND, 1.9, new Initializer(4), 12);
    perturbGlobalAffine(rt, block, 7);
    // Larger subnet output weights so that the coupling's own log-scale is far from 0.
    const w2 = block.subnet.layers[3]!.trainable()[0]!.tensor;
    rt.write(w2, randomData(w2.size, 9, -1.5, 1.5));
    try {
      const d = C * H * W;
      const x = randomData(d, 3, -1, 1);
      const condOne = randomData(COND * H * W, 4);
      const run = async (batch: Float32Array, count: number) => rt.tidyAsync(async () => rt.noGrad(async () => {
        const cond = new Float32Array(count * condOne.length);
        for (let i = 0; i < count; i++) cond.set(condOne, i * condOne.length);
        return block.forward(rt.tensor(batch, [count, C, H, W]), rt.tensor(cond, [count, COND, H, W])).out.read();
      }));
      const numeric = await numericLogDet(rt, x, run, 1e-2);
      const analytic = await rt.tidyAsync(async () => rt.noGrad(async () => (await block.forward(
        rt.tensor(x, [1, C, H, W]), rt.tensor(condOne, [1, COND, H, W])).logdet.read())[0]!));
      expect(Math.abs(analytic)).toBeGreaterThan(0.5);
      expect(Math.abs(analytic - numeric)).toBeLessThan(2e-2 * Math.max(1, Math.abs(analytic)));
    } finally {
      block.dispose();
    }
  });
});

describe('MSFlow fusion flow', () => {
  const CH = [2, 4, 2];
  const GRIDS = [4, 2, 1];
  const sizes = CH.map((c, i) => c * GRIDS[i]! * GRIDS[i]!);
  const D = sizes.reduce((a, b) => a + b, 0);
  const unpack = (rt: Runtime, data: Float32Array, count: number): Tensor[] => {
    let off = 0;
    return CH.map((c, i) => {
      const g = GRIDS[i]!;
      const part = new Float32Array(count * sizes[i]!);
      for (let n = 0; n < count; n++) part.set(data.subarray(n * D + off, n * D + off + sizes[i]!), n * sizes[i]!);
      off += sizes[i]!;
      return rt.tensor(part, [count, c, g, g]);
    });
  };
  const pack = async (ts: Tensor[], count: number): Promise<Float32Array> => {
    const out = new Float32Array(count * D);
    let off = 0;
    for (const [i, t] of ts.entries()) {
      const v = await t.read();
      for (let n = 0; n < count; n++) out.set(v.subarray(n * sizes[i]!, (n + 1) * sizes[i]!), n * D + off);
      off += sizes[i]!;
    }
    return out;
  };

  it('inverts exactly and its log-det equals log |det J| of the numerical Jacobian', async () => {
    const rt = await gpuRuntime();
    const fusion = new FusionFlow(rt, 'f', CH, 1.9, new Initializer(8), 21);
    // Larger s/t conv weights: the atan-clamped scales then reach well beyond 0.
    for (const { name, tensor } of fusion.trainable()) {
      if (/conv_[st]\.\d+\.weight$/.test(name)) rt.write(tensor, randomData(tensor.size, tensor.size + 31, -1.2, 1.2));
    }
    try {
      const x = randomData(2 * D, 13, -1.5, 1.5);
      await rt.tidyAsync(async () => rt.noGrad(async () => {
        const fwd = fusion.forward(unpack(rt, x, 2));
        const inv = fusion.inverse(fwd.out);
        assertClose(await pack(inv.out, 2), x, 'fusion inverse(forward(x))', { rtol: 1e-4, atol: 1e-4 });
        assertClose(await inv.logdet.read(), (await fwd.logdet.read()).map((v) => -v), 'fusion inverse log-det');
      }));
      const one = x.subarray(0, D);
      const numeric = await numericLogDet(rt, one, (batch, count) => rt.tidyAsync(async () => rt.noGrad(async () =>
        pack(fusion.forward(unpack(rt, batch, count)).out, count))), 1e-2);
      const analytic = await rt.tidyAsync(async () => rt.noGrad(async () =>
        (await fusion.forward(unpack(rt, Float32Array.from(one), 1)).logdet.read())[0]!));
      expect(Math.abs(analytic)).toBeGreaterThan(0.5);
      expect(Math.abs(analytic - numeric)).toBeLessThan(2e-2 * Math.max(1, Math.abs(analytic)));
    } finally {
      fusion.dispose();
    }
  });
});

describe('MSFlow model pieces', () => {
  it('whole model: inverse(forward) recovers the features', async () => {
    const rt = await gpuRuntime();
    const model = new MSFlowModel(rt, [8, 4], { condChannels: [4, 4], blocks: [2, 1], clampAlpha: 1.9, seed: 1 });
    try {
      await rt.tidyAsync(async () => rt.noGrad(async () => {
        const feats = [rt.tensor(randomData(8 * 16, 1), [1, 8, 4, 4]), rt.tensor(randomData(4 * 4, 2), [1, 4, 2, 2])];
        const conds = [rt.tensor(positionalEncoding2d(4, 4, 4), [1, 4, 4, 4]), rt.tensor(positionalEncoding2d(4, 2, 2), [1, 4, 2, 2])];
        const fwd = model.forward(feats, conds);
        const inv = model.inverse(fwd.out, conds);
        for (const [i, f] of feats.entries()) assertClose(await inv.out[i]!.read(), await f.read(), `scale ${i}`, { rtol: 1e-4, atol: 1e-4 });
        assertClose(await inv.logdet.read(), (await fwd.logdet.read()).map((v) => -v), 'model log-det');
      }));
    } finally {
      model.dispose();
    }
  });

  it('positional encoding: x in the first half, y in the second, sin even / cos odd', () => {
    const p = positionalEncoding2d(8, 2, 3);
    const at = (c: number, y: number, x: number) => p[(c * 2 + y) * 3 + x]!;
    expect(at(0, 1, 2)).toBeCloseTo(Math.sin(2), 6);
    expect(at(1, 1, 2)).toBeCloseTo(Math.cos(2), 6);
    expect(at(2, 0, 2)).toBeCloseTo(Math.sin(2 * Math.exp(-2 * Math.log(1e4) / 4)), 6);
    expect(at(4, 1, 0)).toBeCloseTo(Math.sin(1), 6);
    expect(at(5, 1, 2)).toBeCloseTo(Math.cos(1), 6);
    expect(() => positionalEncoding2d(6, 2, 2)).toThrow(/multiple of 4/);
  });

  it('learning rate: warm-up 0.1 -> 1 over 12 sub-epochs, x0.33 at sub-epochs 70 and 90 (official schedulers)', () => {
    expect(learningRate(PAPER, 0)).toBeCloseTo(1e-5, 12);
    expect(learningRate(PAPER, 6)).toBeCloseTo(0.55e-4, 12);
    expect(learningRate(PAPER, 12)).toBeCloseTo(1e-4, 12);
    expect(learningRate(PAPER, 69)).toBeCloseTo(1e-4, 12);
    expect(learningRate(PAPER, 70)).toBeCloseTo(0.33e-4, 12);
    expect(learningRate(PAPER, 95)).toBeCloseTo(0.33 * 0.33e-4, 12);
  });
});
