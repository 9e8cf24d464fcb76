import { describe, expect, it } from 'vitest';
import {
  Adam, AdamW, SGD, clipGradNorm, linearWarmup, multiStepLR, stepLR, type LrSchedule, type Optimizer, type ParamLike,
} from '../src/runtime/optim.ts';
import { mul, scale } from '../src/ops/elementwise.ts';
import { backward } from '../src/runtime/autograd.ts';
import type { Runtime } from '../src/runtime/runtime.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { assertClose, gpuRuntime, loadGolden, randomData, type GoldenArray } from './helpers/gpu.ts';

interface OptimizerCase {
  name: string;
  op: 'optimizer';
  optimizer: 'SGD' | 'Adam' | 'AdamW';
  options: { lr: number; momentum?: number; weightDecay?: number; betas?: [number, number]; eps?: number };
  params: GoldenArray[];
  steps: Array<{ lr: number; grads: Array<GoldenArray | null>; params: GoldenArray[] }>;
}
interface ClipCase {
  name: string;
  op: 'clipGradNorm';
  maxNorm: number;
  grads: GoldenArray[];
  norm: number;
  clipped: GoldenArray[];
}
interface ScheduleCase {
  name: string;
  op: 'schedule';
  args: { kind: string; base: number; stepSize?: number; gamma?: number; milestones?: number[]; warmupSteps?: number; startFactor?: number };
  lrs: number[];
}
const golden = loadGolden('optim') as unknown as Array<OptimizerCase | ClipCase | ScheduleCase>;

function makeOptimizer(kind: OptimizerCase['optimizer'], params: ParamLike[], options: OptimizerCase['options']): Optimizer {
  if (kind === 'SGD') return new SGD(params, options);
  return kind === 'Adam' ? new Adam(params, options) : new AdamW(params, options);
}

function setGrad(rt: Runtime, p: Tensor, g: GoldenArray | Float32Array | null): void {
  p.grad?.dispose();
  p.grad = g === null ? null : g instanceof Float32Array ? rt.tensor(g, p.shape).keep() : rt.tensor(g.data, g.shape).keep();
}

// Parameters after k steps differ from PyTorch's f64 run by f32 rounding of each update; 1e-5 relative with an
// absolute floor of 1e-6 (the parameters are O(1)).
const TOL = { rtol: 1e-5, atol: 1e-6 };

describe('optim: PyTorch golden trajectories', () => {
  for (const c of golden.filter((c): c is OptimizerCase => c.op === 'optimizer')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      const params = c.params.map((p) => rt.tensor(p.data, p.shape, true).keep());
      const opt = makeOptimizer(c.optimizer, params, c.options);
      try {
        for (const [k, s] of c.steps.entries()) {
          opt.lr = s.lr;
          params.forEach((p, i) => setGrad(rt, p, s.grads[i]!));
          opt.step();
          for (const [i, p] of params.entries()) assertClose(await p.read(), s.params[i]!.data, `${c.name} step ${k + 1} param ${i}`, TOL);
        }
        await opt.checkFinite();
      } finally {
        opt.dispose();
        params.forEach((p) => p.dispose());
      }
    });
  }
});

describe('optim: clipGradNorm golden', () => {
  for (const c of golden.filter((c): c is ClipCase => c.op === 'clipGradNorm')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await rt.tidyAsync(async () => {
        const params = c.grads.map((g) => rt.tensor(new Float32Array(g.data.length), g.shape, true));
        params.forEach((p, i) => setGrad(rt, p, c.grads[i]!));
        const norm = clipGradNorm(params, c.maxNorm);
        expect(norm.shape).toEqual([]);
        assertClose(await norm.read(), [c.norm], `${c.name} norm`, { rtol: 1e-5 });
        for (const [i, p] of params.entries()) assertClose(await p.grad!.read(), c.clipped[i]!.data, `${c.name} grad ${i}`, { rtol: 1e-5 });
        params.forEach((p) => p.dispose());
      });
    });
  }

  it('skips parameters without gradients and returns 0 when there are none', async () => {
    const rt = await gpuRuntime();
    await rt.tidyAsync(async () => {
      const a = rt.tensor(new Float32Array(3), [3], true);
      const b = rt.tensor(new Float32Array(2), [2], true);
      expect(Array.from(await clipGradNorm([a, b], 1).read())).toEqual([0]);
      setGrad(rt, b, Float32Array.of(3, 4));
      expect(Array.from(await clipGradNorm([{ name: 'a', tensor: a }, { name: 'b', tensor: b }], 1).read())).toEqual([5]);
      assertClose(await b.grad!.read(), [0.6, 0.8], 'clipped b', { rtol: 1e-6 });
      expect(a.grad).toBeNull();
      b.dispose();
    });
  });

  it('reduces gradients spanning many workgroups in a fixed order', async () => {
    const rt = await gpuRuntime();
    const sizes = [20000, 9000, 1];
    const data = sizes.map((n, i) => randomData(n, 60 + i, -2, 2));
    let sq = 0;
    for (const d of data) for (const v of d) sq += v * v;
    const expected = Math.sqrt(sq);
    const coef = Math.min(1, 3 / (expected + 1e-6));
    const norms: number[] = [];
    for (let run = 0; run < 2; run++) {
      await rt.tidyAsync(async () => {
        const params = data.map((d) => rt.tensor(new Float32Array(d.length), [d.length], true));
        params.forEach((p, i) => setGrad(rt, p, data[i]!));
        const norm = await clipGradNorm(params, 3).read();
        assertClose(norm, [expected], 'norm', { rtol: 1e-5 });
        norms.push(norm[0]!);
        for (const [i, p] of params.entries()) assertClose(await p.grad!.read(), data[i]!.map((v) => v * coef), `grad ${i}`, { rtol: 1e-5 });
        params.forEach((p) => p.dispose());
      });
    }
    expect(norms[1]).toBe(norms[0]);
  });
});

describe('optim: schedules match torch.optim.lr_scheduler', () => {
  for (const c of golden.filter((c): c is ScheduleCase => c.op === 'schedule')) {
    it(c.name, () => {
      const a = c.args;
      let f: LrSchedule;
      if (a.kind === 'step') f = stepLR(a.base, a.stepSize!, a.gamma);
      else if (a.kind === 'multiStep') f = multiStepLR(a.base, a.milestones!, a.gamma);
      else f = linearWarmup(a.base, a.warmupSteps!, a.milestones ? multiStepLR(a.base, a.milestones, a.gamma) : undefined, a.startFactor);
      // PyTorch updates chainably (lr *= factor), so it differs from the closed forms by f64 rounding.
      assertClose(c.lrs.map((_, e) => f(e)), c.lrs, c.name, { rtol: 1e-12, atol: 0 });
    });
  }

  it('rejects bad arguments', () => {
    expect(() => stepLR(0.1, 0)).toThrow(/stepLR: stepSize must be an integer >= 1, got 0/);
    expect(() => stepLR(NaN, 1)).toThrow(/stepLR: base learning rate must be a finite number >= 0, got NaN/);
    expect(() => multiStepLR(0.1, [1.5])).toThrow(/multiStepLR: milestones must be integers >= 0/);
    expect(() => linearWarmup(0.1, 3, undefined, 0)).toThrow(/linearWarmup: startFactor must be in \(0, 1\]/);
    expect(() => stepLR(0.1, 2)(-1)).toThrow(/stepLR: epoch must be an integer >= 0, got -1/);
  });
});

/** Steps [from, to) of training a two-parameter model on a quadratic loss that changes each step. */
function train(rt: Runtime, opt: Optimizer, params: Tensor[], from: number, to: number): void {
  for (let s = from; s < to; s++) {
    rt.tidy(() => {
      opt.zeroGrad();
      // loss = sum(w0 * w0 * c) + sum(w1 * 3): gradients differ per step because w0 moves.
      const c = rt.tensor(randomData(params[0]!.size, 50 + s), params[0]!.shape);
      backward(mul(mul(params[0]!, params[0]!), c), rt.tensor(new Float32Array(params[0]!.size).fill(1), params[0]!.shape));
      backward(scale(params[1]!, 3), rt.tensor(new Float32Array(params[1]!.size).fill(1), params[1]!.shape));
      opt.step();
    });
  }
}

describe('optim: checkpoint and resume', () => {
  for (const kind of ['SGD', 'Adam', 'AdamW'] as const) {
    it(`${kind}: saveState/loadState continues exactly like an uninterrupted run`, async () => {
      const rt = await gpuRuntime();
      const init = [randomData(6, 1), randomData(5, 2)];
      const shapes = [[2, 3], [5]];
      const options = { lr: 0.05, momentum: 0.9, weightDecay: 0.01 };
      const fresh = () => init.map((d, i) => rt.tensor(d, shapes[i]!, true).keep());
      const named = (ps: Tensor[]) => ps.map((tensor, i) => ({ name: `w${i}`, tensor }));

      const a = fresh();
      const optA = makeOptimizer(kind, a, options);
      train(rt, optA, a, 0, 5);
      const reference = await Promise.all(a.map((p) => p.read()));

      const b = fresh();
      const optB = makeOptimizer(kind, named(b), options);
      train(rt, optB, b, 0, 3);
      const state = await optB.saveState();
      expect(state.step).toBe(3);
      expect(state.params.map((p) => p.name)).toEqual(['w0', 'w1']);
      const snapshot = await Promise.all(b.map((p) => p.read()));
      optB.dispose();
      b.forEach((p) => p.dispose());

      // A new process would rebuild the model from its own checkpoint and the optimizer from `state`.
      const c = snapshot.map((d, i) => rt.tensor(d, shapes[i]!, true).keep());
      const optC = makeOptimizer(kind, named(c), options);
      optC.loadState(state);
      train(rt, optC, c, 3, 5);
      for (const [i, p] of c.entries()) expect(Array.from(await p.read())).toEqual(Array.from(reference[i]!));
      optA.dispose();
      optC.dispose();
      [...a, ...c].forEach((p) => p.dispose());
    });
  }

  it('loadState refuses a state of another kind or shape', async () => {
    const rt = await gpuRuntime();
    const p = rt.tensor(new Float32Array(4), [4], true).keep();
    const q = rt.tensor(new Float32Array(3), [3], true).keep();
    const adam = new Adam([p], { lr: 1 });
    const state = await adam.saveState();
    const sgd = new SGD([p], { lr: 1, momentum: 0.5 });
    expect(() => sgd.loadState(state)).toThrow(/SGD.loadState: the state is from Adam/);
    const other = new Adam([q], { lr: 1 });
    expect(() => other.loadState(state)).toThrow(/Adam.loadState: parameter 0 'params\[0\]' \[3\] has shape \[4\] in the state/);
    [adam, sgd, other].forEach((o) => o.dispose());
    [p, q].forEach((t) => t.dispose());
  });
});

describe('optim: non-finite gradients', () => {
  it('are flagged on the GPU and reported by checkFinite/saveState, naming the parameter and step', async () => {
    const rt = await gpuRuntime();
    const w = rt.tensor(Float32Array.of(1, 2, 3), [3], true).keep();
    const b = rt.tensor(Float32Array.of(5), [1], true).keep();
    const opt = new Adam([{ name: 'conv.weight', tensor: w }, { name: 'conv.bias', tensor: b }], { lr: 0.1 });
    setGrad(rt, w, Float32Array.of(0.1, 0.1, 0.1));
    setGrad(rt, b, Float32Array.of(1));
    opt.step();
    await opt.checkFinite();
    const before = await w.read();
    setGrad(rt, w, Float32Array.of(0.1, NaN, Infinity));
    opt.step();
    setGrad(rt, w, Float32Array.of(0.1, -Infinity, 0.1));
    opt.step();
    const after = await w.read();
    expect(after[1]).toBe(before[1]); // the bad element was left unchanged
    expect(after[0]).not.toBe(before[0]);
    await expect(opt.checkFinite()).rejects.toThrow(/Adam: non-finite gradient \(NaN or Inf\) in 'conv.weight' \[3\] \(first at step 2\)/);
    await expect(opt.saveState()).rejects.toThrow(/non-finite gradient/);
    opt.dispose();
    [w, b].forEach((t) => t.dispose());
  });
});

describe('optim: errors', () => {
  it('rejects bad hyperparameters and parameter lists', async () => {
    const rt = await gpuRuntime();
    const p = rt.tensor(new Float32Array(4), [4], true).keep();
    expect(() => new Adam([p], { lr: NaN })).toThrow(/Adam: lr must be a finite number >= 0 \(check the schedule\), got NaN/);
    expect(() => new Adam([p], { lr: 1, betas: [0.9, 1] })).toThrow(/Adam: betas\[1\] must be in \[0, 1\), got 1/);
    expect(() => new AdamW([p], { lr: 1, eps: -1 })).toThrow(/AdamW: eps must be a finite number >= 0, got -1/);
    expect(() => new SGD([p], { lr: 1, momentum: -0.1 })).toThrow(/SGD: momentum must be/);
    expect(() => new SGD([], { lr: 1 })).toThrow(/SGD: got an empty parameter list/);
    expect(() => new SGD([p, p], { lr: 1 })).toThrow(/SGD: parameters 'params\[0\]' and 'params\[1\]' are the same tensor/);
    const q = rt.tensor(Float32Array.of(1, 2), [2], true).keep();
    const opt = new SGD([q, p], { lr: 1 });
    expect(() => (opt.lr = -1)).toThrow(/SGD: lr must be a finite number >= 0/);
    setGrad(rt, q, Float32Array.of(1, 1));
    setGrad(rt, p, new Float32Array(4));
    p.grad = p.grad!.reshape([2, 2]).keep();
    expect(() => opt.step()).toThrow(/SGD.step: parameter 'params\[1\]' \[4\] has a gradient of shape \[2, 2\]/);
    expect(Array.from(await q.read())).toEqual([1, 2]); // nothing was updated
    rt.tidy(() => {
      const derived = scale(p, 2);
      expect(() => new SGD([derived], { lr: 1 })).toThrow(/is the output of an op; optimizers update leaf tensors only/);
    });
    expect(() => clipGradNorm([p], 0)).toThrow(/clipGradNorm: maxNorm must be > 0, got 0/);
    opt.dispose();
    [p, q].forEach((t) => t.dispose());
  });
});
