// Sweeps SimpleNet configurations on a synthetic (or real) dataset and prints per-category metrics and times, to
// choose the `quick` preset (src/methods/simplenet/README.md). Each configuration is the quick preset plus overrides; with
// --eval-at the same fit is evaluated after several epoch counts (training continues between evaluations).
//   texad synth --out /tmp/tune/synthetic --preset tiny
//   npx deno run -A tools/tune-demo.ts --data /tmp/tune/synthetic --category cloth \
//     --set 'noise_std_relative=0.3' --set 'random_init="torchvision";noise_std_relative=0.3' --eval-at 16,24,32
// --set takes `key=JSON` pairs joined by ';' (repeat --set for more configurations); --seeds N runs seeds 0..N-1;
// --verbose adds per-subclass metrics.
import process from 'node:process';
import { parseArgs, numberFlag, stringFlag } from '../src/cli/args.ts';
import { discoverDataset } from '../src/data/discover.ts';
import { protocols } from '../src/data/protocol.ts';
import { evaluate, trainingImages } from '../src/eval/evaluate.ts';
import { createDetector } from '../src/methods/index.ts';
import { QUICK, type SimpleNetConfig } from '../src/methods/simplenet/config.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { releaseAllDevices } from '../src/runtime/device.ts';

const args = parseArgs(process.argv.slice(2));
const data = stringFlag(args, 'data');
const category = stringFlag(args, 'category', 'all');
const seeds = numberFlag(args, 'seeds', 1);
const verbose = args.flags.has('verbose');
const evalAt = stringFlag(args, 'eval-at', '').split(',').filter(Boolean).map(Number);

// parseArgs keeps the last of repeated flags, so collect every --set by hand.
const argv = process.argv.slice(2);
const sets: string[] = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--set') sets.push(argv[++i] ?? '');
  else if (argv[i]!.startsWith('--set=')) sets.push(argv[i]!.slice(6));
}
if (sets.length === 0) sets.push('');

function overridesOf(spec: string): Partial<SimpleNetConfig> {
  const out: Record<string, unknown> = {};
  for (const pair of spec.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 0) throw new Error(`--set: expected key=JSON, got '${pair}'`);
    const key = pair.slice(0, eq).trim();
    if (!(key in QUICK)) throw new Error(`--set: unknown SimpleNet option '${key}'`);
    out[key] = JSON.parse(pair.slice(eq + 1));
  }
  return out as Partial<SimpleNetConfig>;
}

const pct = (v: number) => (100 * v).toFixed(1).padStart(5);
const rt = await Runtime.create();
try {
  const desc = await discoverDataset(data);
  const selected = protocols(desc, 'texture-ad').filter((p) => category === 'all' || p.category === category);
  if (selected.length === 0) throw new Error(`${data} has no category '${category}'`);
  console.log(`adapter: ${rt.gpu.describe()}`);
  console.log('config | category | seed | epochs | I-AUROC | P-AUROC | AUPRO | loss | noise | features s | train s | predict s');
  for (const spec of sets) {
    const overrides = overridesOf(spec);
    const cfg = { ...QUICK, ...overrides };
    const total = cfg.meta_epochs * cfg.gan_epochs;
    const checkpoints = evalAt.length > 0 ? evalAt : [total];
    for (const protocol of selected) {
      for (let seed = 0; seed < seeds; seed++) {
        const detector = await createDetector(rt, 'simplenet', { preset: 'quick', seed, config: overrides, resources: { backbone: 'random' } });
        try {
          const train = trainingImages(protocol);
          let featureSeconds = 0;
          let trainSeconds = 0;
          let done = 0;
          for (const upTo of checkpoints) {
            const start = performance.now();
            let featuresEnd = start;
            const report = await detector.fit(train, {
              start: done,
              length: upTo,
              onProgress: (p) => {
                if (p.phase === 'features') featuresEnd = performance.now();
              },
            });
            // Every fit() embeds the training set again; only the first extraction is counted.
            if (done === 0) featureSeconds = (featuresEnd - start) / 1000;
            trainSeconds += (performance.now() - featuresEnd) / 1000;
            done = upTo;
            const ev = await evaluate(protocol, detector, detector.resize, detector.inputSize, { batchSize: 8 });
            const m = ev.metrics;
            const state = await detector.state();
            const noise = Number(state.training['noise_std_effective']);
            console.log([spec || '(quick)', protocol.category, seed, upTo, pct(m.imageAUROC), pct(m.pixelAUROC), pct(m.aupro),
              report.finalLoss.toFixed(3), noise.toPrecision(3), featureSeconds.toFixed(1), trainSeconds.toFixed(1),
              ev.seconds.predict.toFixed(1)].join(' | '));
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
} finally {
  await rt.destroy();
  await releaseAllDevices();
}
