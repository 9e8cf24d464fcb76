// `texad run`: fit and evaluate a method under the Texture-AD protocol, resumable, writing results.json,
// report.md and heatmap panels.
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from './main.ts';
import { numberFlag, parseArgs, stringFlag, UsageError } from './args.ts';
import { progressSink, type ProgressSink } from './progress.ts';
import { discoverDataset } from '../data/discover.ts';
import { DEFAULT_VALIDATION_FRACTION, protocols as makeProtocols, type Protocol, type ProtocolKind } from '../data/protocol.ts';
import { resolvePreset } from '../data/synth/generate.ts';
import { SYNTH_MANIFEST, writeSynthDataset } from '../data/synth/write.ts';
import { evaluate, trainingImages, validationImages } from '../eval/evaluate.ts';
import { decodeDetectorState, encodeDetectorState } from '../methods/checkpoint.ts';
import { METHODS, type RegisteredMethod } from '../methods/index.ts';
import type { ResolvedResources } from '../methods/resources.ts';
import { loadResources, planResources } from './resources.ts';
import { renderPanel } from '../report/heatmap.ts';
import {
  categoryResult, reportMarkdown, resultsJson, seedResult, type RunResults, type SeedResult,
} from '../report/results.ts';
import { Runtime } from '../runtime/runtime.ts';
import { VERSION } from '../generated/meta.ts';

const HELP = `usage: texad run --data DIR|synthetic --out DIR [options]

Fits a method on each category's defect-free training images and evaluates it on the category's pooled test
set (Texture-AD protocol: subclass labels hidden from the method). Writes OUT/results.json, OUT/report.md and
OUT/heatmaps/. Interrupted runs resume: re-run the same command.

  --method NAME          method to run (default simplenet; available: ${Object.keys(METHODS).join(', ')})
  --data DIR|synthetic   dataset folder (Texture-AD, MVTec or folder layout), or 'synthetic' to generate one
                         into OUT/synthetic (see --synth-preset)
  --out DIR              run folder (created; must be empty or hold a run of the same configuration)
  --category NAME|all    category to run (default all)
  --preset NAME          method preset: quick (CPU-sized) or paper (the official settings) (default quick)
  --seeds N              seeds 0..N-1; results report mean ± std (default 1)
  --epochs N             override the preset's training length (methods trained in epochs)
  --iterations N         override the preset's training length (methods trained in iterations)
  --weights FILE|random  the weights of a method with one weights resource (safetensors from
                         tools/export-weights.py), or 'random': every network seeded random, explicitly
  --weights-dir DIR      where every resource of the method is looked up: weights DIR/<name>.safetensors, image
                         folders DIR/<name>/ (default $TEXAD_WEIGHTS). Missing ones are all listed, with how to
                         get them, before any work starts. With neither flag nor $TEXAD_WEIGHTS, networks get
                         seeded random weights (labelled in the output; such figures say nothing about real data)
  --protocol KIND        texture-ad (pooled per category, default) or mvtec (per subclass)
  --synth-preset NAME    tiny | small | full, with --data synthetic (default tiny)
  --synth-seed N         seed of the generated dataset (default 0)
  --heatmaps N           defective test images per category drawn as heatmap panels (default 4)
  --batch-size N         images per predict call (default 8)
  --config JSON          overrides of the preset's hyper-parameters under the official names, e.g.
                         '{"meta_epochs": 10, "noise_std": 0.02}'`;

interface RunConfig {
  texad: string;
  method: string;
  preset: string;
  data: string;
  synthetic: { preset: string; seed: number } | null;
  protocol: ProtocolKind;
  categories: string;
  seeds: number;
  /** --epochs / --iterations, in the method's training unit. */
  length: number | null;
  /** Resource key → absolute path, or 'random'. */
  resources: Record<string, string>;
  overrides: Record<string, unknown>;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Writes through a temporary file and a rename, so a reader never sees a half-written file. */
async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  if (!(await exists(path))) return undefined;
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Refuses a run folder made by a different configuration, naming what differs. */
async function claimRunFolder(out: string, cfg: RunConfig): Promise<void> {
  await mkdir(out, { recursive: true });
  const path = join(out, 'run.json');
  const previous = await readJson<RunConfig>(path);
  if (previous) {
    const diffs = (Object.keys(cfg) as Array<keyof RunConfig>)
      .filter((k) => JSON.stringify(previous[k]) !== JSON.stringify(cfg[k]))
      .map((k) => `${k}: ${JSON.stringify(previous[k])} there, ${JSON.stringify(cfg[k])} now`);
    if (diffs.length > 0) {
      throw new Error(`${out} holds a run with a different configuration (${diffs.join('; ')}); ` +
        'use another --out folder, or delete that one to start over');
    }
    return;
  }
  await writeAtomic(path, JSON.stringify(cfg, null, 2) + '\n');
}

async function prepareSynthetic(out: string, preset: string, seed: number, progress: ProgressSink): Promise<string> {
  const dir = join(out, 'synthetic');
  if (await exists(join(dir, SYNTH_MANIFEST))) return dir;
  await rm(dir, { recursive: true, force: true }); // an interrupted generation: start it again
  const summary = await writeSynthDataset(dir, {
    preset: resolvePreset(preset),
    seed,
    onProgress: (done, total) => progress.update('generating synthetic data', done, total),
  });
  progress.log(`generated ${summary.images} synthetic images (${preset}, seed ${seed}) in ${summary.seconds.toFixed(1)} s`);
  return dir;
}

function parseOverrides(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config must be a JSON object: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError('--config must be a JSON object');
  return value as Record<string, unknown>;
}

/** --epochs or --iterations, whichever matches the method's training unit (the other is refused by name). */
function trainingLength(entry: RegisteredMethod, epochs: number | null, iterations: number | null): number | null {
  const [given, other] = entry.unit === 'epochs' ? [epochs, iterations] : [iterations, epochs];
  const flag = entry.unit === 'epochs' ? '--iterations' : '--epochs';
  if (other !== null) throw new UsageError(`${entry.name} trains in ${entry.unit}; use --${entry.unit} instead of ${flag}`);
  if (given !== null && !(Number.isInteger(given) && given >= 1)) throw new UsageError(`--${entry.unit} must be a positive integer, got ${given}`);
  return given;
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

export const command: Command = {
  summary: 'fit and evaluate a method under the Texture-AD protocol',
  help: HELP,
  async run(argv) {
    const args = parseArgs(argv);
    const method = stringFlag(args, 'method', 'simplenet');
    const dataArg = stringFlag(args, 'data');
    const out = resolve(stringFlag(args, 'out'));
    const preset = stringFlag(args, 'preset', 'quick');
    const seeds = numberFlag(args, 'seeds', 1);
    const protocolKind = stringFlag(args, 'protocol', 'texture-ad') as ProtocolKind;
    const heatmapCount = numberFlag(args, 'heatmaps', 4);
    const batchSize = numberFlag(args, 'batch-size', 8);
    const epochs = args.flags.has('epochs') ? numberFlag(args, 'epochs') : null;
    const iterations = args.flags.has('iterations') ? numberFlag(args, 'iterations') : null;
    if (!Number.isInteger(seeds) || seeds < 1) throw new UsageError(`--seeds must be a positive integer, got ${seeds}`);
    if (protocolKind !== 'texture-ad' && protocolKind !== 'mvtec') throw new UsageError(`--protocol must be texture-ad or mvtec`);
    const entry = METHODS[method];
    if (!entry) throw new UsageError(`unknown --method ${method}; available: ${Object.keys(METHODS).join(', ')}`);
    const length = trainingLength(entry, epochs, iterations);
    const synthetic = dataArg === 'synthetic'
      ? { preset: stringFlag(args, 'synth-preset', 'tiny'), seed: numberFlag(args, 'synth-seed', 0) }
      : null;
    const weightsArg = stringFlag(args, 'weights', '');
    const weightsDir = stringFlag(args, 'weights-dir', '');
    const overrides = parseOverrides(stringFlag(args, 'config', '{}'));
    try {
      entry.config(preset, overrides);
    } catch (err) {
      throw new UsageError((err as Error).message.replace(/^texad: /, ''));
    }
    // Before any work: every missing resource at once.
    const plan = await planResources(entry, preset, overrides, {
      ...(weightsArg ? { weights: weightsArg } : {}), ...(weightsDir ? { weightsDir } : {}),
    });
    const progress = progressSink();
    for (const note of plan.notes) progress.log(note);

    const rt = await Runtime.create();
    try {
      const cfg: RunConfig = {
        texad: VERSION, method, preset, data: synthetic ? 'synthetic' : resolve(dataArg), synthetic, protocol: protocolKind,
        categories: stringFlag(args, 'category', 'all'), seeds, length, resources: plan.where, overrides,
      };
      const resources = await loadResources(entry, preset, overrides, plan);
      await claimRunFolder(out, cfg);
      const dataDir = synthetic ? await prepareSynthetic(out, synthetic.preset, synthetic.seed, progress) : cfg.data;
      const desc = await discoverDataset(dataDir);
      for (const p of desc.problems) progress.log(`${p.severity}: ${p.path}: ${p.message}`);
      // A method that validates gets a validation split; without validation folders it is held out of training.
      let selected: Protocol[] = makeProtocols(desc, protocolKind, entry.validation ? { validationFraction: DEFAULT_VALIDATION_FRACTION } : {});
      if (cfg.categories !== 'all') {
        selected = selected.filter((p) => p.category === cfg.categories);
        if (selected.length === 0) {
          throw new Error(`${dataDir} has no category '${cfg.categories}'; found ${desc.categories.map((c) => c.name).join(', ')}`);
        }
      }

      const results: RunResults['categories'] = [];
      const heatmapLinks: Record<string, string[]> = {};
      for (const protocol of selected) {
        const name = protocol.subclass ? `${protocol.category}/${protocol.subclass}` : protocol.category;
        const perSeed: SeedResult[] = [];
        for (let seed = 0; seed < seeds; seed++) {
          const key = `${slug(name)}-seed${seed}`;
          const partialPath = join(out, 'partial', `${key}.json`);
          const done = await readJson<SeedResult>(partialPath);
          if (done) {
            progress.log(`${name} seed ${seed}: already done (resumed)`);
            perSeed.push(done);
            continue;
          }
          perSeed.push(await runOne(rt, { cfg, entry, protocol, name, seed, key, out, resources, heatmapCount, batchSize, progress }));
        }
        heatmapLinks[name] = await listHeatmaps(out, slug(name));
        results.push(categoryResult(name, perSeed, protocol.trainItems.length, protocol.testItems.length));
      }

      const run: RunResults = {
        texad: VERSION, method, preset, pixelMaps: entry.pixelMaps,
        config: (await readJson<{ config: Record<string, unknown> }>(join(out, 'partial', 'config.json')))?.config ?? {},
        adapter: rt.gpu.describe(), runtime: rt.gpu.adapter.runtime, date: new Date().toISOString(),
        dataset: { root: dataDir, layout: desc.layout, protocol: protocolKind, ...(synthetic ? { synthetic } : {}) },
        categories: results,
      };
      await writeAtomic(join(out, 'results.json'), resultsJson(run));
      await writeAtomic(join(out, 'report.md'), reportMarkdown(run, heatmapLinks));
      progress.end();
      printSummary(run);
      console.log(`\nreport: ${join(out, 'report.md')}`);
      return 0;
    } finally {
      progress.end();
      await rt.destroy();
    }
  },
};

async function listHeatmaps(out: string, name: string): Promise<string[]> {
  const dir = join(out, 'heatmaps', name);
  if (!(await exists(dir))) return [];
  return (await readdir(dir)).filter((f) => f.endsWith('.png')).sort().map((f) => `heatmaps/${name}/${f}`);
}

interface OneRun {
  cfg: RunConfig;
  entry: RegisteredMethod;
  protocol: Protocol;
  name: string;
  seed: number;
  key: string;
  out: string;
  resources: ResolvedResources;
  heatmapCount: number;
  batchSize: number;
  progress: ProgressSink;
}

/** Fits (resuming from the last epoch checkpoint if one exists) and evaluates one category for one seed. */
async function runOne(rt: Runtime, o: OneRun): Promise<SeedResult> {
  const { cfg, protocol, name, seed, key, out, progress } = o;
  const detector = await o.entry.create(rt, { preset: cfg.preset, seed, resources: o.resources, config: cfg.overrides });
  try {
    const ckptDir = join(out, 'checkpoints');
    const ckptPath = join(ckptDir, `${key}.safetensors`);
    await mkdir(ckptDir, { recursive: true });
    let start = 0;
    let priorSeconds = 0;
    if (await exists(ckptPath)) {
      const saved = await decodeDetectorState(await readFile(ckptPath), ckptPath);
      await detector.restore(saved);
      start = Number(saved.extra['done'] ?? 0);
      priorSeconds = Number(saved.extra['fitSeconds'] ?? 0);
      progress.log(`${name} seed ${seed}: resuming after ${start} ${detector.trainingUnit}`);
    }
    const label = `${name} seed ${seed}`;
    const fitStart = performance.now();
    const report = await detector.fit(trainingImages(protocol), {
      start,
      ...(cfg.length !== null ? { length: cfg.length } : {}),
      ...(protocol.validationItems.length > 0 ? { validation: validationImages(protocol) } : {}),
      onProgress: (p) => progress.update(`${label} ${p.phase}`, p.done, p.total, p.loss !== undefined ? `loss ${p.loss.toFixed(4)}` : ''),
      onCheckpoint: async (done) => {
        const fitSeconds = priorSeconds + (performance.now() - fitStart) / 1000;
        await writeAtomic(ckptPath, encodeDetectorState(await detector.state(), { done, fitSeconds }));
      },
    });
    const fitSeconds = priorSeconds + (performance.now() - fitStart) / 1000;
    const ev = await evaluate(protocol, detector, detector.resize, detector.inputSize, {
      batchSize: o.batchSize,
      heatmaps: seed === 0 ? o.heatmapCount : 0,
      onProgress: (done, total) => progress.update(`${label} predict`, done, total),
    });
    if (seed === 0) {
      const dir = join(out, 'heatmaps', slug(name));
      await mkdir(dir, { recursive: true });
      for (const h of ev.heatmaps) {
        const file = `${h.label ? 'defect' : 'good'}-${slug(h.subclass)}-${slug(h.defectType)}-${h.id}.png`;
        await writeAtomic(join(dir, file), renderPanel({
          image: h.image, mask: h.label ? h.mask : null, map: h.map, height: h.size, width: h.size, range: ev.mapRange,
        }));
      }
    }
    const state = await detector.state();
    const result = seedResult(seed, ev, fitSeconds, report.finalLoss, o.entry.pixelMaps);
    await mkdir(join(out, 'partial'), { recursive: true });
    // The hyper-parameters as run (state.training belongs to checkpoints, not to the results).
    await writeAtomic(join(out, 'partial', 'config.json'), JSON.stringify({ config: state.config }, null, 2));
    await writeAtomic(join(out, 'partial', `${key}.json`), JSON.stringify(result));
    await rm(ckptPath, { force: true });
    const m = result.metrics;
    const pixel = o.entry.pixelMaps
      ? `P-AUROC ${(100 * m.pixelAUROC).toFixed(1)}  AUPRO ${(100 * m.aupro).toFixed(1)}`
      : 'P-AUROC –  AUPRO – (no anomaly map)';
    progress.log(`${label}: I-AUROC ${(100 * m.imageAUROC).toFixed(1)}  ${pixel}  (fit ${fitSeconds.toFixed(0)} s)`);
    return result;
  } finally {
    detector.dispose();
  }
}

function printSummary(run: RunResults): void {
  const fmt = (v: number) => (Number.isNaN(v) ? '  n/a' : (100 * v).toFixed(1).padStart(5));
  // Pixel metrics of a method without anomaly maps are not defined: "–" (the report says why).
  const px = (v: number) => (run.pixelMaps ? fmt(v) : '    –');
  console.log(`\n${run.method} (${run.preset})  I-AUROC  P-AUROC  AUPRO  I-F1max`);
  for (const c of run.categories) {
    const s = c.summary;
    console.log(`${c.category.padEnd(20)}  ${fmt(s.imageAUROC.mean)}    ${px(s.pixelAUROC.mean)}  ${px(s.aupro.mean)}  ${fmt(s.imageF1max.mean)}`);
  }
}
