// Decoding in worker threads (src/data/decode-pool.ts): the same pixels as decoding in-thread, errors that name the
// file, the memory budget kept with several decodes in flight. Workers run the built dist/ (Node cannot start a
// TypeScript worker), so this file loads the pool from there; `npm test` builds first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DecodePool as SourcePool } from '../src/data/decode-pool.ts';
import { discoverDataset } from '../src/data/discover.ts';
import { imageFromBytes, maskFromBytes } from '../src/data/image.ts';
import { BatchLoader, type Batch } from '../src/data/loader.ts';
import { textureAdProtocol, type Protocol } from '../src/data/protocol.ts';
import { PRESETS } from '../src/data/synth/catalogue.ts';
import { writeSynthDataset } from '../src/data/synth/write.ts';
import { drainSlowly, grayPng, rgbJpeg, rgbPng, tempDir } from './data-helpers.ts';

type Pool = SourcePool;
const built = (await import('../dist/src/data/decode-pool.js')) as { DecodePool: typeof SourcePool };
const builtDecode = (await import('../dist/src/data/decode.js')) as { ImageDecodeError: new (m: string) => Error };

let root = '';
let protocol: Protocol;
let pool: Pool;

beforeAll(async () => {
  root = join(tempDir('decode-pool'), 'tiny');
  await writeSynthDataset(root, { preset: PRESETS.tiny, seed: 5, categories: ['cloth'] });
  protocol = textureAdProtocol(await discoverDataset(root), 'cloth');
  pool = await built.DecodePool.create(2);
}, 120_000);
afterAll(async () => {
  await pool?.close();
  rmSync(join(root, '..'), { recursive: true, force: true });
});

async function collect(loader: BatchLoader): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader) out.push(b);
  return out;
}

describe('DecodePool', () => {
  it('decodes PNG, JPEG and masks in workers exactly as in-thread', async () => {
    const png = rgbPng(40, 30, (x, y) => [x * 6, y * 8, (x * y) % 255]);
    const jpeg = rgbJpeg(33, 21, (x, y) => [x * 7, 255 - y * 9, 128]);
    const mask = grayPng(40, 30, (x, y) => (x > 20 && y < 10 ? 255 : 0));
    for (const [bytes, opts] of [[png, { size: 16 }], [jpeg, { size: 24, crop: 20 }], [png, {}]] as const) {
      const inThread = imageFromBytes(bytes, opts);
      const fromPool = await pool.image(bytes, opts, 'x');
      expect([fromPool.height, fromPool.width]).toEqual([inThread.height, inThread.width]);
      expect(fromPool.data).toEqual(inThread.data);
    }
    expect((await pool.mask([mask, mask], { size: 16 })).data).toEqual(maskFromBytes([mask, mask], { size: 16 }).data);
  });

  it('names the file of a corrupt image and keeps working after it', async () => {
    const png = rgbPng(8, 8, () => [1, 2, 3]);
    const err = await pool.image(png.subarray(0, 60), { size: 8 }, '/data/broken.png').catch((e: Error) => e);
    expect(err).toBeInstanceOf(builtDecode.ImageDecodeError);
    expect((err as Error).message).toMatch(/^\/data\/broken\.png: /);
    expect((await pool.image(png, { size: 8 })).width).toBe(8);
  });

  it('refuses to start from TypeScript sources under Node, naming the worker and the fallback', async () => {
    await expect(SourcePool.create(1)).rejects.toThrow(/decode pool: cannot start the worker .*decode-worker\.js .*decode in-thread instead \(decodeWorkers 0, --decode-workers 0\)/);
    await expect(built.DecodePool.create(0)).rejects.toThrow('decode pool: size must be a positive integer, got 0');
  });
});

describe('BatchLoader with a decode pool', () => {
  it('yields the same batches as decoding in-thread, masks included', async () => {
    const opts = { size: 64, batchSize: 5, masks: true };
    const plain = await collect(new BatchLoader(protocol, protocol.testItems, opts));
    const pooled = await collect(new BatchLoader(protocol, protocol.testItems, { ...opts, decodePool: pool }));
    expect(pooled.map((b) => b.ids)).toEqual(plain.map((b) => b.ids));
    for (let i = 0; i < plain.length; i++) {
      expect(pooled[i]!.images).toEqual(plain[i]!.images);
      expect(pooled[i]!.masks).toEqual(plain[i]!.masks);
    }
  }, 60_000);

  it('keeps two decodes in flight within the memory budget', async () => {
    const batchSize = 4;
    const batchBytes = batchSize * 3 * 128 * 128 * 4;
    const budget = 3 * batchBytes;
    const loader = new BatchLoader(protocol, protocol.trainItems, { size: 128, batchSize, memoryBudget: budget, decodePool: pool });
    expect(await drainSlowly(loader, budget, 50)).toBe(protocol.trainItems.length);
    expect(loader.stats.peakBytes).toBeLessThanOrEqual(budget);
  }, 60_000);
});
