#!/usr/bin/env node
// The fused anomaly maps (sqDiffChannelMean / absDiffChannelMean, shaders/reduce.wgsl) against the ops they
// replaced, interleaved rounds on one device, medians; a ratio is the median of per-round ratios.
// - EfficientAD-S's two maps at 256 px: teacher [1, 384, 56, 56] against each half of the student's
//   [1, 768, 56, 56]; composed = slice, sub, square, channel mean (five dispatches, three full-size temporaries).
// - PyramidFlow's map at the paper size (1024 px, ResNet18 encoder: 64 channels, levels 256, 128, 64, 32 px, one
//   image); composed = |out - template| per level, composed through the pyramid on 64 channels, channel mean;
//   fused = the channel mean of |out - template| per level, composed on one channel.
// After `npm run build`:  node tools/map-fusion-bench.mjs
import { Runtime } from '../dist/src/runtime/runtime.js';
import { absDiffChannelMean, sqDiffChannelMean, mean } from '../dist/src/ops/reduce.js';
import { abs, square, sub } from '../dist/src/ops/elementwise.js';
import { slice } from '../dist/src/ops/layout.js';
import { composePyramid } from '../dist/src/methods/pyramidflow/pyramid.js';
import { loadavg } from 'node:os';

const rt = await Runtime.create();
const wave = (n, f, shape) => rt.tensor(Float32Array.from({ length: n }, (_, i) => f(i)), shape);
const t = wave(384 * 3136, Math.sin, [1, 384, 56, 56]);
const s = wave(768 * 3136, Math.cos, [1, 768, 56, 56]);
const sides = [256, 128, 64, 32];
const outs = sides.map((d) => wave(64 * d * d, (i) => Math.sin(0.37 * i), [1, 64, d, d]));
const template = sides.map((d) => wave(64 * d * d, (i) => Math.cos(0.11 * i), [1, 64, d, d]));
const comparisons = {
  'both maps of EfficientAD-S at 256 px ([1,384,56,56] vs halves of [1,768,56,56])': {
    composed: () => [mean(square(sub(t, slice(s, 1, 0, 384))), [1], true), mean(square(sub(t, slice(s, 1, 384, 768))), [1], true)],
    fused: () => [sqDiffChannelMean(t, s, 0), sqDiffChannelMean(t, s, 384)],
  },
  'PyramidFlow map at 1024 px (64 channels, levels 256..32 px)': {
    composed: () => [mean(composePyramid(outs.map((o, i) => abs(sub(o, template[i])))), [1], true)],
    fused: () => [composePyramid(outs.map((o, i) => absDiffChannelMean(o, template[i])))],
  },
};
const med = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
for (const [name, variants] of Object.entries(comparisons)) {
  // Each call keeps its outputs (read for the check), disposes every intermediate.
  const once = (f) => rt.noGrad(() => rt.tidy(() => f().map((y) => y.keep())));
  const run = async (f, reps) => { for (let r = 0; r < reps; r++) for (const y of once(f)) y.dispose(); await rt.sync(); };
  const [a, b] = [once(variants.composed), once(variants.fused)];
  const [ya, yb] = [await a[a.length - 1].read(), await b[b.length - 1].read()];
  const err = ya.reduce((m, v, i) => Math.max(m, Math.abs(v - yb[i]) / (Math.abs(v) + 1e-6)), 0);
  for (const y of [...a, ...b]) y.dispose();
  for (const f of Object.values(variants)) await run(f, 2);
  const times = { composed: [], fused: [] };
  for (let round = 0; round < 7; round++) for (const [k, f] of (round % 2 ? Object.entries(variants).reverse() : Object.entries(variants))) {
    const t0 = performance.now(); await run(f, 5); times[k].push((performance.now() - t0) / 5);
  }
  const ratio = med(times.composed.map((c, i) => c / times.fused[i]));
  console.log(`load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${name}: composed ${med(times.composed).toFixed(2)} ms, ` +
    `fused ${med(times.fused).toFixed(2)} ms, per-round ratio ${ratio.toFixed(2)}x (largest relative difference ${err.toExponential(1)})`);
}
await rt.destroy();
process.exit(0);
