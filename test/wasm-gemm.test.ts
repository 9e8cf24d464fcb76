// texad's WebAssembly SIMD GEMM prototype (assembly/gemm.ts, driven by bench/peers/wasm-gemm.ts): the benchmark
// only counts it when its output matches, so check it here against a float64 product, on one and two threads.
import { describe, expect, it } from 'vitest';
import { opInputs, type OpSpec } from '../bench/peers/ops.ts';
import { wasmGemmRunner } from '../bench/peers/wasm-gemm.ts';

function reference(spec: Extract<OpSpec, { op: 'matmul' }>): [number, number] {
  const { a, b } = opInputs(spec);
  let abs = 0;
  let sq = 0;
  for (let i = 0; i < spec.m; i++) {
    for (let j = 0; j < spec.n; j++) {
      let acc = 0;
      for (let p = 0; p < spec.k; p++) acc += a!.data[i * spec.k + p]! * b!.data[p * spec.n + j]!;
      abs += Math.abs(acc);
      sq += acc * acc;
    }
  }
  return [abs, sq];
}

describe('wasm GEMM prototype', () => {
  // K = 300 spans two K blocks (256 + 44), so the accumulate-into-C path runs; M = 136 spans three MC blocks.
  const spec = { op: 'matmul', m: 136, k: 300, n: 40 } as const;

  for (const threads of [1, 2]) {
    it(`matches a float64 product on ${threads} thread(s)`, async () => {
      const runner = (await wasmGemmRunner(spec, threads))!;
      try {
        const [abs, sq] = await runner.fingerprint();
        const [refAbs, refSq] = reference(spec);
        expect(Math.abs(abs - refAbs) / refAbs).toBeLessThan(1e-5);
        expect(Math.abs(sq - refSq) / refSq).toBeLessThan(1e-5);
        await runner.run(2); // repeated calls recompute C rather than accumulate into it
        const again = await runner.fingerprint();
        expect(again[0]).toBeCloseTo(abs, 3);
      } finally {
        await runner.dispose();
      }
    });
  }

  it('runs matmul only and names the shapes it cannot tile', async () => {
    expect(await wasmGemmRunner({ op: 'relu', shape: [4] })).toBeNull();
    await expect(wasmGemmRunner({ op: 'matmul', m: 6, k: 8, n: 8 }, 2)).rejects.toThrow(
      /wasm gemm: the prototype needs M a multiple of 4 x 2 threads and N a multiple of 8; got 6 x 8 x 8/);
  });
});
