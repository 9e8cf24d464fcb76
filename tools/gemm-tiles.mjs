#!/usr/bin/env node
// texad's own GEMM kernel (shaders/matmul.wgsl through src/ops/gemm.ts) with register tiles forced one at a time,
// including tiles the autotuner does not offer (rTUxCOLS, COLS a multiple of 4, are added for this process only),
// on the 1024^3 matmul or the 3x3 256->256 convolution on 64x64 of `texad bench --suite gemm`. Interleaved rounds
// on one device, so the machine's drift cancels out of the ratios; every tile's result is checked against the
// first's. README "Matrix products, convolution and autotuning" records what it found. After `npm run build`:
//   TEXAD_AUTOTUNE=0 node tools/gemm-tiles.mjs [--tiles r8x16,r16x16,r8x32] [--case matmul|conv] [--rounds 5]
import { loadavg } from 'node:os';
import { median, perRoundSpeedup, timeInterleaved } from '../dist/bench/harness.js';
import { Runtime } from '../dist/src/runtime/runtime.js';
import { GEMM_VARIANTS, withGemmVariant } from '../dist/src/ops/gemm.js';
import { matmul } from '../dist/src/ops/matmul.js';
import { conv2d } from '../dist/src/ops/conv2d.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const tiles = opt('--tiles', 'r8x16,r16x16,r8x32').split(',');
const which = opt('--case', 'matmul');
const rounds = Number(opt('--rounds', '5'));
if (which !== 'matmul' && which !== 'conv') throw new Error(`gemm-tiles: --case must be matmul or conv, got ${which}`);
for (const name of tiles) {
  if (GEMM_VARIANTS.some((v) => v.name === name)) continue;
  const m = /^r(\d+)x(\d+)$/.exec(name);
  if (!m || Number(m[2]) % 4 !== 0) throw new Error(`gemm-tiles: '${name}' is neither a variant nor rROWSxCOLS with COLS a multiple of 4`);
  GEMM_VARIANTS.push({ name, mode: 'cols', tu: Number(m[1]), tlv: Number(m[2]) / 4, wgy: 1 });
}

const rt = await Runtime.create({});
// Small integers: every product and sum is exact in float32, so the tiles must agree to the bit.
const ints = (n, a, b) => new Float32Array(n).map((_, i) => ((i * a) % b) - (b >> 1));
const op = which === 'matmul'
  ? (() => {
    const [a, b] = [rt.tensor(ints(1024 * 1024, 7, 5), [1024, 1024]).keep(), rt.tensor(ints(1024 * 1024, 3, 7), [1024, 1024]).keep()];
    return () => matmul(a, b);
  })()
  : (() => {
    const x = rt.tensor(ints(256 * 64 * 64, 7, 5), [1, 256, 64, 64]).keep();
    const w = rt.tensor(ints(256 * 256 * 9, 3, 7), [256, 256, 3, 3]).keep();
    return () => conv2d(x, w, null, { stride: 1, padding: 1 });
  })();
const flop = which === 'matmul' ? 2 * 1024 ** 3 : 2 * 256 * 256 * 9 * 64 * 64;
const run = async (name, reps) => {
  for (let r = 0; r < reps; r++) withGemmVariant(name, op).dispose();
  await rt.sync();
};

let reference;
for (const name of tiles) {
  const start = performance.now();
  await run(name, 1);
  const first = performance.now() - start;
  const y = withGemmVariant(name, op);
  const values = await y.read();
  y.dispose();
  if (reference) {
    for (let i = 0; i < values.length; i++) {
      if (values[i] !== reference[i]) throw new Error(`gemm-tiles: ${name} differs from ${tiles[0]} at ${i}: ${values[i]} vs ${reference[i]}`);
    }
  } else reference = values;
  console.error(`${name}: correct; first run (compile included) ${first.toFixed(0)} ms`);
}

const startLoad = loadavg()[0].toFixed(2);
const timed = await timeInterleaved(tiles, rounds, 2, run);
console.log(`${rt.gpu.adapter.description ?? 'adapter'}; ${which}; load average ${startLoad} -> ${loadavg()[0].toFixed(2)}; ${rounds} rounds`);
console.log(`tile | ms | GFLOP/s | speed vs ${tiles[0]} (median of per-round ratios)`);
for (const { name, roundsMs } of timed) {
  const ms = median(roundsMs);
  console.log(`${name} | ${ms.toFixed(1)} | ${(flop / ms / 1e6).toFixed(2)} | ${perRoundSpeedup(timed[0].roundsMs, roundsMs).toFixed(2)}`);
}
process.exit(0);
