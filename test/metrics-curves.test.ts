// ROC and PRO curves from the exact metric state: vertices equal a brute-force sweep, their areas equal AUROC and
// AUPRO, merged shards give the unsplit curve, and a tolerance keeps only exact vertices within its bound.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/data/random.ts';
import { readNpy } from '../src/io/npy.ts';
import { createImageMetrics, createPixelMetrics, curveArea, deserializeMetrics, type Curve, type PixelMetrics } from '../src/metrics/index.ts';

/** Seeded uniform numbers in [0, 1) (texad's own generator). */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** ROC by definition: one vertex per distinct score, descending, after all scores >= it are called anomalous. */
function bruteRoc(scores: number[], labels: number[]): { x: number[]; y: number[]; t: number[] } {
  const P = labels.filter((l) => l === 1).length;
  const N = labels.length - P;
  const distinct = [...new Set(scores)].sort((a, b) => b - a);
  const out = { x: [0], y: [0], t: [Infinity] };
  for (const t of distinct) {
    let fp = 0;
    let tp = 0;
    scores.forEach((s, i) => {
      if (s >= t) labels[i] ? tp++ : fp++;
    });
    out.x.push(fp / N);
    out.y.push(tp / P);
    out.t.push(t);
  }
  return out;
}

function pixelFixture(name: string) {
  const dir = join(import.meta.dirname, 'fixtures', 'metrics', name);
  const scores = readNpy(readFileSync(join(dir, 'scores.npy')));
  const masks = readNpy(readFileSync(join(dir, 'labels.npy')));
  const [, h, w] = scores.shape as [number, number, number];
  return { scores: scores.data as Float32Array, masks: masks.data, h, w };
}

/** Every vertex of `simple` is a vertex of `exact`, in order, and the first and last are kept. */
function expectSubsequence(simple: Curve, exact: Curve): void {
  let k = 0;
  for (let i = 0; i < simple.x.length; i++) {
    while (k < exact.x.length && !(exact.x[k] === simple.x[i] && exact.y[k] === simple.y[i])) k++;
    expect(k, `vertex ${i} (${simple.x[i]}, ${simple.y[i]}) is not on the exact curve`).toBeLessThan(exact.x.length);
  }
  expect(simple.x.at(-1)).toBe(exact.x.at(-1));
  expect(simple.y.at(-1)).toBe(exact.y.at(-1));
}

describe('ROC curve', () => {
  it('equals the brute-force sweep and its area is the AUROC, for random ties and float64 scores', () => {
    const rand = rng(11);
    // Sizes and tie levels vary per trial; every third trial has float64 scores (64-bit keys).
    for (const [trial, [n, levels]] of [[2, 1], [7, 3], [60, 40], [200, 5], [150, 150], [31, 2]].entries()) {
      const wide = trial % 3 === 0;
      const scores = Array.from({ length: n }, () => {
        const v = (Math.floor(rand() * levels) - levels / 2) * 0.37;
        return wide ? v + 1e-9 : Math.fround(v);
      });
      const labels = Array.from({ length: n }, () => (rand() < 0.4 ? 1 : 0));
      labels[0] = 1;
      labels[1] = 0;
      const acc = createImageMetrics().add(wide ? Float64Array.from(scores) : Float32Array.from(scores), labels);
      const auroc = acc.compute().auroc;
      const c = acc.rocCurve()!;
      const want = bruteRoc(scores, labels);
      expect([...c.x]).toEqual(want.x);
      expect([...c.y]).toEqual(want.y);
      expect([...c.thresholds]).toEqual(want.t);
      expect(Math.abs(curveArea(c) - auroc)).toBeLessThan(1e-12);
    }
  });

  it('is null when one class is missing', () => {
    expect(createImageMetrics().add(Float32Array.of(1, 2), [0, 0]).rocCurve()).toBeNull();
  });

  it('a merged, serialised state gives the unsplit curve', () => {
    const rand = rng(2);
    const scores = Float32Array.from({ length: 3000 }, () => Math.fround(Math.floor(rand() * 500) / 7));
    const labels = Uint8Array.from({ length: 3000 }, () => (rand() < 0.3 ? 1 : 0));
    const whole = createImageMetrics().add(scores, labels).rocCurve()!;
    const a = createImageMetrics({ chunkSize: 101 }).add(scores.subarray(0, 1700), labels.subarray(0, 1700));
    const b = createImageMetrics().add(scores.subarray(1700), labels.subarray(1700));
    const merged = deserializeMetrics(a.serialize()).merge(deserializeMetrics(b.serialize())).rocCurve()!;
    expect(merged).toEqual(whole);
  });

  it('a tolerance keeps exact vertices only, within its bound of the area and with fewer vertices', () => {
    const rand = rng(4);
    const n = 20000;
    const labels = Uint8Array.from({ length: n }, () => (rand() < 0.2 ? 1 : 0));
    const scores = Float32Array.from(labels, (l) => rand() + 0.6 * l);
    const acc = createImageMetrics().add(scores, labels);
    const exact = acc.rocCurve()!;
    const simple = acc.rocCurve({ tolerance: 1e-3 })!;
    expect(exact.x.length).toBe(new Set(scores).size + 1);
    expect(simple.x.length).toBeLessThan(2000);
    expectSubsequence(simple, exact);
    expect(Math.abs(curveArea(simple) - acc.compute().auroc)).toBeLessThan(2e-3);
    expect(() => acc.rocCurve({ tolerance: 1 })).toThrow(/tolerance must be in \[0, 1\), got 1/);
  });
});

describe('PRO curve', () => {
  for (const name of ['pixel-set', 'pixel-ties', 'pixel-small-regions', 'pixel-float64']) {
    it(`its area / 0.3 is the AUPRO and its pixel ROC area the P-AUROC: ${name}`, () => {
      const { scores, masks, h, w } = pixelFixture(name);
      const acc: PixelMetrics = createPixelMetrics().add(scores, masks, h, w);
      const r = acc.compute();
      const pro = acc.proCurve()!;
      expect(Math.abs(curveArea(pro) / 0.3 - r.aupro)).toBeLessThan(1e-9);
      expect(pro.x.at(-1)).toBeLessThanOrEqual(0.3);
      for (let k = 1; k < pro.x.length; k++) {
        expect(pro.x[k]).toBeGreaterThanOrEqual(pro.x[k - 1]!);
        expect(pro.y[k]).toBeGreaterThanOrEqual(pro.y[k - 1]! - 1e-15);
      }
      expect(Math.abs(curveArea(acc.rocCurve()!) - r.auroc)).toBeLessThan(1e-12);
      const simple = acc.proCurve({ tolerance: 1e-3 })!;
      expectSubsequence(simple, pro);
      expect(Math.abs(curveArea(simple) / 0.3 - r.aupro)).toBeLessThan(3e-3);
    });
  }

  it('reaches maxFpr 1 with every pixel anomalous; null without a defect region', () => {
    const { scores, masks, h, w } = pixelFixture('pixel-set');
    const pro = createPixelMetrics().add(scores, masks, h, w).proCurve({ maxFpr: 1 })!;
    expect(pro.x.at(-1)).toBe(1);
    expect(pro.y.at(-1)).toBeCloseTo(1, 9);
    expect(createPixelMetrics().add(Float32Array.of(1, 2), [0, 0], 1, 2).proCurve()).toBeNull();
  });
});
