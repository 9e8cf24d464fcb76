import { describe, expect, it } from 'vitest';
import { fft2dMagnitude } from '../src/ops/fft.ts';
import { backward } from '../src/runtime/autograd.ts';
import type { Runtime } from '../src/runtime/runtime.ts';
import { assertClose, checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData } from './helpers/gpu.ts';

describe('fft: PyTorch golden', () => {
  for (const c of loadGolden('fft')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, ({ x }) => fft2dMagnitude(x!));
    });
  }
});

describe('fft: finite-difference gradients', () => {
  for (const shape of [[1, 2, 8, 16], [2, 1, 4, 4], [1, 1, 2, 32]]) {
    it(`[${shape}]`, async () => {
      const rt = await gpuRuntime();
      const n = shape.reduce((a, b) => a * b, 1);
      await gradCheck(rt, ([x]) => fft2dMagnitude(x!), [{ data: randomData(n, n), shape }], { eps: 1e-3, rtol: 1e-2 });
    });
  }
});

/** In-place radix-2 FFT of one complex line in f64; `sign` -1 is the forward transform, +1 the adjoint. */
function fftLine(re: Float64Array, im: Float64Array, sign: number): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const a = (sign * 2 * Math.PI * k) / len;
        const [wr, wi] = [Math.cos(a), Math.sin(a)];
        const [p, q] = [i + k, i + k + len / 2];
        const tr = wr * re[q]! - wi * im[q]!;
        const ti = wr * im[q]! + wi * re[q]!;
        [re[q], im[q]] = [re[p]! - tr, im[p]! - ti];
        [re[p], im[p]] = [re[p]! + tr, im[p]! + ti];
      }
    }
  }
}

/** 2-D FFT of one h x w plane (rows, then columns) in f64. */
function fft2d(re: Float64Array, im: Float64Array, h: number, w: number, sign: number): void {
  for (let r = 0; r < h; r++) {
    const [lr, li] = [re.slice(r * w, r * w + w), im.slice(r * w, r * w + w)];
    fftLine(lr, li, sign);
    re.set(lr, r * w);
    im.set(li, r * w);
  }
  const [cr, ci] = [new Float64Array(h), new Float64Array(h)];
  for (let col = 0; col < w; col++) {
    for (let r = 0; r < h; r++) [cr[r], ci[r]] = [re[r * w + col]!, im[r * w + col]!];
    fftLine(cr, ci, sign);
    for (let r = 0; r < h; r++) [re[r * w + col], im[r * w + col]] = [cr[r]!, ci[r]!];
  }
}

/** |FFT2(x)| and the gradient Re(FFT2^H(g X / |X|)) of one plane, in f64. */
function reference(x: Float32Array, g: Float32Array, h: number, w: number): { mag: Float64Array; grad: Float64Array } {
  const re = Float64Array.from(x);
  const im = new Float64Array(x.length);
  fft2d(re, im, h, w, -1);
  const mag = re.map((r, i) => Math.hypot(r, im[i]!));
  const zr = re.map((r, i) => (mag[i]! > 0 ? (g[i]! * r) / mag[i]! : 0));
  const zi = im.map((v, i) => (mag[i]! > 0 ? (g[i]! * v) / mag[i]! : 0));
  fft2d(zr, zi, h, w, 1);
  return { mag, grad: zr };
}

async function compareWithReference(rt: Runtime, h: number, w: number): Promise<void> {
  const x = randomData(h * w, h + w);
  const g = randomData(h * w, h * w);
  const ref = reference(x, g, h, w);
  await rt.tidyAsync(async () => {
    const xt = rt.tensor(x, [1, 1, h, w], true);
    const y = fft2dMagnitude(xt);
    backward(y, rt.tensor(g, [1, 1, h, w]));
    assertClose(await y.read(), ref.mag, `|FFT2| ${h}x${w}`);
    assertClose(await xt.grad!.read(), ref.grad, `grad ${h}x${w}`);
  });
}

describe('fft: large planes against an f64 reference', () => {
  it('256x256 (PyramidFlow Fourier loss)', async () => {
    await compareWithReference(await gpuRuntime(), 256, 256);
  });

  it('2048-long rows (a tile of its own)', async () => {
    const rt = await gpuRuntime();
    if (rt.limits.maxComputeWorkgroupStorageSize < 2048 * 8) return;
    await compareWithReference(rt, 4, 2048);
  });
});

describe('fft: inference and errors', () => {
  it('records no backward under noGrad', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.tensor(randomData(16, 1), [1, 1, 4, 4], true);
      expect(rt.noGrad(() => fft2dMagnitude(x)).node).toBeNull();
    });
  });

  it('rejects non-power-of-two sizes, other ranks and lines over the workgroup memory', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      expect(() => fft2dMagnitude(rt.tensor(new Float32Array(24), [1, 1, 4, 6]))).toThrow(
        /fft2dMagnitude x\[1, 1, 4, 6\]: H and W must be powers of two \(got 4x6\); pad or resize/,
      );
      expect(() => fft2dMagnitude(rt.tensor(new Float32Array(16), [4, 4]))).toThrow(/expected a 4-D \[N, C, H, W\] tensor/);
      const max = rt.limits.maxComputeWorkgroupStorageSize / 8;
      const x = rt.empty([1, 1, 1, max * 2]);
      expect(() => fft2dMagnitude(x)).toThrow(/lines of \d+ complex values need \d+ bytes of workgroup memory; this device allows/);
    });
  });
});
