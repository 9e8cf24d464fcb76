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

  it('computes a padded 3x3 convolution as weights times the implicit im2col matrix', async () => {
    // Output width 16 (two panels per output row): panels at the left and right borders take the padded path.
    const conv = { op: 'conv2d', n: 1, cin: 5, h: 9, w: 16, cout: 8, k: 3, stride: 1, pad: 1 } as const;
    const { x, w } = opInputs(conv);
    let refAbs = 0;
    let refSq = 0;
    for (let co = 0; co < conv.cout; co++) {
      for (let oy = 0; oy < conv.h; oy++) {
        for (let ox = 0; ox < conv.w; ox++) {
          let acc = 0;
          for (let ci = 0; ci < conv.cin; ci++) {
            for (let ky = 0; ky < 3; ky++) {
              for (let kx = 0; kx < 3; kx++) {
                const iy = oy + ky - 1;
                const ix = ox + kx - 1;
                if (iy < 0 || iy >= conv.h || ix < 0 || ix >= conv.w) continue;
                acc += x!.data[(ci * conv.h + iy) * conv.w + ix]! * w!.data[((co * conv.cin + ci) * 3 + ky) * 3 + kx]!;
              }
            }
          }
          refAbs += Math.abs(acc);
          refSq += acc * acc;
        }
      }
    }
    const runner = (await wasmGemmRunner(conv, 2))!;
    try {
      const [abs, sq] = await runner.fingerprint();
      expect(Math.abs(abs - refAbs) / refAbs).toBeLessThan(1e-5);
      expect(Math.abs(sq - refSq) / refSq).toBeLessThan(1e-5);
    } finally {
      await runner.dispose();
    }
  });

  it('runs matmul and batch-1 stride-1 conv2d only, and names the shapes it cannot tile', async () => {
    expect(await wasmGemmRunner({ op: 'relu', shape: [4] })).toBeNull();
    expect(await wasmGemmRunner({ op: 'conv2d', n: 1, cin: 4, h: 8, w: 8, cout: 8, k: 3, stride: 2, pad: 1 })).toBeNull();
    await expect(wasmGemmRunner({ op: 'matmul', m: 6, k: 8, n: 8 }, 2)).rejects.toThrow(
      /wasm gemm: the prototype needs M a multiple of 4 x 2 threads and N \(and a convolution's output width\) a multiple of 8; got 6 x 8 x 8/);
  });
});
