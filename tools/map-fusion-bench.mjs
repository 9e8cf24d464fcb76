#!/usr/bin/env node
// The fused anomaly maps (sqDiffChannelMean / absDiffChannelMean, shaders/reduce.wgsl) against the ops they
// replaced, interleaved rounds on one device, medians; a ratio is the median of per-round ratios.
// - EfficientAD-S's two maps at 256 px: teacher [1, 384, 56, 56] against each half of the student's
//   [1, 768, 56, 56]; composed = slice, sub, square, channel mean (five dispatches, three full-size temporaries).
// - PyramidFlow's map at the paper size (1024 px, ResNet18 encoder: 64 channels, levels 256, 128, 64, 32 px, one
//   image); composed = |out - template| per level, composed through the pyramid on 64 channels, channel mean;
//   fused = the channel mean of |out - template| per level, composed on one channel.
// - PyramidFlow's Fourier loss with its backward, at the bench case's size (a pair of 128 px images, 16 channels,
//   levels 128..16 px): composed = (out_0 - out_1)^2 per level, composed on 16 channels, channel mean, mean |FFT2|,
//   backward; fused = sqDiffChannelMean per level (one pass each way), composed on one channel.
// After `npm run build`:  node tools/map-fusion-bench.mjs
import { Runtime } from '../dist/src/runtime/runtime.js';
import { absDiffChannelMean, sqDiffChannelMean, mean } from '../dist/src/ops/reduce.js';
import { abs, square, sub } from '../dist/src/ops/elementwise.js';
import { slice } from '../dist/src/ops/layout.js';
import { fft2dMagnitude } from '../dist/src/ops/fft.js';
import { backward } from '../dist/src/runtime/autograd.js';
import { composePyramid } from '../dist/src/methods/pyramidflow/pyramid.js';
import { interleavedRounds, median, perRoundSpeedup } from '../dist/bench/harness.js';
import { loadavg } from 'node:os';

const rt = await Runtime.create();
const wave = (n, f, shape) => rt.tensor(Float32Array.from({ length: n }, (_, i) => f(i)), shape);
const t = wave(384 * 3136, Math.sin, [1, 384, 56, 56]);
const s = wave(768 * 3136, Math.cos, [1, 768, 56, 56]);
const sides = [256, 128, 64, 32];
const outs = sides.map((d) => wave(64 * d * d, (i) => Math.sin(0.37 * i), [1, 64, d, d]));
const template = sides.map((d) => wave(64 * d * d, (i) => Math.cos(0.11 * i), [1, 64, d, d]));
const pairSides = [128, 64, 32, 16];
const pair = pairSides.map((d) => [0, 1].map((k) => rt.tensor(Float32Array.from({ length: 16 * d * d }, (_, i) => Math.sin(0.13 * i + k)), [1, 16, d, d], true).keep()));
// The loss and its backward; returns the loss and the first level's gradient (both checked between variants).
const fourierLoss = (perLevel) => {
  const loss = mean(fft2dMagnitude(perLevel()));
  backward(loss);
  // The first level's gradient goes to the caller; the others are dropped, so every call starts from no gradient.
  const grad = pair[0][0].grad;
  pair[0][0].grad = null;
  for (const t of pair.flat()) { t.grad?.dispose(); t.grad = null; }
  return [loss, grad];
};
const comparisons = {
  'both maps of EfficientAD-S at 256 px ([1,384,56,56] vs halves of [1,768,56,56])': {
    composed: () => [mean(square(sub(t, slice(s, 1, 0, 384))), [1], true), mean(square(sub(t, slice(s, 1, 384, 768))), [1], true)],
    fused: () => [sqDiffChannelMean(t, s, 0), sqDiffChannelMean(t, s, 384)],
  },
  'PyramidFlow map at 1024 px (64 channels, levels 256..32 px)': {
    composed: () => [mean(composePyramid(outs.map((o, i) => abs(sub(o, template[i])))), [1], true)],
    fused: () => [composePyramid(outs.map((o, i) => absDiffChannelMean(o, template[i])))],
  },
  'PyramidFlow Fourier loss + backward, a pair at 128 px (16 channels, levels 128..16 px)': {
    composed: () => fourierLoss(() => mean(composePyramid(pair.map(([a, b]) => square(sub(a, b)))), [1], true)),
    fused: () => fourierLoss(() => composePyramid(pair.map(([a, b]) => sqDiffChannelMean(a, b)))),
  },
};
/** The comparison that records gradients; the others run without. */
const withGradients = 'PyramidFlow Fourier loss + backward, a pair at 128 px (16 channels, levels 128..16 px)';
for (const [name, variants] of Object.entries(comparisons)) {
  // Each call keeps its outputs (read for the check), disposes every intermediate.
  const kept = (f) => () => rt.tidy(() => f().map((y) => y.keep()));
  const once = (f) => (name === withGradients ? kept(f)() : rt.noGrad(kept(f)));
  const run = async (f, reps) => { for (let r = 0; r < reps; r++) for (const y of once(f)) y.dispose(); await rt.sync(); };
  const [a, b] = [once(variants.composed), once(variants.fused)];
  const [ya, yb] = [await a[a.length - 1].read(), await b[b.length - 1].read()];
  // Largest difference relative to the largest value: gradients hold elements near zero.
  const peak = ya.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const err = ya.reduce((m, v, i) => Math.max(m, Math.abs(v - yb[i])), 0) / peak;
  for (const y of [...a, ...b]) y.dispose();
  for (const f of Object.values(variants)) await run(f, 2);
  const [composed, fused] = [variants.composed, variants.fused].map((f) => ({ f, roundsMs: [] }));
  await interleavedRounds([composed, fused], 7, async ({ f }) => {
    const t0 = performance.now();
    await run(f, 5);
    return (performance.now() - t0) / 5;
  }, async (_, err) => { throw err; }, () => {});
  console.log(`load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${name}: composed ${median(composed.roundsMs).toFixed(2)} ms, ` +
    `fused ${median(fused.roundsMs).toFixed(2)} ms, per-round ratio ${perRoundSpeedup(composed.roundsMs, fused.roundsMs).toFixed(2)}x ` +
    `(largest difference ${err.toExponential(1)} of the largest value)`);
}
await rt.destroy();
process.exit(0);
