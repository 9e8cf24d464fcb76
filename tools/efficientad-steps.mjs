#!/usr/bin/env node
// Times EfficientAD training steps (the quick preset: 64 px, PDN-S, 384 outputs, random teacher) on fixed images,
// comparing builds of texad in interleaved child processes, so the machine's drift falls on each build alike.
// Each child fits 10 + --steps steps and times the steps after the first 10 (pipeline compiles and autotuning fall
// in those); progress must be reported at step 10 and at the last step, as every build since the loss readback
// moved to logging points does (and every earlier one, which reported each step). Needs `npm run build` (the timing
// loop is bench/harness's). To compare a change with its parent commit (README "Benchmarks"):
//   git worktree add /tmp/texad-before HEAD~1 && (cd /tmp/texad-before && npm ci && npm run build)
//   node tools/efficientad-steps.mjs --builds dist,/tmp/texad-before/dist [--steps 20] [--rounds 3] [--json]
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { interleavedRounds, median } from '../dist/bench/harness.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const steps = Number(opt('--steps', '20'));
if (!Number.isInteger(steps) || steps < 10 || steps % 10 !== 0) throw new Error(`efficientad-steps: --steps must be a positive multiple of 10, got ${opt('--steps', '')}`);

if (args.includes('--child')) {
  const dist = pathToFileURL(resolve(opt('--dist', 'dist'))).href;
  const { Runtime } = await import(`${dist}/src/runtime/runtime.js`);
  const { EfficientAd } = await import(`${dist}/src/methods/efficientad/index.js`);
  const { imagesInMemory } = await import(`${dist}/src/methods/detector.js`);
  const rt = await Runtime.create({});
  const det = await EfficientAd.create(rt, { preset: 'quick', config: { train_steps: 10 + steps } });
  const side = det.inputSize;
  const image = (seed) => Float32Array.from({ length: 3 * side * side }, (_, i) => 0.5 + 0.3 * Math.sin(i * 0.37 + seed) * Math.cos(i * 0.011 * seed));
  const at = new Map();
  await det.fit(imagesInMemory(Array.from({ length: 8 }, (_, i) => image(i + 1)), side), {
    onProgress: (p) => { if (p.phase === 'train') at.set(p.done, { t: performance.now(), loss: p.loss }); },
  });
  const first = at.get(10);
  const last = at.get(10 + steps);
  if (!first || !last) throw new Error('efficientad-steps: the build reported no progress at step 10 or at the last step');
  process.stdout.write(JSON.stringify({ msPerStep: (last.t - first.t) / steps, finalLoss: last.loss }) + '\n');
  det.dispose();
  process.exit(0);
}

const builds = opt('--builds', 'dist').split(',');
const rounds = Number(opt('--rounds', '3'));
const startLoad = loadavg();
const losses = new Map();
// bench/harness's rounds: the order rotates each round, so neither build always runs first.
const timed = builds.map((name) => ({ name, roundsMs: [] }));
await interleavedRounds(timed, rounds, async ({ name }) => {
  const child = spawnSync(process.execPath, [process.argv[1], '--child', '--dist', name, '--steps', String(steps)],
    { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = child.stdout.trim().split('\n').pop() ?? '';
  if (child.status !== 0 || !line.startsWith('{')) throw new Error(`efficientad-steps: build ${name} failed:\n${child.stderr}`);
  const got = JSON.parse(line);
  losses.set(name, got.finalLoss);
  return got.msPerStep;
}, async (_, err) => { throw err; }, (round) => {
  if (!args.includes('--json')) console.error(`round ${round + 1}: ${timed.map((t) => `${t.name} ${t.roundsMs.at(-1).toFixed(0)} ms/step`).join(', ')}`);
});
const result = {
  steps, rounds, load: { start: startLoad.map((v) => +v.toFixed(2)), end: loadavg().map((v) => +v.toFixed(2)) },
  builds: timed.map(({ name, roundsMs }) => ({ dir: name, msPerStep: roundsMs, median: median(roundsMs), finalLoss: losses.get(name) })),
  // Per round: the other builds' time over the first build's (> 1: the first build is faster).
  ratioToFirst: timed.slice(1).map(({ roundsMs }) => roundsMs.map((t, r) => +(t / timed[0].roundsMs[r]).toFixed(3))),
};
if (args.includes('--json')) console.log(JSON.stringify(result, null, 2));
else {
  for (const b of result.builds) console.log(`${b.dir}: median ${b.median.toFixed(0)} ms/step (${b.msPerStep.map((t) => t.toFixed(0)).join(', ')}), final loss ${b.finalLoss}`);
  result.ratioToFirst.forEach((r, k) => console.log(`${builds[k + 1]} / ${builds[0]} per round: ${r.join(', ')}`));
  console.log(`load average ${result.load.start[0]} -> ${result.load.end[0]}`);
}
