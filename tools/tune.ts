// Chooses a method's preset on data it is NOT evaluated on. Each configuration (the preset plus --set overrides)
// is fitted and scored on tuning sets only: synthetic sets generated with --tune-seeds (default 101,102,103), or a
// dataset folder (--data). The evaluation data (--eval-seeds, default 0,1,2,3: the demo's set and the sets the
// README reports; or --eval-data DIR) is never opened; pointing the tuning at it is refused, naming the overlap.
// Prints every fit, then per configuration the mean ± std over the tuning runs, and the configuration it selects
// (highest mean image AUROC).
//   npx deno run -A tools/tune.ts --method simplenet --preset quick --synth-preset tiny --tune-seeds 101,102 \
//     --set 'noise_std_relative=0.3' --set 'dsc_lr=0.0005;meta_epochs=6' --eval-at 16,24,32
//   npx deno run -A tools/tune.ts --method simplenet --data ~/tuning-set --eval-data ~/texture-ad
// --set takes `key=JSON` pairs joined by ';' (repeat --set for more configurations; keys are checked against the
// method's configuration); --seeds N runs method seeds 0..N-1; --category NAME limits the categories; --eval-at
// evaluates one fit after several epoch counts; --verbose adds per-subclass metrics.
import process from 'node:process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, numberFlag, stringFlag } from '../src/cli/args.ts';
import { discoverDataset } from '../src/data/discover.ts';
import { protocols, type Protocol } from '../src/data/protocol.ts';
import { resolvePreset } from '../src/data/synth/generate.ts';
import { writeSynthDataset } from '../src/data/synth/write.ts';
import { evaluate, trainingImages } from '../src/eval/evaluate.ts';
import { createDetector } from '../src/methods/index.ts';
import { meanStd } from '../src/report/results.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { releaseAllDevices } from '../src/runtime/device.ts';

const args = parseArgs(process.argv.slice(2));
const method = stringFlag(args, 'method', 'simplenet');
const preset = stringFlag(args, 'preset', 'quick');
const category = stringFlag(args, 'category', 'all');
const seeds = numberFlag(args, 'seeds', 1);
const verbose = args.flags.has('verbose');
const evalAt = stringFlag(args, 'eval-at', '').split(',').filter(Boolean).map(Number);
const seedList = (flag: string, fallback: string) => stringFlag(args, flag, fallback).split(',').filter(Boolean).map(Number);

/** The tuning data, refused when it is (or includes) the evaluation data. */
function tuningPlan(): { kind: 'synthetic'; seeds: number[]; preset: string } | { kind: 'folder'; dir: string } {
  const dataArg = stringFlag(args, 'data', '');
  if (dataArg) {
    const evalData = stringFlag(args, 'eval-data', '');
    if (!evalData) throw new Error('tune: --data DIR needs --eval-data DIR, the data the chosen preset will be reported on, so that the two can be kept apart');
    if (resolve(dataArg) === resolve(evalData)) {
      throw new Error(`tune: refusing to tune on the evaluation data: --data and --eval-data are both ${resolve(dataArg)}; tune on another set or on a validation split`);
    }
    return { kind: 'folder', dir: resolve(dataArg) };
  }
  const tune = seedList('tune-seeds', '101,102,103');
  const evals = new Set(seedList('eval-seeds', '0,1,2,3'));
  const overlap = tune.filter((s) => evals.has(s));
  if (overlap.length > 0) {
    throw new Error(`tune: refusing to tune on the evaluation data: synthetic seed(s) ${overlap.join(', ')} are both in --tune-seeds and --eval-seeds (${[...evals].join(', ')}); choose other tuning seeds`);
  }
  if (tune.length === 0 || tune.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`tune: --tune-seeds needs non-negative integers, got '${tune.join(',')}'`);
  return { kind: 'synthetic', seeds: tune, preset: stringFlag(args, 'synth-preset', 'tiny') };
}

// parseArgs keeps the last of repeated flags, so collect every --set by hand.
const argv = process.argv.slice(2);
const sets: string[] = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--set') sets.push(argv[++i] ?? '');
  else if (argv[i]!.startsWith('--set=')) sets.push(argv[i]!.slice(6));
}
if (sets.length === 0) sets.push('');

function overridesOf(spec: string, known: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of spec.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 0) throw new Error(`--set: expected key=JSON, got '${pair}'`);
    const key = pair.slice(0, eq).trim();
    if (!(key in known)) throw new Error(`--set: ${method} has no option '${key}'; it has ${Object.keys(known).join(', ')}`);
    out[key] = JSON.parse(pair.slice(eq + 1));
  }
  return out;
}

const plan = tuningPlan();
const work = mkdtempSync(join(tmpdir(), 'texad-tune-'));
const pct = (v: number) => (100 * v).toFixed(1).padStart(5);
const rt = await Runtime.create();
try {
  // The tuning sets, as named protocols.
  const sources: { name: string; protocols: Protocol[] }[] = [];
  const dirs = plan.kind === 'folder' ? [[plan.dir, plan.dir] as const]
    : plan.seeds.map((s) => [`synth seed ${s}`, join(work, String(s))] as const);
  for (const [k, [name, dir]] of dirs.entries()) {
    if (plan.kind === 'synthetic') await writeSynthDataset(dir, { preset: resolvePreset(plan.preset), seed: plan.seeds[k]! });
    const selected = protocols(await discoverDataset(dir), 'texture-ad').filter((p) => category === 'all' || p.category === category);
    if (selected.length === 0) throw new Error(`${name} has no category '${category}'`);
    sources.push({ name, protocols: selected });
  }
  const probe = await createDetector(rt, method, { preset, seed: 0, weights: 'random' });
  const known = (await probe.state()).config;
  probe.dispose();

  console.log(`adapter: ${rt.gpu.describe()}; ${method} (${preset}), random weights; tuning data: ${sources.map((s) => s.name).join(', ')}`);
  console.log('config | data | category | seed | epochs | I-AUROC | P-AUROC | AUPRO | loss | fit s | predict s');
  const byConfig = new Map<string, number[]>();
  for (const spec of sets) {
    const overrides = overridesOf(spec, known);
    for (const source of sources) {
      for (const protocol of source.protocols) {
        for (let seed = 0; seed < seeds; seed++) {
          const detector = await createDetector(rt, method, { preset, seed, config: overrides, weights: 'random' });
          try {
            const train = trainingImages(protocol);
            let done = 0;
            let fitSeconds = 0;
            for (const upTo of evalAt.length > 0 ? evalAt : [undefined]) {
              const start = performance.now();
              const report = await detector.fit(train, { start: done, ...(upTo !== undefined ? { length: upTo } : {}) });
              fitSeconds += (performance.now() - start) / 1000;
              done = report.length;
              const ev = await evaluate(protocol, detector, detector.resize, detector.inputSize, { batchSize: 8 });
              const m = ev.metrics;
              const key = `${spec || `(${preset})`} @ ${done} epochs`;
              byConfig.set(key, [...(byConfig.get(key) ?? []), m.imageAUROC]);
              console.log([spec || `(${preset})`, source.name, protocol.category, seed, done, pct(m.imageAUROC), pct(m.pixelAUROC),
                pct(m.aupro), report.finalLoss.toFixed(3), fitSeconds.toFixed(1), ev.seconds.predict.toFixed(1)].join(' | '));
              if (verbose) {
                const subs = Object.entries(ev.perSubclass).map(([k, v]) => `${k} ${pct(v.imageAUROC).trim()}/${pct(v.pixelAUROC).trim()}`);
                console.log(`    per subclass I-/P-AUROC: ${subs.join(', ')}`);
              }
            }
          } finally {
            detector.dispose();
          }
        }
      }
    }
  }
  console.log('\nconfiguration | runs | I-AUROC mean ± std over the tuning runs');
  let best: [string, number] | undefined;
  for (const [key, values] of byConfig) {
    const s = meanStd(values);
    console.log(`${key} | ${values.length} | ${pct(s.mean)} ± ${(100 * s.std).toFixed(1)}`);
    if (!best || s.mean > best[1]) best = [key, s.mean];
  }
  console.log(`selected (on tuning data only): ${best![0]}`);
} finally {
  rmSync(work, { recursive: true, force: true });
  await rt.destroy();
  await releaseAllDevices();
}
