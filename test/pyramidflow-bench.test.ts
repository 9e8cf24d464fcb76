// The PyramidFlow benchmark case (bench/pyramidflow.ts) at a tiny shape computes what its PyTorch peer computes: the
// fixture holds the first two losses of tools/bench-torch.py's own builder (same hash weights, same inputs), written
// by tools/golden/pyramidflow.py. No timing here.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fingerprintMismatch } from '../bench/harness.ts';
import { fingerprintOf, opLabel, opWork, type PyramidFlowSpec } from '../bench/peers/ops.ts';
import { pyramidFlowHashInit, pyramidFlowRunner, pyramidFlowSuite } from '../bench/pyramidflow.ts';
import { gpuRuntime } from './helpers/gpu.ts';

const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/golden/pyramidflow-bench.json', import.meta.url)), 'utf8')) as {
  spec: PyramidFlowSpec;
  losses: [number, number];
};

describe('bench: PyramidFlow training step', () => {
  it('agrees with the PyTorch peer on the first loss and on the loss after one step (the harness check), then keeps stepping', async () => {
    const rt = await gpuRuntime();
    const runner = pyramidFlowRunner(rt, fixture.spec);
    try {
      const [first, second] = fixture.losses;
      // A fingerprint takes a step and reports its loss: the first is the shared initial weights' loss.
      const before = await runner.fingerprint();
      expect(fingerprintMismatch(before, fingerprintOf([first]))).toBeNull();
      const after = await runner.fingerprint();
      expect(fingerprintMismatch(after, fingerprintOf([second]))).toBeNull();
      // The step itself (clip + Adam with the official settings): the loss moved as PyTorch's did, to 1 % of the move
      // (measured: 3e-5 of it; the first loss agrees to 5e-7).
      expect(Math.abs(after[0] - before[0] - (second - first))).toBeLessThan(0.01 * Math.abs(second - first));
      await runner.run(2);
      const later = await runner.fingerprint();
      expect(Number.isFinite(later[0])).toBe(true);
      expect(later[0]).not.toBe(after[0]);
    } finally {
      await runner.dispose();
    }
  });

  it('times the quick shape alone under --quick, a sixteenth of the official step beside it otherwise', () => {
    const labels = (quick: boolean) => pyramidFlowSuite.cases(quick).map((c) => opLabel(c.spec));
    expect(labels(true)).toEqual(['PyramidFlow train step n2 64px 4 levels 1 stacks k5 3ch SVN']);
    expect(labels(false)).toEqual(['PyramidFlow train step n2 128px 4 levels 1 stacks k7 16ch CVN', ...labels(true)]);
    // The official step (four stacks at 256 px) is 16x the work of the case (README "Speed" scales by it).
    const [paper] = pyramidFlowSuite.cases(false).map((c) => c.spec as PyramidFlowSpec);
    const official = opWork({ ...paper!, numStack: 4, x_size: 256 }).amount;
    expect(official / opWork(paper!).amount).toBeCloseTo(16, 0);
  });

  it('refuses a tensor it has no hash rule for, naming it', async () => {
    const rt = await gpuRuntime();
    const tensor = rt.zeros([2, 3]).keep();
    try {
      const odd = { tensors: () => [{ name: 'extra.weight', tensor }], trainable: () => [], dispose: () => {} };
      expect(() => pyramidFlowHashInit(odd)).toThrow(/no hash rule for extra\.weight \[2, 3\]; add one here and in tools\/golden\/pyramidflow\.py hashed_weights/);
    } finally {
      tensor.dispose();
    }
  });
});
