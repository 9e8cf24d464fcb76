// The small preset end to end: generation, discovery round trip, defect sizes, and the loader's memory budget.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { discoverDataset } from '../src/data/discover.ts';
import { BatchLoader, batches } from '../src/data/loader.ts';
import { textureAdProtocol } from '../src/data/protocol.ts';
import { CATEGORIES, PRESETS } from '../src/data/synth/catalogue.ts';
import { writeSynthDataset, type SynthSummary } from '../src/data/synth/write.ts';
import type { DatasetDescription } from '../src/data/types.ts';
import { drainSlowly, tempDir } from './data-helpers.ts';

let root = '';
let summary: SynthSummary;
let desc: DatasetDescription;

beforeAll(async () => {
  root = join(tempDir('small'), 'small');
  summary = await writeSynthDataset(root, { preset: PRESETS.small, seed: 1 });
  desc = await discoverDataset(root);
}, 120_000);
afterAll(() => rmSync(join(root, '..'), { recursive: true, force: true }));

describe('texad synth --preset small', () => {
  it('round-trips through discovery', () => {
    expect(desc.problems).toEqual([]);
    for (const cat of CATEGORIES) {
      const c = desc.categories.find((x) => x.name === cat)!;
      const n = PRESETS.small.counts[cat];
      expect(c.subclasses).toHaveLength(PRESETS.small.subclasses[cat]);
      for (const s of c.subclasses) {
        expect(s.splits.train).toHaveLength(n.train);
        expect(s.splits.test.filter((i) => i.label === 0)).toHaveLength(n.testGood);
        const bad = s.splits.test.filter((i) => i.label === 1);
        expect(bad).toHaveLength(n.testDefective);
        expect(bad.every((i) => i.maskPaths.length === 1)).toBe(true);
        expect(s.splits.train.every((i) => i.width === 256 && i.height === 256 && i.channels === 3)).toBe(true);
      }
      expect(summary.counts[cat]).toEqual({ train: c.subclasses.length * n.train,
        'test/good': c.subclasses.length * n.testGood, 'test/defective': c.subclasses.length * n.testDefective });
    }
  });

  it('skews defect areas small, as the paper does: most under 1 % of the image', () => {
    expect(summary.defectArea.under1pct).toBeGreaterThan(0.6);
    expect(summary.defectArea.median).toBeLessThan(0.006);
  });
});

describe('streaming loader on the small preset', () => {
  it('stays within its memory budget while prefetching ahead of a slow consumer', async () => {
    const p = textureAdProtocol(desc, 'cloth');
    const batchSize = 8;
    const batchBytes = batchSize * 3 * 256 * 256 * 4;
    // Room for the consumer's batch, two prefetched ones and the scratch of one decode — not for more.
    const budget = Math.round(3.6 * batchBytes);
    const loader = new BatchLoader(p, p.trainItems, { size: 256, batchSize, memoryBudget: budget, prefetch: 4 });
    expect(await drainSlowly(loader, budget, 250)).toBe(p.trainItems.length);
    expect(loader.stats.peakBytes).toBeLessThanOrEqual(budget);
    expect(loader.stats.peakBytes).toBeGreaterThan(2 * batchBytes);
    expect(loader.stats.maxReady).toBeGreaterThanOrEqual(1);
    expect(loader.stats.maxReady).toBeLessThanOrEqual(2);

    // With room to spare it runs the full prefetch depth ahead, and no further. The consumer holds its first batch
    // until three more are ready (or 30 s pass), so the check does not depend on how fast a loaded machine decodes
    // (a fixed 250 ms pause per batch was too short when test files shared the 2 cores).
    const roomy = batches(p, p.trainItems, { size: 256, batchSize, memoryBudget: 64 * batchBytes, prefetch: 3 });
    let first = true;
    for await (const _ of roomy) {
      for (let waited = 0; first && roomy.stats.maxReady < 3 && waited < 30_000; waited += 50) {
        await new Promise((r) => setTimeout(r, 50));
      }
      first = false;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(roomy.stats.maxReady).toBe(3);
    expect(roomy.stats.peakBytes).toBeLessThanOrEqual(64 * batchBytes);
  }, 60_000);

  it('refuses a budget that cannot hold one batch, saying what to change', async () => {
    const p = textureAdProtocol(desc, 'wafer');
    const tooSmall = batches(p, p.trainItems, { size: 256, batchSize: 8, memoryBudget: 1024 * 1024 });
    await expect((async () => {
      for await (const _ of tooSmall) { /* drain */ }
    })()).rejects.toThrow(/memory budget of 1048576 bytes cannot hold one batch .* raise memoryBudget or lower batchSize/);
  });
});
