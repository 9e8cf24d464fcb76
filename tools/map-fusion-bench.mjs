#!/usr/bin/env node
// The fused anomaly map (sqDiffChannelMean, shaders/reduce.wgsl) against the ops it replaced (slice, sub, square,
// channel mean: five dispatches and three full-size temporaries), on EfficientAD-S's two maps at 256 px: teacher
// [1, 384, 56, 56] against each half of the student's [1, 768, 56, 56]. Interleaved rounds on one device, medians;
// the ratio is the median of per-round ratios. After `npm run build`:  node tools/map-fusion-bench.mjs
import { Runtime } from '../dist/src/runtime/runtime.js';
import { sqDiffChannelMean, mean } from '../dist/src/ops/reduce.js';
import { square, sub } from '../dist/src/ops/elementwise.js';
import { slice } from '../dist/src/ops/layout.js';
import { loadavg } from 'node:os';
const rt = await Runtime.create();
const t = rt.tensor(Float32Array.from({ length: 384 * 3136 }, (_, i) => Math.sin(i)), [1, 384, 56, 56]);
const s = rt.tensor(Float32Array.from({ length: 768 * 3136 }, (_, i) => Math.cos(i)), [1, 768, 56, 56]);
const variants = {
  composed: () => rt.noGrad(() => rt.tidy(() => [mean(square(sub(t, slice(s, 1, 0, 384))), [1], true), mean(square(sub(t, slice(s, 1, 384, 768))), [1], true)])),
  fused: () => rt.noGrad(() => [sqDiffChannelMean(t, s, 0), sqDiffChannelMean(t, s, 384)]),
};
const run = async (f, reps) => { for (let r = 0; r < reps; r++) for (const y of f()) y.dispose(); await rt.sync(); };
for (const f of Object.values(variants)) await run(f, 3);
const times = { composed: [], fused: [] };
for (let round = 0; round < 7; round++) for (const [k, f] of (round % 2 ? Object.entries(variants).reverse() : Object.entries(variants))) {
  const t0 = performance.now(); await run(f, 10); times[k].push((performance.now() - t0) / 10);
}
const med = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
const ratio = med(times.composed.map((c, i) => c / times.fused[i]));
console.log(`load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; both maps of EfficientAD-S at 256 px ([1,384,56,56] vs halves of [1,768,56,56]): composed ${med(times.composed).toFixed(2)} ms, fused ${med(times.fused).toFixed(2)} ms, per-round ratio ${ratio.toFixed(2)}x`);
await rt.destroy();
process.exit(0);
