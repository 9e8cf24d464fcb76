#!/usr/bin/env node
// BatchNorm + ReLU fused (Sequential's default since batchNorm's `relu` option) against the two ops one after the
// other, on one DRAEM training step at the bench suite's small shape (batch 8, 64 px, widths 4/4: 48 BatchNorm +
// ReLU pairs) from the bench's hash weights. Interleaved rounds on one device, medians; the ratio is the median of
// per-round ratios. The unfused variant swaps Sequential.forward for the plain layer-by-layer loop.
// After `npm run build`:  node tools/bn-relu-bench.mjs
import { loadavg } from 'node:os';
import { interleavedRounds, median, perRoundSpeedup } from '../dist/bench/harness.js';
import { Runtime } from '../dist/src/runtime/runtime.js';
import { Initializer, Sequential } from '../dist/src/nn/layers.js';
import { backward } from '../dist/src/runtime/autograd.js';
import { Adam } from '../dist/src/runtime/optim.js';
import { DiscriminativeSubNetwork, ReconstructiveSubNetwork } from '../dist/src/methods/draem/model.js';
import { draemLoss } from '../dist/src/methods/draem/train.js';
import { draemHashInit } from '../dist/bench/peers/draem-weights.js';
import { inputData } from '../dist/bench/peers/ops.js';

const rt = await Runtime.create();
const [n, size, width] = [8, 64, 4];
const init = new Initializer(0);
const rec = new ReconstructiveSubNetwork(rt, width, init);
const seg = new DiscriminativeSubNetwork(rt, width, init);
draemHashInit('reconstructive', rec);
draemHashInit('discriminative', seg);
const image = (seed) => rt.tensor(inputData(n * 3 * size * size, seed).map((v) => (v + 1) / 2), [n, 3, size, size]).keep();
const [x, a] = [image(0), image(1)];
const m = rt.tensor(inputData(n * size * size, 2).map((v) => (v > 0 ? 1 : 0)), [n, 1, size, size]).keep();
// lr 0: every step computes the same thing, so the variants time identical work.
const optimizer = new Adam([...rec.trainable(), ...seg.trainable()], { lr: 0 });
rec.train(true);
seg.train(true);
const fusedForward = Sequential.prototype.forward;
function layerByLayer(h) { return this.layers.reduce((t, layer) => layer.forward(t), h); }
const step = () => rt.tidy(() => {
  const { total } = draemLoss(rec, seg, x, a, m, 2);
  backward(total);
  optimizer.step();
  optimizer.zeroGrad();
  return total.keep();
});
const variants = { fused: fusedForward, unfused: layerByLayer };
const losses = {};
for (const [k, f] of Object.entries(variants)) {
  Sequential.prototype.forward = f;
  const loss = step();
  losses[k] = (await loss.read())[0];
  loss.dispose();
}
const [fused, unfused] = [variants.fused, variants.unfused].map((forward) => ({ forward, roundsMs: [] }));
await interleavedRounds([fused, unfused], 7, async ({ forward }) => {
  Sequential.prototype.forward = forward;
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) step().dispose();
  await rt.sync();
  return (performance.now() - t0) / 3;
}, async (_, err) => { throw err; }, () => {});
console.log(`load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; DRAEM train step n${n} ${size}px widths ${width}/${width}: ` +
  `unfused ${median(unfused.roundsMs).toFixed(0)} ms, fused ${median(fused.roundsMs).toFixed(0)} ms, ` +
  `per-round ratio ${perRoundSpeedup(unfused.roundsMs, fused.roundsMs).toFixed(2)}x (first losses ${losses.fused} / ${losses.unfused})`);
await rt.destroy();
process.exit(0);
