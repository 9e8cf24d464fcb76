import { afterEach, describe, expect, it, vi } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { discoverDataset } from '../src/data/discover.ts';
import { inferLayout } from '../src/data/layout.ts';
import { DatasetError, allItems, type DatasetDescription } from '../src/data/types.ts';
import { command as info } from '../src/cli/info.ts';
import { bmp, grayPng, rgbJpeg, rgbPng, snapshot, tempDir, writeTree } from './data-helpers.ts';

const img = (seed = 0): Uint8Array => rgbPng(8, 8, (x, y) => [(x * 30 + seed) % 256, y * 30, 100]);
const mask = (size = 8): Uint8Array => grayPng(size, size, (x, y) => (x > 2 && y > 2 ? 255 : 0));

const dirs: string[] = [];
function fixture(label: string, files: Record<string, Uint8Array | string>): string {
  const root = tempDir(label);
  dirs.push(root);
  writeTree(root, files);
  return root;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function runInfo(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    const code = await info.run(argv);
    return { code, out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

function counts(d: DatasetDescription): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of d.categories) {
    for (const s of c.subclasses) {
      out[`${c.name}/${s.name}`] = `train ${s.splits.train.length} test ${s.splits.test.length} ` +
        `defective ${s.splits.test.filter((i) => i.label === 1).length}`;
    }
  }
  return out;
}

describe('MVTec AD layout', () => {
  it('finds categories, splits, defect types and masks by stem', async () => {
    const root = fixture('mvtec', {
      'carpet/train/good/000.png': img(), 'carpet/train/good/001.png': img(1),
      'carpet/test/good/000.png': img(2), 'carpet/test/color/000.png': img(3), 'carpet/test/cut/000.png': img(4),
      'carpet/ground_truth/color/000_mask.png': mask(), 'carpet/ground_truth/cut/000_mask.png': mask(),
      'grid/train/good/000.png': img(), 'grid/test/bent/000.png': img(5),
      'grid/ground_truth/bent/000_mask.png': mask(), 'license.txt': 'CC BY-NC-SA',
    });
    const before = snapshot(root);
    const d = await discoverDataset(root);
    expect(d.layout).toBe('mvtec');
    expect(counts(d)).toEqual({
      'carpet/carpet': 'train 2 test 3 defective 2', 'grid/grid': 'train 1 test 1 defective 1',
    });
    const cut = allItems(d).find((i) => i.defectType === 'cut')!;
    expect(cut.maskPaths).toEqual([join(root, 'carpet/ground_truth/cut/000_mask.png')]);
    expect(allItems(d).find((i) => i.split === 'test' && i.label === 0)!.maskPaths).toEqual([]);
    expect(d.problems).toEqual([]);
    expect(snapshot(root)).toEqual(before);

    const { code, out } = await runInfo([root]);
    expect(code).toBe(0);
    expect(out).toMatch(/mvtec layout, 2 categories, 2 subclasses, 7 images/);
    expect(out).toMatch(/defect types: color 1, cut 1/);
    expect(out).toMatch(/no problems found/);
  });
});

describe('Texture-AD layout', () => {
  it('discovers category → subclass → split folders, ok/normal names, suffix variants, several masks', async () => {
    const root = fixture('tad', {
      'Cloth/denim/train/good/a.png': img(), 'Cloth/denim/train/good/b.jpg': rgbJpeg(8, 8, () => [50, 60, 70]),
      'Cloth/denim/test/ok/c.png': img(1), 'Cloth/denim/test/stain/d.bmp': bmp(8, 8, 24, () => [1, 2, 3]),
      'Cloth/denim/ground_truth/stain/d_gt.png': mask(),
      'Cloth/satin/train/normal/e.png': img(2), 'Cloth/satin/test/cut/f.png': img(3),
      'Cloth/satin/test/cut/f_mask1.png': mask(), 'Cloth/satin/test/cut/f_mask2.png': mask(),
      'Wafer/d4/train/good/g.png': img(), 'Wafer/d4/test/scratch/h.png': img(4),
      'Wafer/d4/ground_truth/scratch/h.png': mask(),
    });
    const d = await discoverDataset(root);
    expect(d.layout).toBe('texture-ad');
    expect(counts(d)).toEqual({
      'Cloth/denim': 'train 2 test 2 defective 1', 'Cloth/satin': 'train 1 test 1 defective 1',
      'Wafer/d4': 'train 1 test 1 defective 1',
    });
    const items = allItems(d);
    expect(items.find((i) => i.path.endsWith('d.bmp'))!.maskPaths).toHaveLength(1);
    expect(items.find((i) => i.path.endsWith('f.png'))!.maskPaths).toHaveLength(2);
    expect(items.find((i) => i.path.endsWith('h.png') && i.split === 'test')!.maskPaths)
      .toEqual([join(root, 'Wafer/d4/ground_truth/scratch/h.png')]);
    expect(items.find((i) => i.path.endsWith('c.png'))).toMatchObject({ label: 0, defectType: 'good' });
    expect(d.problems).toEqual([]);

    const one = await discoverDataset(join(root, 'Cloth'), { category: 'Cloth' });
    expect(counts(one)).toEqual({ 'Cloth/denim': 'train 2 test 2 defective 1', 'Cloth/satin': 'train 1 test 1 defective 1' });
  });
});

describe('Folder layout', () => {
  it('reads explicit normal / abnormal / mask folders', async () => {
    const root = fixture('folder', {
      'normal/n0.png': img(), 'normal/n1.png': img(1), 'normal/n2.png': img(2), 'normal/n3.png': img(3),
      'normal/n4.png': img(4), 'holes/h0.png': img(5), 'holes/h1.png': img(6), 'masks/h0_mask.png': mask(),
      'masks/h1.png': mask(),
    });
    const d = await discoverDataset(root, { folder: { normal: ['normal'], abnormal: ['holes'], mask: ['masks'] } });
    expect(d.layout).toBe('folder');
    const s = d.categories[0]!.subclasses[0]!;
    expect(s.splits.train).toHaveLength(4);
    expect(s.splits.test.filter((i) => i.label === 0)).toHaveLength(1);
    expect(s.splits.test.filter((i) => i.label === 1).map((i) => [i.defectType, i.maskPaths.length]))
      .toEqual([['holes', 1], ['holes', 1]]);
    expect(d.problems).toEqual([]);

    const { code, out } = await runInfo([root, '--normal', 'normal', '--abnormal', 'holes', '--mask', 'masks', '--json']);
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(json.layout).toBe('folder');
    expect(json.categories[0].subclasses[0]).toMatchObject({ train: 4, testGood: 1, testDefective: 2, masks: 2 });
  });

  it('recognises good/defect folders without train/test on its own', async () => {
    const root = fixture('auto', { 'good/0.png': img(), 'good/1.png': img(1), 'bad/2.png': img(2), 'mask/2.png': mask() });
    const d = await discoverDataset(root);
    expect(d.layout).toBe('folder');
    expect(allItems(d).filter((i) => i.label === 1).map((i) => i.maskPaths.length)).toEqual([1]);
  });

  it('works on a bare listing (no file system), as a browser would use it', () => {
    const d = inferLayout('ds', ['cat/train/good/0.png', 'cat/test/bad/1.png', 'cat/ground_truth/bad/1_mask.png'], ['cat']);
    expect(allItems(d).map((i) => [i.path, i.maskPaths])).toEqual([
      ['ds/cat/train/good/0.png', []], ['ds/cat/test/bad/1.png', ['ds/cat/ground_truth/bad/1_mask.png']]]);
  });
});

describe('broken datasets', () => {
  function broken(): string {
    const good = img();
    return fixture('broken', {
      'wood/train/good/000.png': good, 'wood/train/good/001.png': good.subarray(0, good.length - 30),
      'wood/train/good/002.png': 'this is text', 'wood/train/good/003.tif': new Uint8Array([0x49, 0x49, 42, 0]),
      'wood/train/good/004.png': grayPng(8, 8, () => 128),
      'wood/test/good/000.png': img(1), 'wood/test/hole/000.png': img(2), 'wood/test/hole/001.png': img(3),
      'wood/test/hole/002.png': img(4), 'wood/ground_truth/hole/000_mask.png': mask(16),
      'wood/ground_truth/hole/001_mask.png': mask(), 'wood/ground_truth/hole/009_mask.png': mask(),
      'wood/test/huge/000.png': rgbPng(64, 64, () => [1, 1, 1]), 'wood/ground_truth/huge/000_mask.png': mask(64),
      'tile/readme.txt': 'no images here',
    });
  }

  it('reports every planted problem by path and still loads the rest', async () => {
    const root = broken();
    const before = snapshot(root);
    const d = await discoverDataset(root, { maxPixels: 1024 });
    const at = (rel: string): string[] => d.problems.filter((p) => p.path === join(root, rel)).map((p) => p.message);
    expect(at('wood/train/good/001.png').join()).toMatch(/truncated PNG/);
    expect(at('wood/train/good/002.png').join()).toMatch(/not a PNG, JPEG or BMP/);
    expect(at('wood/train/good/003.tif').join()).toMatch(/not supported; convert to PNG/);
    expect(at('wood/ground_truth/hole/000_mask.png').join()).toMatch(/mask is 16×16 but its image .* is 8×8/);
    expect(at('wood/test/hole/002.png').join()).toMatch(/without a mask/);
    expect(at('wood/ground_truth/hole/009_mask.png').join()).toMatch(/mask without an image/);
    expect(at('wood/test/huge/000.png').join()).toMatch(/exceeds the limit of 1024 pixels/);
    expect(at('wood/train/good/004.png').join()).toMatch(/mixes 1 image\(s\) with 1 channel/);
    expect(at('tile').join()).toMatch(/empty category/);
    expect(d.problems).toHaveLength(10);
    // What is intact still loads: 2 readable train images, test good + hole/001 + hole/002.
    expect(counts(d)).toEqual({ 'wood/wood': 'train 2 test 3 defective 2' });
    expect(snapshot(root)).toEqual(before);
  });

  it('stops with every problem listed in strict mode, and texad info --strict fails', async () => {
    const root = broken();
    const err = await discoverDataset(root, { strict: true, maxPixels: 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).problems.length).toBeGreaterThanOrEqual(9);
    expect((err as Error).message).toContain(join(root, 'wood/train/good/001.png'));
    const { code, out } = await runInfo([root, '--strict', '--max-pixels', '1024']);
    expect(code).toBe(1);
    for (const rel of ['wood/train/good/001.png', 'wood/ground_truth/hole/009_mask.png', 'wood/test/huge/000.png']) {
      expect(out).toContain(join(root, rel));
    }
    expect((await runInfo([root])).code).toBe(0);
  });

  it('finds corrupt pixel data only with a full decode', async () => {
    const bytes = img(7).slice();
    const idat = bytes.findIndex((_, i) => String.fromCharCode(...bytes.subarray(i, i + 4)) === 'IDAT');
    bytes[idat + 6] ^= 0xff;
    const root = fixture('corrupt', { 'c/train/good/0.png': img(), 'c/train/good/1.png': bytes, 'c/test/good/0.png': img() });
    expect((await discoverDataset(root)).problems).toEqual([]);
    const d = await discoverDataset(root, { decode: true });
    expect(d.problems.map((p) => p.path)).toEqual([join(root, 'c/train/good/1.png')]);
    expect(d.problems[0]!.message).toMatch(/corrupt PNG/);
  });

  it('explains a folder it cannot make sense of', async () => {
    const root = fixture('none', { 'pictures/a.png': img() });
    await expect(discoverDataset(root)).rejects.toThrow(/no images in train\/test folders/);
    await expect(discoverDataset(join(root, 'missing'))).rejects.toThrow(/is not a folder/);
  });
});
