import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimpleNet } from '../src/methods/simplenet/index.ts';
import { decodeDetectorState, encodeDetectorState } from '../src/methods/checkpoint.ts';
import { writeSynthDataset } from '../src/data/synth/write.ts';
import { resolvePreset } from '../src/data/synth/generate.ts';
import { discoverDataset } from '../src/data/discover.ts';
import { textureAdProtocol } from '../src/data/protocol.ts';
import { BatchLoader } from '../src/data/loader.ts';
import { trainingImages } from '../src/eval/evaluate.ts';
import { gpuRuntime } from './helpers/gpu.ts';

describe('SimpleNet end to end on generated data', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'texad-simplenet-'));
    await writeSynthDataset(dir, { preset: resolvePreset('tiny'), seed: 5, categories: ['cloth'] });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // A small backbone and input keep this test to seconds; the pipeline is the same as the presets'.
  const config = { backbone: 'resnet18' as const, resize: 64, imagesize: 64, pretrain_embed_dimension: 64,
    target_embed_dimension: 64, dsc_hidden: 32, meta_epochs: 1, gan_epochs: 2 };

  async function fitAndPredict() {
    const rt = await gpuRuntime();
    const protocol = textureAdProtocol(await discoverDataset(dir), 'cloth');
    const det = await SimpleNet.create(rt, { preset: 'quick', config });
    const report = await det.fit(trainingImages(protocol));
    const loader = new BatchLoader(protocol, protocol.testItems.slice(0, 4), { size: 64, batchSize: 4 });
    let pred;
    for await (const b of loader) pred = await det.predict({ images: b.images, count: b.count, height: 64, width: 64 });
    return { det, report, pred: pred!, protocol };
  }

  it('is deterministic for a seed, and a saved state predicts the same after restore', async () => {
    const a = await fitAndPredict();
    const b = await fitAndPredict();
    try {
      expect(Number.isFinite(a.report.finalLoss)).toBe(true);
      expect(Array.from(a.pred.scores)).toEqual(Array.from(b.pred.scores));
      expect(a.pred.maps).toEqual(b.pred.maps);
      expect(a.pred.maps.length).toBe(4 * 64 * 64);

      const bytes = encodeDetectorState(await a.det.state());
      const rt = await gpuRuntime();
      const c = await SimpleNet.create(rt, { preset: 'quick', config });
      await c.restore(await decodeDetectorState(bytes));
      const loader = new BatchLoader(a.protocol, a.protocol.testItems.slice(0, 4), { size: 64, batchSize: 4 });
      for await (const batch of loader) {
        const p = await c.predict({ images: batch.images, count: batch.count, height: 64, width: 64 });
        expect(Array.from(p.scores)).toEqual(Array.from(a.pred.scores));
      }
      c.dispose();
      const wrong = await SimpleNet.create(rt, { preset: 'quick', config: { ...config, dsc_hidden: 16 } });
      await expect(wrong.restore(await decodeDetectorState(bytes))).rejects.toThrow(/dsc_hidden=32/);
      wrong.dispose();
    } finally {
      a.det.dispose();
      b.det.dispose();
    }
  });
});
