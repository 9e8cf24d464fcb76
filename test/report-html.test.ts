// report.html from a small results object built with the real metric accumulators: self-contained, the paper
// tables, one SVG path per (method, seed) curve drawn from the exact curves, histograms, inline heatmaps; then the
// page in real headless Chromium from file:// (no console error, curves with points, a screenshot).
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/data/random.ts';
import { CURVE_TOLERANCE, METRIC_KEYS, type MetricSet } from '../src/eval/evaluate.ts';
import { unitPaths } from '../src/eval/units.ts';
import { createImageMetrics, createPixelMetrics } from '../src/metrics/index.ts';
import { unitCurves, type UnitCurves } from '../src/report/curves.ts';
import { renderPanel } from '../src/report/heatmap.ts';
import { curvePath } from '../src/report/html.ts';
import { writeRunOutputs } from '../src/report/outputs.ts';
import { categoryResult, runResults, type MethodResults, type SeedResult } from '../src/report/results.ts';
// A plain .mjs tool: tools/report-check.mjs checks a report in Chromium (also run by hand on real runs).
import { checkReport } from '../tools/report-check.mjs';
import { CHROMIUM } from '../tools/smoke/chromium.mjs';

/** Seeded uniform numbers in [0, 1) (texad's own generator). */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

const SIZE = 8;
const SUBCLASSES = ['plain', 'twill'];

/** One evaluated unit (random stream `stream`): 24 test images (a third defective) with 8x8 maps; defects score higher by `separation`. */
function unit(seed: number, stream: number, separation: number, pixelMaps: boolean): { result: SeedResult; curves: UnitCurves } {
  const rand = rng(stream);
  const image = createImageMetrics();
  const pixel = createPixelMetrics();
  const scores: UnitCurves['scores'] = {};
  const perSubclass: Record<string, MetricSet> = {};
  for (let k = 0; k < 24; k++) {
    const label = k % 3 === 0 ? 1 : 0;
    const sub = SUBCLASSES[k % 2]!;
    const score = rand() + separation * label;
    const mask = new Uint8Array(SIZE * SIZE);
    const map = Float32Array.from({ length: SIZE * SIZE }, () => rand());
    if (label) for (const p of [18, 19, 26, 27]) (mask[p] = 1), (map[p] = map[p]! + separation);
    image.add(Float32Array.of(score), [label]);
    pixel.add(map, mask, SIZE, SIZE);
    const b = (scores[sub] ??= { good: [], defective: [] });
    (label ? b.defective : b.good).push(score);
  }
  const i = image.compute();
  const p = pixel.compute();
  const metrics = { imageAUROC: i.auroc, pixelAUROC: pixelMaps ? p.auroc : NaN, aupro: pixelMaps ? p.aupro : NaN, imageF1max: i.f1max,
    pixelF1max: pixelMaps ? p.f1max : NaN, imageAP: i.ap, pixelAP: pixelMaps ? p.ap : NaN, images: 24, defective: 8 };
  for (const s of SUBCLASSES) perSubclass[s] = { ...metrics, images: 12, defective: 4 };
  const tolerance = CURVE_TOLERANCE;
  return {
    result: { seed, metrics, perSubclass, seconds: { fit: 1, predict: 0.5 }, finalLoss: 0.1 },
    curves: unitCurves({ imageROC: image.rocCurve({ tolerance }), pixelROC: pixel.rocCurve({ tolerance }), pro: pixel.proCurve({ tolerance }), scores }, pixelMaps),
  };
}

/** Writes a two-method, two-category, two-seed run folder (curves, one heatmap per category) and its outputs. */
async function runFolder(opts: { curves: boolean }): Promise<{ out: string; curves: Map<string, UnitCurves> }> {
  const out = mkdtempSync(join(tmpdir(), 'texad-report-'));
  const curves = new Map<string, UnitCurves>();
  const methods: MethodResults[] = [['simplenet', true, 0.6], ['pyramidflow-image', false, 0.3]].map(([method, pixelMaps, sep], m) => ({
    method: method as string, preset: 'quick', weights: 'random', pixelMaps: pixelMaps as boolean, config: {},
    backbones: { backbone: { arch: 'resnet18', origin: 'seeded random weights' } },
    categories: ['cloth', 'metal'].map((category, c) => {
      const seeds = [0, 1].map((seed) => {
        const u = unit(seed, 100 * m + 10 * c + seed, sep as number, pixelMaps as boolean);
        const path = join(out, unitPaths({ method: method as string, category, seed }).curves);
        curves.set(path, u.curves);
        if (opts.curves) {
          mkdirSync(join(path, '..'), { recursive: true });
          writeFileSync(path, JSON.stringify(u.curves));
        }
        return u.result;
      });
      return categoryResult(category, seeds, 40, 24);
    }),
  }));
  const rand = rng(9);
  const dir = join(out, 'heatmaps', 'simplenet', 'cloth');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'defect-plain-hole-7.png'), renderPanel({
    image: Float32Array.from({ length: 3 * 16 * 16 }, () => rand()), mask: Uint8Array.from({ length: 256 }, (_, k) => (k % 17 === 0 ? 1 : 0)),
    map: Float32Array.from({ length: 256 }, () => rand()), height: 16, width: 16, range: [0, 1],
  }));
  const run = runResults({ texad: '0.1.0', adapter: 'llvmpipe (fixture)', runtime: 'node', date: '2026-12-03T00:00:00Z',
    dataset: { root: '/data/synthetic', layout: 'texture-ad', protocol: 'texture-ad', synthetic: { preset: 'tiny', seed: 0 } },
    referenceFloor: Object.fromEntries(['cloth', 'metal'].map((category, c) => [category, {
      'patch-knn': unit(0, 900 + c, 0.2, true).result.metrics, 'colour-histogram': unit(0, 910 + c, 0.1, false).result.metrics }])) }, methods);
  await writeRunOutputs(out, run, { breakdown: true });
  return { out, curves };
}

describe('report.html', () => {
  it('is self-contained, with the tables, one exact curve path per method and seed, histograms and heatmaps', async () => {
    const { out, curves } = await runFolder({ curves: true });
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/https?:|<script|<link|url\(/i);
    for (const title of ['I-AUROC', 'P-AUROC', 'AUPRO', 'I-F1max', 'P-F1max']) expect(html).toContain(`<h3>${title}</h3>`);
    expect(html).toContain('<td class="sub">cloth/plain</td>');
    expect(html).toContain('<td>–</td>'); // the pixel cells of the image-only method
    // Image ROC: 2 methods x 2 seeds x 2 categories; pixel ROC and PRO only for simplenet's maps.
    expect(html.match(/data-curve="roc"/g)).toHaveLength(4);
    expect(html.match(/<path d="M/g)).toHaveLength(8 + 4 + 4);
    // Each path is its unit's curve, vertex for vertex.
    const path = join(out, unitPaths({ method: 'simplenet', category: 'metal', seed: 1 }).curves);
    const u = curves.get(path)!;
    expect(html).toContain(`<path d="${curvePath(u.imageROC!, 1)}"`);
    expect(html).toContain(`<path d="${curvePath(u.pro!, 0.3)}"`);
    expect(curvePath(u.pro!, 0.3).split('L')).toHaveLength(u.pro!.x.length);
    // Histograms: per method, category and subclass; the heatmap inline.
    expect(html.match(/data-histogram=""/g)).toHaveLength(2 * 2 * 2);
    expect(html).toMatch(/<img src="data:image\/png;base64,iVBORw0KGgo[^"]+" alt="simplenet cloth defect-plain-hole-7.png">/);
    expect(html).toContain('Columns with random weights');
    // The legend names each column's network and where its weights came from; the floor sits under the tables.
    expect(html).toContain('<td>resnet18, seeded random weights</td>');
    expect(html).toMatch(/<h2>Reference floor<\/h2>.*<th>patch-knn I-AUROC<\/th>.*<tr><td>cloth<\/td><td>\d+\.\d<\/td><td>\d+\.\d<\/td><td>\d+\.\d<\/td><td>n\/a<\/td><\/tr>/s);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('report.html (next to this file)');
    for (const k of METRIC_KEYS) expect(html).not.toContain(`${k}:`); // labels, not keys
  });

  it('says so for a run folder written before curves were recorded', async () => {
    const { out } = await runFolder({ curves: false });
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.match(/No curves recorded for this category/g)).toHaveLength(2);
    expect(html).not.toContain('<path d="M');
  });

  const missing = existsSync(CHROMIUM) ? '' : `${CHROMIUM} is missing (tools/setup-lavapipe.sh installs it; or set TEXAD_CHROMIUM)`;
  it.skipIf(missing)(`loads from file:// in headless Chromium with no console error, curves drawn${missing ? ` — SKIPPED: ${missing}` : ''}`, async () => {
    const { out } = await runFolder({ curves: true });
    const shot = join(out, 'report.png');
    const r = await checkReport(join(out, 'report.html'), { screenshot: shot });
    expect(r.problems).toEqual([]);
    expect(r.curves).toBe(16);
    expect(Math.min(...r.points)).toBeGreaterThanOrEqual(2);
    expect(r.histograms).toBeGreaterThan(0);
    expect(r.images).toBe(1);
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    console.log(`report.html screenshot: ${shot}`);
  });
});
