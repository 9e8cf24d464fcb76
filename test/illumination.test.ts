// The shared illumination normalisation (src/methods/components/illumination.ts): a smooth multiplicative lighting
// change, a contrast change and a colour cast leave its output nearly unchanged, a small defect does not vanish,
// every plane comes out with mean 0.5 and standard deviation 0.2, and impossible sigmas are refused.
import { describe, expect, it } from 'vitest';
import { normalizeIlluminationCpu } from '../src/eval/reference.ts';
import { normalizeIllumination } from '../src/methods/components/illumination.ts';
import { gpuRuntime } from './helpers/gpu.ts';

const S = 64;

/** A woven-looking CHW texture in (0, 1). */
function texture(): Float32Array {
  const out = new Float32Array(3 * S * S);
  for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    out[c * S * S + y * S + x] = 0.45 + 0.1 * c + 0.12 * Math.sin(1.3 * x) * Math.cos(1.1 * y) + 0.05 * Math.sin(0.7 * (x + 2 * y));
  }
  return out;
}

/** The texture under another light: contrast about its mean, then a linear fall-off, gain and white balance. */
function relit(img: Float32Array): Float32Array {
  const out = new Float32Array(img.length);
  const balance = [1.12, 1, 0.88];
  for (let c = 0; c < 3; c++) {
    let mean = 0;
    for (let i = 0; i < S * S; i++) mean += img[c * S * S + i]! / (S * S);
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      const i = c * S * S + y * S + x;
      const ramp = 1 - 0.3 * (x + y) / (2 * S);
      out[i] = ((img[i]! - mean) * 0.8 + mean) * 0.75 * ramp * balance[c]!;
    }
  }
  return out;
}

describe('normalizeIllumination', () => {
  it('cancels a smooth relighting, keeps a small defect, and standardises every plane', async () => {
    const rt = await gpuRuntime();
    const clean = texture();
    const defect = clean.slice();
    for (let c = 0; c < 3; c++) for (let y = 30; y < 34; y++) for (let x = 20; x < 24; x++) defect[c * S * S + y * S + x] = 0.05;
    const batch = new Float32Array(3 * clean.length);
    batch.set(clean, 0);
    batch.set(relit(clean), clean.length);
    batch.set(defect, 2 * clean.length);
    const out = await rt.tidyAsync(() => normalizeIllumination(rt.tensor(batch, [3, 3, S, S]), 1 / 16).read());
    const plane = (img: number, c: number) => out.subarray((img * 3 + c) * S * S, (img * 3 + c + 1) * S * S);
    let relitErr = 0;
    let rawErr = 0;
    let defectGap = 0;
    for (let c = 0; c < 3; c++) {
      const [a, b, d] = [plane(0, c), plane(1, c), plane(2, c)];
      const mean = a.reduce((s, v) => s + v, 0) / a.length;
      const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
      expect(mean).toBeCloseTo(0.5, 4);
      expect(std).toBeCloseTo(0.2, 3);
      // Away from the border, where reflect padding sees the fall-off's slope folded back.
      for (let y = 8; y < S - 8; y++) for (let x = 8; x < S - 8; x++) {
        relitErr = Math.max(relitErr, Math.abs(a[y * S + x]! - b[y * S + x]!));
        rawErr = Math.max(rawErr, Math.abs(batch[c * S * S + y * S + x]! - batch[clean.length + c * S * S + y * S + x]!));
      }
      defectGap = Math.max(defectGap, Math.abs(a[32 * S + 22]! - d[32 * S + 22]!));
    }
    // The relit image differed by up to ~0.3 in raw values; normalised, by a small fraction of that.
    expect(rawErr).toBeGreaterThan(0.25);
    expect(relitErr).toBeLessThan(0.05);
    // The dark 4x4 spot stays several standard deviations (0.2 each) away from the clean texture.
    expect(defectGap).toBeGreaterThan(0.5);
  });

  it('refuses sigmas whose blur cannot fit the image, naming the fix', async () => {
    const rt = await gpuRuntime();
    await rt.tidyAsync(async () => {
      const x = rt.tensor(new Float32Array(3 * S * S).fill(0.5), [1, 3, S, S]);
      expect(() => normalizeIllumination(x, 0.3)).toThrow(/normalizeIllumination x\[1, ?3, ?64, ?64\] sigma 0.3: .*use a smaller fraction/);
      expect(() => normalizeIllumination(x, 0)).toThrow(/sigma must be above 0/);
      expect(() => normalizeIllumination(x.reshape([3, S, S]), 0.1)).toThrow(/needs images \[N, C, H, W\]/);
    });
  });
});

describe('normalizeIlluminationCpu (the reference detectors\' twin)', () => {
  it('matches the GPU component on a relit texture', async () => {
    const rt = await gpuRuntime();
    const img = relit(texture());
    const gpu = await rt.tidyAsync(() => normalizeIllumination(rt.tensor(img, [1, 3, S, S]), 1 / 16).read());
    const cpu = normalizeIlluminationCpu(img, S, 1 / 16);
    let worst = 0;
    for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(cpu[i]! - gpu[i]!));
    expect(worst).toBeLessThan(1e-4);
  });
});
