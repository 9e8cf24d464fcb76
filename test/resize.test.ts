import { describe, expect, it } from 'vitest';
import { resizeBilinear, resizeNearest } from '../src/ops/resize.ts';
import type { Tensor } from '../src/runtime/tensor.ts';
import { assertClose, checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData } from './helpers/gpu.ts';

type Op = (i: Record<string, Tensor>, a: Record<string, unknown>) => Tensor;
const ops: Record<string, Op> = {
  resizeBilinear: ({ x }, a) => resizeBilinear(x!, a.size as [number, number], { alignCorners: a.alignCorners as boolean }),
  resizeNearest: ({ x }, a) => resizeNearest(x!, a.size as [number, number]),
};

describe('resize: PyTorch golden', () => {
  for (const c of loadGolden('resize')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, ops[c.op]!);
    });
  }
});

/** PyTorch's bilinear source index rule along one axis, in float64. */
function taps(o: number, inSize: number, outSize: number, align: boolean): [number, number, number] {
  const src = align ? (outSize > 1 ? (o * (inSize - 1)) / (outSize - 1) : 0) : Math.max(((o + 0.5) * inSize) / outSize - 0.5, 0);
  const i0 = Math.min(Math.floor(src), inSize - 1);
  return [i0, Math.min(i0 + 1, inSize - 1), src - i0];
}

describe('resize: score-map sizes against a float64 reference', () => {
  for (const [ih, oh, align] of [[36, 288, false], [18, 36, false], [32, 64, true], [127, 56, false]] as const) {
    it(`bilinear ${ih} -> ${oh} alignCorners ${align}`, async () => {
      const rt = await gpuRuntime();
      const x = randomData(ih * ih, 71);
      const y = await rt.tidyAsync(async () => resizeBilinear(rt.tensor(x, [1, 1, ih, ih]), [oh, oh], { alignCorners: align }).read());
      const expected = new Float64Array(oh * oh);
      for (let r = 0; r < oh; r++) {
        const [h0, h1, lh] = taps(r, ih, oh, align);
        for (let c = 0; c < oh; c++) {
          const [w0, w1, lw] = taps(c, ih, oh, align);
          const at = (h: number, w: number) => x[h * ih + w]!;
          expected[r * oh + c] = (1 - lh) * ((1 - lw) * at(h0, w0) + lw * at(h0, w1)) + lh * ((1 - lw) * at(h1, w0) + lw * at(h1, w1));
        }
      }
      assertClose(y, expected, `bilinear ${ih} -> ${oh}`);
    });
  }
});

describe('resize: finite-difference gradients', () => {
  const x = { data: randomData(2 * 3 * 5 * 7, 81), shape: [2, 3, 5, 7] };
  for (const [size, align] of [[[9, 4], false], [[9, 4], true], [[3, 13], false], [[2, 2], true]] as const) {
    it(`bilinear -> [${size}] alignCorners ${align}`, async () => {
      const rt = await gpuRuntime();
      await gradCheck(rt, ([t]) => resizeBilinear(t!, [...size], { alignCorners: align }), [x]);
    });
  }
  for (const size of [[10, 14], [3, 11], [12, 3]] as const) {
    it(`nearest -> [${size}]`, async () => {
      const rt = await gpuRuntime();
      await gradCheck(rt, ([t]) => resizeNearest(t!, [...size]), [x]);
    });
  }
});

describe('resize: errors', () => {
  it('names the op, the shapes and the fix', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.tensor(new Float32Array(24), [2, 3, 4]);
      expect(() => resizeBilinear(x, [8, 8])).toThrow(/resizeBilinear x\[2, 3, 4\] -> \[8, 8\] alignCorners false: x must be \[N, C, H, W\]/);
      const x4 = x.reshape([1, 2, 3, 4]);
      expect(() => resizeNearest(x4, [0, 4])).toThrow(/resizeNearest x\[1, 2, 3, 4\] -> \[0, 4\]: size must be two integers >= 1/);
      expect(() => resizeBilinear(x4, [2.5, 4])).toThrow(/size must be two integers/);
    });
  });
});
