// The detection check itself must be able to fail: run on a working reference detector it passes, and the same
// detector with its score sign flipped, its map transposed or its map shifted (mis-registered upsampling) fails.
import { describe, expect, it } from 'vitest';
import { PatchStatsKnn } from '../src/eval/reference.ts';
import type { Detector, ImageBatch, Prediction } from '../src/methods/detector.ts';
import { expectDetects } from './helpers/detection.ts';

const SIDE = 64;

/** `inner` with its predictions passed through `change`. */
function broken(inner: Detector, change: (p: Prediction) => Prediction): Detector {
  return {
    method: `${inner.method} (broken)`, resize: inner.resize, inputSize: inner.inputSize,
    fit: (train, opts) => inner.fit(train, opts),
    predict: async (batch: ImageBatch) => change(await inner.predict(batch)),
    state: () => inner.state(), restore: (s) => inner.restore(s), dispose: () => inner.dispose(),
  };
}

function remap(p: Prediction, at: (x: number, y: number) => [number, number]): Prediction {
  const n = p.height * p.width;
  const maps = new Float32Array(p.maps.length);
  for (let k = 0; k < p.maps.length / n; k++) {
    for (let y = 0; y < p.height; y++) {
      for (let x = 0; x < p.width; x++) {
        const [sx, sy] = at(x, y);
        maps[k * n + y * p.width + x] = p.maps[k * n + Math.min(p.height - 1, Math.max(0, sy)) * p.width +
          Math.min(p.width - 1, Math.max(0, sx))]!;
      }
    }
  }
  return { ...p, maps };
}

describe('expectDetects', () => {
  it('passes a working detector and reports where its maps peak', async () => {
    const r = await expectDetects(() => new PatchStatsKnn(SIDE));
    expect(r.peaks).toHaveLength(3);
    expect(r.scores).toHaveLength(6);
  });

  it('fails a flipped score sign', async () => {
    await expect(expectDetects(() => broken(new PatchStatsKnn(SIDE), (p) => ({ ...p, scores: p.scores.map((s) => -s) }))))
      .rejects.toThrow(/every defective image must score above every normal one/);
  });

  it('fails a transposed map', async () => {
    await expect(expectDetects(() => broken(new PatchStatsKnn(SIDE), (p) => remap(p, (x, y) => [y, x]))))
      .rejects.toThrow(/map peaks at .* from its defect/);
  });

  // A shift beyond the defect's radius plus the tolerance: 12 px of 64 (a patch grid's stride is 4–8 px).
  it('fails a map registered 12 px off', async () => {
    await expect(expectDetects(() => broken(new PatchStatsKnn(SIDE), (p) => remap(p, (x, y) => [x - 12, y - 12]))))
      .rejects.toThrow(/map peaks at .* from its defect/);
  });
});
