// The README's embedding example, kept honest: the public entry fits and predicts on in-memory images.
import { describe, expect, it } from 'vitest';
import { Runtime, SimpleNet, imagesInMemory, data } from '../src/index.ts';

describe('public API', () => {
  it('fits SimpleNet on in-memory images and predicts finite, repeatable scores and maps', async () => {
    const rt = await Runtime.create();
    try {
      const side = 64;
      const det = await SimpleNet.create(rt, {
        preset: 'quick',
        config: { backbone: 'resnet18', resize: side, imagesize: side, pretrain_embed_dimension: 32,
          target_embed_dimension: 32, dsc_hidden: 16, meta_epochs: 1, gan_epochs: 2 },
      });
      const rng = new data.Rng(1);
      const texture = () => Float32Array.from({ length: 3 * side * side }, (_, i) => 0.5 + 0.1 * Math.sin(i % side) + 0.02 * rng.next());
      const train = Array.from({ length: 8 }, texture);
      await det.fit(imagesInMemory(train, side));
      const normal = texture();
      const defect = texture();
      for (let y = 20; y < 30; y++) for (let x = 20; x < 30; x++) for (let c = 0; c < 3; c++) defect[c * side * side + y * side + x] = 1;
      const images = new Float32Array(2 * 3 * side * side);
      images.set(normal, 0);
      images.set(defect, 3 * side * side);
      const { scores, maps, height } = await det.predict({ images, count: 2, height: side, width: side });
      expect(height).toBe(side);
      expect(maps.length).toBe(2 * side * side);
      expect([...scores, ...maps].every(Number.isFinite)).toBe(true);
      const again = await det.predict({ images, count: 2, height: side, width: side });
      expect(again.scores).toEqual(scores);
      expect(() => imagesInMemory([new Float32Array(10)], side)).toThrow(/expected 3 x 64 x 64/);
      det.dispose();
    } finally {
      await rt.destroy();
    }
  });
});
