// texad as a contestant: the Runner most cases use, so a case only says which op to call on its inputs.
import type { Runtime } from '../../src/runtime/runtime.ts';
import type { Tensor } from '../../src/runtime/tensor.ts';
import type { BenchCase } from '../index.ts';
import { fingerprintOf, opInputs, type OpSpec, type Runner } from './ops.ts';

/**
 * The usual texad runner: uploads the case's inputs once (PyTorch layout), and each run calls `op` inside a
 * tidy scope so its outputs return to the buffer pool as the op is queued again.
 */
export function texadRunner(rt: Runtime, spec: OpSpec, op: (inputs: Record<string, Tensor>) => Tensor | Tensor[]): Runner {
  const inputs: Record<string, Tensor> = {};
  for (const [name, { shape, data }] of Object.entries(opInputs(spec))) inputs[name] = rt.tensor(data, shape).keep();
  return {
    async run(iterations) {
      for (let i = 0; i < iterations; i++) rt.tidy(() => void op(inputs));
      await rt.sync();
    },
    fingerprint: () =>
      rt.tidyAsync(async () => {
        const out = op(inputs);
        const values = await Promise.all((Array.isArray(out) ? out : [out]).map((t) => t.read()));
        return fingerprintOf(...values);
      }),
    dispose() {
      for (const t of Object.values(inputs)) t.dispose();
    },
  };
}

/** A benchmark case whose texad side is texadRunner(spec, op). */
export function texadCase(
  spec: OpSpec,
  op: (inputs: Record<string, Tensor>) => Tensor | Tensor[],
  extra: Omit<BenchCase, 'spec' | 'texad'> = {},
): BenchCase {
  return { spec, texad: (rt) => texadRunner(rt, spec, op), ...extra };
}
