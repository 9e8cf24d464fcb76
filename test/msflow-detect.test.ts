// MSFlow end to end on tiny in-memory textures: a defect scores above a normal image and the map peaks inside the
// defect; a diverging flow stops training naming the step and keeps its parameters; bad sizes are refused.
import { describe, expect, it } from 'vitest';
import { MSFlow, QUICK } from '../src/methods/msflow/index.ts';
import { imagesInMemory } from '../src/methods/detector.ts';
import { gpuRuntime } from './helpers/gpu.ts';

const SIDE = 64;
const config = { ...QUICK, input_size: SIDE, parallel_blocks: [1, 1, 1], c_conds: [8, 8, 8], meta_epochs: 1, sub_epochs: 2, batch_size: 3 };

/** Seeded stripes with mild noise, CHW RGB in [0, 1]. */
function texture(seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(3 * SIDE * SIDE);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = 0.5 + 0.15 * Math.sin((i % SIDE) * 0.8 + Math.floor(i / (SIDE * SIDE))) + 0.05 * (s / 2 ** 32);
  }
  return out;
}

const DEFECT = { y0: 24, y1: 40, x0: 24, x1: 40 };

describe('MSFlow detector', () => {
  it('scores a defect above a normal image, with the map peaking inside the defect', async () => {
    const rt = await gpuRuntime();
    const det = await MSFlow.create(rt, { config });
    try {
      const report = await det.fit(imagesInMemory(Array.from({ length: 6 }, (_, i) => texture(i)), SIDE));
      expect(Number.isFinite(report.finalLoss)).toBe(true);
      const defect = texture(101);
      for (let c = 0; c < 3; c++) {
        for (let y = DEFECT.y0; y < DEFECT.y1; y++) for (let x = DEFECT.x0; x < DEFECT.x1; x++) defect[(c * SIDE + y) * SIDE + x] = 1;
      }
      const images = new Float32Array(2 * 3 * SIDE * SIDE);
      images.set(texture(100), 0);
      images.set(defect, 3 * SIDE * SIDE);
      const pred = await det.predict({ images, count: 2, height: SIDE, width: SIDE });
      expect(pred.scores[1]!).toBeGreaterThan(pred.scores[0]!);
      let inside = 0;
      let outside = 0;
      for (let y = 0; y < SIDE; y++) {
        for (let x = 0; x < SIDE; x++) {
          const v = pred.maps[SIDE * SIDE + y * SIDE + x]!;
          if (y >= DEFECT.y0 && y < DEFECT.y1 && x >= DEFECT.x0 && x < DEFECT.x1) inside += v / 256;
          else outside += v / (SIDE * SIDE - 256);
        }
      }
      expect(inside).toBeGreaterThan(outside);
    } finally {
      det.dispose();
    }
  });

  it('stops a diverging fit naming the step, the last finite loss and the first bad step, the parameters untouched', async () => {
    const rt = await gpuRuntime();
    const det = await MSFlow.create(rt, { config });
    try {
      const before = await det.state();
      const name = 'parallel_flows.0.module_list.0.global_offset';
      const poisoned = { ...before, tensors: { ...before.tensors, [name]: { ...before.tensors[name]!, data: before.tensors[name]!.data.map(() => NaN) } } };
      await det.restore(poisoned);
      await expect(det.fit(imagesInMemory([texture(0), texture(1)], SIDE))).rejects.toThrow(/diverged: loss NaN at step 1 \(last finite loss NaN at step 0\).*non-finite gradient .*'parallel_flows\.0\.module_list\.0\.global_offset'.*\(first at step 1\)/s);
      const after = await det.state();
      expect(after.tensors['parallel_flows.0.module_list.0.global_scale']!.data).toEqual(before.tensors['parallel_flows.0.module_list.0.global_scale']!.data);
    } finally {
      det.dispose();
    }
  });

  it('refuses input sizes whose pooled grids do not halve exactly, naming the multiple', async () => {
    const rt = await gpuRuntime();
    await expect(MSFlow.create(rt, { config: { ...config, input_size: 48 } })).rejects.toThrow(/multiple of 32.*got 48/);
  });
});
