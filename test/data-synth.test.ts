import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { command as synth } from '../src/cli/synth.ts';
import { command as info } from '../src/cli/info.ts';
import { discoverDataset } from '../src/data/discover.ts';
import { encodePng } from '../src/data/encode.ts';
import { batches, loadSample } from '../src/data/loader.ts';
import { mvtecProtocol, protocols, textureAdProtocol } from '../src/data/protocol.ts';
import { Rng } from '../src/data/random.ts';
import { CATEGORIES, CATEGORY_DEFECTS, PRESETS, SUBCLASSES } from '../src/data/synth/catalogue.ts';
import { applyDefect } from '../src/data/synth/defects.ts';
import { planDataset, renderSample, renderSurface } from '../src/data/synth/generate.ts';
import { SYNTH_MANIFEST } from '../src/data/synth/write.ts';
import type { DatasetDescription } from '../src/data/types.ts';
import { CALIBRATION_DETECTORS, referenceFloor } from '../src/eval/reference.ts';
import { tempDir } from './data-helpers.ts';

let root = '';
let desc: DatasetDescription;

async function quiet(run: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { code: await run(), out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

beforeAll(async () => {
  root = join(tempDir('synth'), 'tiny');
  const { code } = await quiet(() => synth.run(['--out', root, '--preset', 'tiny', '--seed', '0']));
  expect(code).toBe(0);
  desc = await discoverDataset(root);
}, 300_000);
afterAll(() => rmSync(join(root, '..'), { recursive: true, force: true }));

describe('texad synth --preset tiny', () => {
  it('round-trips through texad info with the planned counts and no problems', async () => {
    const { code, out } = await quiet(() => info.run([root, '--json']));
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(json.layout).toBe('texture-ad');
    expect(json.problems).toEqual([]);
    const p = PRESETS.tiny;
    for (const cat of json.categories) {
      const n = p.counts[cat.name as 'cloth'];
      expect(cat.subclasses).toHaveLength(p.subclasses[cat.name as 'cloth']);
      for (const s of cat.subclasses) {
        expect(s).toMatchObject({ train: n.train, testGood: n.testGood, testDefective: n.testDefective,
          masks: n.testDefective, sizes: { '128×128': n.train + n.testGood + n.testDefective } });
        for (const t of Object.keys(s.defectTypes)) expect(CATEGORY_DEFECTS[cat.name as 'cloth']).toContain(t);
      }
    }
    const manifest = JSON.parse(readFileSync(join(root, SYNTH_MANIFEST), 'utf8'));
    expect(manifest).toMatchObject({ preset: 'tiny', seed: 0, images: 198, masks: 72 });
  });

  it('is deterministic for a seed: re-rendering gives the bytes on disk, another seed does not', () => {
    const items = planDataset(PRESETS.tiny, 0).filter((_, k) => k % 37 === 0);
    for (const it of items) {
      const s = renderSample(it, PRESETS.tiny, 0);
      const file = join(root, it.category, it.subclass, it.split, it.defect, `${String(it.index).padStart(3, '0')}.png`);
      expect(Buffer.from(encodePng(s.image.toRgb8(), 128, 128, 3)).equals(readFileSync(file))).toBe(true);
      const other = renderSample(it, PRESETS.tiny, 1);
      expect(Buffer.from(other.image.toRgb8()).equals(Buffer.from(s.image.toRgb8()))).toBe(false);
    }
  });

  it('writes only the categories asked for, and reports its counts as JSON', async () => {
    const out = join(root, '..', 'wafer-only');
    const { code, out: text } = await quiet(() => synth.run(['--out', out, '--categories', 'wafer', '--json']));
    expect(code).toBe(0);
    expect(JSON.parse(text)).toMatchObject({ images: 66, masks: 24, counts: { wafer: { train: 24 } } });
    expect((await discoverDataset(out)).categories.map((c) => c.name)).toEqual(['wafer']);
    await expect(synth.run(['--out', out, '--categories', 'leather'])).rejects.toThrow(/unknown category 'leather'/);
  });

  it('refuses to write into a non-empty folder', async () => {
    await expect(synth.run(['--out', root, '--preset', 'tiny'])).rejects.toThrow(/not empty; choose a new folder or pass --force/);
  });
});

describe('synthetic defects', () => {
  it('change exactly the masked pixels, visibly', () => {
    for (const cat of CATEGORIES) {
      for (const type of CATEGORY_DEFECTS[cat]) {
        const rng = new Rng(11);
        const canvas = renderSurface(SUBCLASSES[cat][0]!.design, 96, rng);
        const clean = canvas.clone();
        const d = applyDefect(canvas, type, rng, { area: [0.004, 0.02], minContrast: 0.1 });
        let changed = 0;
        let outside = 0;
        let delta = 0;
        for (let i = 0; i < d.mask.length; i++) {
          const diff = Math.max(...[0, 1, 2].map((c) => Math.abs(canvas.data[i * 3 + c]! - clean.data[i * 3 + c]!)));
          if (diff > 0) changed++;
          if (diff > 0 && !d.mask[i]) outside++;
          if (d.mask[i]) delta += diff;
        }
        expect(outside, `${cat}/${type} changed pixels outside its mask`).toBe(0);
        expect(changed, `${cat}/${type}`).toBeGreaterThan(0);
        expect(delta / d.mask.reduce((a, b) => a + b, 0), `${cat}/${type} contrast`).toBeGreaterThan(0.05);
        expect(d.area).toBeGreaterThan(0);
      }
    }
  });
});

describe('protocols', () => {
  it('pool every subclass of a category and hand methods nothing but opaque ids', async () => {
    const p = textureAdProtocol(desc, 'cloth');
    const subclasses = desc.categories.find((c) => c.name === 'cloth')!.subclasses;
    expect(p.trainItems).toHaveLength(subclasses.reduce((n, s) => n + s.splits.train.length, 0));
    expect(p.testItems).toHaveLength(subclasses.reduce((n, s) => n + s.splits.test.length, 0));
    expect(new Set(p.testItems.map((r) => p.record(r).subclass))).toEqual(new Set(subclasses.map((s) => s.name)));
    expect(p.records('train').every((r) => r.label === 0)).toBe(true);

    // Everything a method can be given: refs, a loaded image, a batch (without masks).
    const img = await loadSample(p, p.testItems[0]!, { size: 32 });
    const loaded: unknown[] = [];
    for await (const b of batches(p, p.testItems, { size: 16, batchSize: 8 })) loaded.push(b);
    const methodFacing: unknown[] = [...p.trainItems, ...p.testItems, img, ...loaded];
    const forbidden = [...subclasses.map((s) => s.name), ...CATEGORY_DEFECTS.cloth, 'good', root, '/'];
    for (const obj of methodFacing) {
      for (const key of Reflect.ownKeys(obj as object)) {
        expect(['id', 'data', 'height', 'width', 'images', 'ids', 'count', 'size']).toContain(key);
      }
      const text = JSON.stringify(obj, (_k, v) => (ArrayBuffer.isView(v) ? undefined : v));
      for (const word of forbidden) expect(text, `method-facing object mentions '${word}'`).not.toContain(word);
    }
    for (const r of p.trainItems) expect(Object.keys(r)).toEqual(['id']);
    expect(Object.isFrozen(p.trainItems[0])).toBe(true);

    // Order leaks nothing either: the pooled test set is not grouped by subclass.
    const order = p.testItems.map((r) => p.record(r).subclass);
    const runs = order.filter((s, k) => k > 0 && s !== order[k - 1]).length + 1;
    expect(runs).toBeGreaterThan(subclasses.length * 2);
  });

  it('hold out a seeded, per-subclass validation split', () => {
    const a = textureAdProtocol(desc, 'wafer', { validationFraction: 0.25, seed: 1 });
    const b = textureAdProtocol(desc, 'wafer', { validationFraction: 0.25, seed: 1 });
    const c = textureAdProtocol(desc, 'wafer', { validationFraction: 0.25, seed: 2 });
    const paths = (p: typeof a) => p.records('validation').map((r) => r.path).sort();
    expect(paths(a)).toHaveLength(6);
    expect(paths(a)).toEqual(paths(b));
    expect(paths(a)).not.toEqual(paths(c));
    const per = new Map<string, number>();
    for (const r of a.records('validation')) per.set(r.subclass, (per.get(r.subclass) ?? 0) + 1);
    expect([...per.values()]).toEqual([2, 2, 2]);
    expect(a.trainItems.length + a.validationItems.length).toBe(24);
    const train = new Set(a.records('train').map((r) => r.path));
    expect(paths(a).filter((x) => train.has(x))).toEqual([]);
  });

  it('offers the MVTec per-subclass protocol', () => {
    const all = protocols(desc, 'mvtec');
    expect(all).toHaveLength(9);
    const p = mvtecProtocol(desc, 'metal', 'matte_black');
    expect(p.subclass).toBe('matte_black');
    expect(p.records().every((r) => r.subclass === 'matte_black')).toBe(true);
    expect(p.trainItems).toHaveLength(8);
    expect(() => mvtecProtocol(desc, 'metal', 'nope')).toThrow(/no subclass 'nope'/);
    expect(() => textureAdProtocol(desc, 'leather')).toThrow(/no category 'leather'; found cloth, metal, wafer/);
  });
});

describe('batch loading', () => {
  it('yields [B, 3, S, S] images in order, with masks only when asked', async () => {
    const p = textureAdProtocol(desc, 'metal');
    const seen: string[] = [];
    let defectPixels = 0;
    for await (const b of batches(p, p.testItems, { size: 64, batchSize: 5, masks: true })) {
      expect(b.images).toHaveLength(b.count * 3 * 64 * 64);
      expect(b.masks).toHaveLength(b.count * 64 * 64);
      b.ids.forEach((id, k) => {
        const on = b.masks!.subarray(k * 4096, (k + 1) * 4096).reduce((s, v) => s + v, 0);
        expect(on > 0, id).toBe(p.record(id).label === 1);
        defectPixels += on;
      });
      expect(Math.min(...b.images)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...b.images)).toBeLessThanOrEqual(1);
      seen.push(...b.ids);
    }
    expect(seen).toEqual(p.testItems.map((r) => r.id));
    expect(defectPixels).toBeGreaterThan(0);
  });
});

describe('tiny preset difficulty', () => {
  // The reference detectors (patch-statistics kNN, colour histogram) must stay near chance: if they separate good
  // from defective test images, the data measures colour and patch statistics, not anomaly detection (issue 15).
  // The default tiny set (synthetic seed 0, the one `npm run demo` uses) is held to the calibration target itself,
  // 0.70 on every category (tools/calibrate-synth.ts, README "Datasets"). The old generator scored 0.86–0.93 here.
  it('keeps both reference detectors at image AUROC ≤ 0.70 on every category of the default set', async () => {
    const results: Record<string, number> = {};
    for (const category of ['cloth', 'wafer', 'metal']) {
      const floor = await referenceFloor(textureAdProtocol(desc, category), PRESETS.tiny.size);
      for (const name of CALIBRATION_DETECTORS) results[`${category}/${name}`] = floor[name]!.imageAUROC;
    }
    expect(Object.keys(results)).toHaveLength(6);
    for (const [key, a] of Object.entries(results)) expect(a, key).toBeLessThanOrEqual(0.70);
  }, 600_000);
});
