import { describe, expect, it } from 'vitest';
import { batchNorm, foldBatchNorm, layerNorm, layerNormChannels } from '../src/ops/norm.ts';
import { backward } from '../src/runtime/autograd.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { assertClose, checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData, type GoldenArray } from './helpers/gpu.ts';

type Op = (i: Record<string, Tensor>, a: Record<string, unknown>) => Tensor;

describe('norm: PyTorch golden', () => {
  for (const c of loadGolden('norm')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      const a = c.args;
      if (c.op === 'foldBatchNorm') {
        const f = (k: string) => Float32Array.from(c.inputs[k]!.data);
        const out = foldBatchNorm(f('weight'), f('bias'), { gamma: f('gamma'), beta: f('beta'), mean: f('mean'), var: f('var') },
          c.inputs.weight!.shape[0]!, a.eps as number);
        assertClose([...out.weight, ...out.bias], c.output.data, c.name);
        return;
      }
      let state: { runningMean: Tensor; runningVar: Tensor } | null = null;
      const ops: Record<string, Op> = {
        batchNorm: (i) => {
          // Kept past checkGoldenCase's scope so the in-place running-stat update can be read back.
          state = { runningMean: i.runningMean!.keep(), runningVar: i.runningVar!.keep() };
          return batchNorm(i.x!, i.gamma ?? null, i.beta ?? null, state, {
            training: a.training as boolean, momentum: a.momentum as number, eps: a.eps as number,
          });
        },
        layerNormChannels: (i) => layerNormChannels(i.x!, i.gamma ?? null, i.beta ?? null, a.eps as number),
        layerNorm: (i) => layerNorm(i.x!, i.gamma ?? null, i.beta ?? null, a.eps as number),
      };
      await checkGoldenCase(rt, c, ops[c.op]!);
      if (state) {
        const s: { runningMean: Tensor; runningVar: Tensor } = state;
        const expected = (c as unknown as { state: Record<string, GoldenArray> }).state;
        assertClose(await s.runningMean.read(), expected.runningMean!.data, `${c.name} runningMean`);
        assertClose(await s.runningVar.read(), expected.runningVar!.data, `${c.name} runningVar`);
        s.runningMean.dispose();
        s.runningVar.dispose();
      }
    });
  }
});

/** Float64 BatchNorm training forward and backward over the [N, C, S] view, the reference for larger shapes. */
function referenceBatchNorm(x: Float32Array, [n, c, s]: number[], gamma: Float32Array, beta: Float32Array, gy: Float32Array) {
  const m = n * s;
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  const mean = new Float64Array(c);
  const varU = new Float64Array(c);
  const dgamma = new Float64Array(c);
  const dbeta = new Float64Array(c);
  const at = (i: number, ch: number, j: number) => (i * c + ch) * s + j;
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < s; j++) sum += x[at(i, ch, j)]!;
    const mu = sum / m;
    let sq = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < s; j++) sq += (x[at(i, ch, j)]! - mu) ** 2;
    const invstd = 1 / Math.sqrt(sq / m + 1e-5);
    let sg = 0;
    let sgx = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < s; j++) {
        const k = at(i, ch, j);
        const xhat = (x[k]! - mu) * invstd;
        y[k] = xhat * gamma[ch]! + beta[ch]!;
        sg += gy[k]!;
        sgx += gy[k]! * xhat;
      }
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < s; j++) {
        const k = at(i, ch, j);
        dx[k] = gamma[ch]! * invstd * (gy[k]! - (sg + (x[k]! - mu) * invstd * sgx) / m);
      }
    }
    mean[ch] = mu;
    varU[ch] = sq / (m - 1);
    dgamma[ch] = sgx;
    dbeta[ch] = sg;
  }
  return { y, dx, mean, varU, dgamma, dbeta };
}

describe('norm: lane layouts beyond the golden sizes (float64 reference)', () => {
  const shapes: Array<[string, number[], number[]]> = [
    ['S > 256 (two spatial strides per lane)', [3, 5, 17, 19], [3, 5, 323]],
    ['S = 1, C = 72, N = 300 (two workgroups of channel quads, many rows per lane)', [300, 72], [300, 72, 1]],
    ['S = 3, C = 21 (single elements, two workgroups)', [70, 21, 3], [70, 21, 3]],
  ];
  for (const [name, shape, ncs] of shapes) {
    it(name, async () => {
      const rt = await gpuRuntime();
      const size = shape.reduce((a, b) => a * b, 1);
      const c = ncs[1]!;
      const x = randomData(size, 11, -2, 3);
      const gamma = randomData(c, 12, 0.5, 1.5);
      const beta = randomData(c, 13);
      const gy = randomData(size, 14);
      const ref = referenceBatchNorm(x, ncs, gamma, beta, gy);
      await rt.tidyAsync(async () => {
        const xt = rt.tensor(x, shape, true);
        const gt = rt.tensor(gamma, [c], true);
        const bt = rt.tensor(beta, [c], true);
        const state = { runningMean: rt.zeros([c]), runningVar: rt.tensor(new Float32Array(c).fill(1), [c]) };
        const y = batchNorm(xt, gt, bt, state, { training: true });
        assertClose(await y.read(), ref.y, `${name} y`);
        assertClose(await state.runningMean.read(), ref.mean.map((v) => 0.1 * v), `${name} runningMean`);
        assertClose(await state.runningVar.read(), ref.varU.map((v) => 0.9 + 0.1 * v), `${name} runningVar`);
        backward(y, rt.tensor(gy, shape));
        assertClose(await xt.grad!.read(), ref.dx, `${name} dx`);
        assertClose(await gt.grad!.read(), ref.dgamma, `${name} dgamma`);
        assertClose(await bt.grad!.read(), ref.dbeta, `${name} dbeta`);
      });
    });
  }

  it('layerNormChannels with C = 40 over 9x7 pixels', async () => {
    const rt = await gpuRuntime();
    const [n, c, s] = [2, 40, 63];
    const x = randomData(n * c * s, 21, -1, 4);
    const y = await rt.tidyAsync(async () => layerNormChannels(rt.tensor(x, [n, c, 9, 7]), null, null).read());
    const expected = new Float64Array(x.length);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < s; j++) {
        let sum = 0;
        let sq = 0;
        for (let ch = 0; ch < c; ch++) sum += x[(i * c + ch) * s + j]!;
        const mu = sum / c;
        for (let ch = 0; ch < c; ch++) sq += (x[(i * c + ch) * s + j]! - mu) ** 2;
        for (let ch = 0; ch < c; ch++) expected[(i * c + ch) * s + j] = (x[(i * c + ch) * s + j]! - mu) / Math.sqrt(sq / c + 1e-5);
      }
    }
    assertClose(y, expected, 'layerNormChannels');
  });

  it('training statistics are bitwise reproducible', async () => {
    const rt = await gpuRuntime();
    const x = randomData(4 * 8 * 300, 31, -5, 5);
    const run = () => rt.tidyAsync(async () => batchNorm(rt.tensor(x, [4, 8, 300]), null, null, null, { training: true }).read());
    expect(await run()).toEqual(await run());
  });
});

describe('norm: finite-difference gradients', () => {
  const c = 4;
  const data = (shape: number[], seed: number, lo = -1, hi = 1) => ({ data: randomData(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape });
  const params = [data([c], 41, 0.5, 1.5), data([c], 42)];
  for (const training of [true, false]) {
    it(`batchNorm ${training ? 'train' : 'eval'} (x, gamma, beta)`, async () => {
      const rt = await gpuRuntime();
      const state = {
        runningMean: rt.tensor(randomData(c, 43), [c]).keep(),
        runningVar: rt.tensor(randomData(c, 44, 0.5, 2), [c]).keep(),
      };
      try {
        // Momentum 0 keeps the running statistics fixed across the finite-difference evaluations.
        await gradCheck(rt, ([x, g, b]) => batchNorm(x!, g!, b!, state, { training, momentum: 0 }),
          [data([3, c, 3, 5], 45, -2, 2), ...params], { eps: 1e-2 });
      } finally {
        state.runningMean.dispose();
        state.runningVar.dispose();
      }
    });
  }
  it('batchNorm1d train (x, gamma, beta)', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x, g, b]) => batchNorm(x!, g!, b!, null, { training: true }), [data([5, c], 46, -2, 2), ...params]);
  });
  it('layerNormChannels (x, gamma, beta)', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x, g, b]) => layerNormChannels(x!, g!, b!), [data([2, c, 3, 5], 47, -2, 2), ...params]);
  });
  it('layerNorm over the last dim (x, gamma, beta)', async () => {
    const rt = await gpuRuntime();
    await gradCheck(rt, ([x, g, b]) => layerNorm(x!, g!, b!), [data([3, 5, c], 48, -2, 2), ...params]);
  });
});

describe('norm: BatchNorm fused with a ReLU', () => {
  // relu: true against relu(batchNorm(...)) (each checked above and by its own golden): the output, the running
  // statistics, and the gradients of x, gamma and beta under a fixed upstream gradient, in the three lane modes
  // (S % 4 == 0; S == 1 with C % 4 == 0; neither) and in both modes. About half the pre-activations are negative,
  // so a mask that were missing or shifted would change every gradient.
  const cases: Array<[string, number[]]> = [['spatial', [3, 4, 4, 6]], ['across', [6, 8]], ['single', [3, 4, 3, 5]]];
  for (const [mode, shape] of cases) {
    for (const training of [true, false]) {
      it(`${mode} ${shape.join('x')}, ${training ? 'training' : 'eval'}: same values and gradients as relu(batchNorm)`, async () => {
        const rt = await gpuRuntime();
        const { relu, mul, sum } = { ...(await import('../src/ops/elementwise.ts')), ...(await import('../src/ops/reduce.ts')) };
        const c = shape[1]!;
        const size = shape.reduce((a, b) => a * b, 1);
        const run = async (fused: boolean) => rt.tidyAsync(async () => {
          const x = rt.tensor(randomData(size, 61, -2, 2), shape, true);
          const gamma = rt.tensor(randomData(c, 62, 0.5, 1.5), [c], true);
          const beta = rt.tensor(randomData(c, 63, -0.5, 0.5), [c], true);
          const state = { runningMean: rt.tensor(randomData(c, 64), [c]), runningVar: rt.tensor(randomData(c, 65, 0.5, 2), [c]) };
          const opts = { training, momentum: 0.1 };
          const y = fused ? batchNorm(x, gamma, beta, state, { ...opts, relu: true }) : relu(batchNorm(x, gamma, beta, state, opts));
          backward(sum(mul(y, rt.tensor(randomData(size, 66, -1, 1), shape))));
          return Promise.all([y, x.grad!, gamma.grad!, beta.grad!, state.runningMean, state.runningVar].map((t) => t.read()));
        });
        const [fused, composed] = [await run(true), await run(false)];
        const names = ['y', 'dx', 'dgamma', 'dbeta', 'running mean', 'running var'];
        names.forEach((n, i) => assertClose(fused[i]!, composed[i]!, `${mode} ${n}`, { rtol: 1e-5, atol: 1e-6 }));
        expect(fused[0]!.filter((v) => v === 0).length).toBeGreaterThan(size / 4);
      });
    }
  }

  it('Sequential fuses BatchNorm2d + ReLU and computes what the layers compute one by one', async () => {
    const rt = await gpuRuntime();
    const { BatchNorm2d, ReLU, Sequential } = await import('../src/nn/layers.ts');
    const bn = new BatchNorm2d(rt, 'bn', 4);
    const seq = new Sequential([bn, new ReLU()]);
    seq.train(false);
    const x = rt.tensor(randomData(2 * 4 * 16, 67, -2, 2), [2, 4, 4, 4]);
    const fused = await seq.forward(x).read();
    const oneByOne = await new ReLU().forward(bn.forward(x)).read();
    assertClose(fused, oneByOne, 'Sequential BN + ReLU', { rtol: 1e-6, atol: 1e-7 });
    expect(fused.some((v) => v === 0) && fused.some((v) => v > 0)).toBe(true);
  });
});

describe('norm: errors', () => {
  it('names the op, the shapes and the fix', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.tensor(new Float32Array(24), [2, 3, 2, 2]);
      const g4 = rt.tensor(new Float32Array(4), [4]);
      expect(() => batchNorm(x, g4, null, null, { training: true })).toThrow(
        /batchNorm x\[2, 3, 2, 2\]: gamma has shape \[4\], expected \[3\]/,
      );
      expect(() => batchNorm(x, null, null, null, { training: false })).toThrow(/eval mode needs the running statistics/);
      const one = rt.tensor(new Float32Array(3), [1, 3]);
      expect(() => batchNorm(one, null, null, null, { training: true })).toThrow(/more than one value per channel/);
      expect(() => layerNormChannels(rt.tensor([1, 2], [2]), null, null)).toThrow(/layerNormChannels needs x of shape \[N, C, \.\.\.\], got \[2\]/);
      expect(() => layerNorm(x, g4, null, 0)).toThrow(/gamma has shape \[4\], expected \[2\]/);
    });
    expect(() => foldBatchNorm(new Float32Array(10), null, {
      gamma: new Float32Array(2), beta: new Float32Array(2), mean: new Float32Array(2), var: new Float32Array(2),
    }, 4)).toThrow(/foldBatchNorm weight\[10\] outChannels 4: the weight length must be a positive multiple/);
  });
});
