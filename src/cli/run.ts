// `texad run`: fit and evaluate methods under the Texture-AD protocol, resumable and shardable, writing
// results.json, report.md, results.csv and heatmap panels (or a shard's partial results for `texad merge`).
import { mkdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Command } from './main.ts';
import { boolFlag, numberFlag, parseArgs, stringFlag, UsageError } from './args.ts';
import { progressSink, silentSink, type ProgressSink } from './progress.ts';
import { DecodePool } from '../data/decode-pool.ts';
import { discoverDataset } from '../data/discover.ts';
import { DEFAULT_VALIDATION_FRACTION, protocols as makeProtocols, type Protocol, type ProtocolKind } from '../data/protocol.ts';
import { resolvePreset } from '../data/synth/generate.ts';
import { SYNTH_MANIFEST, writeSynthDataset } from '../data/synth/write.ts';
import { evaluate, trainingImages, validationImages, type MetricSet } from '../eval/evaluate.ts';
import { REFERENCE_SIZE, referenceFloor } from '../eval/reference.ts';
import { methodConfigPath, parseShard, planUnits, shardUnits, slug, unitPaths, type Shard, type Unit } from '../eval/units.ts';
import { decodeDetectorState, encodeDetectorState } from '../methods/checkpoint.ts';
import { METHODS, type RegisteredMethod } from '../methods/index.ts';
import type { ResolvedResources } from '../methods/resources.ts';
import { loadResources, planResources, weightsOrigins, type ResourcePlan } from './resources.ts';
import { unitCurves } from '../report/curves.ts';
import { renderPanel } from '../report/heatmap.ts';
import { assembleRun, type ShardManifest, type UnitResult } from '../report/merge.ts';
import { exists, writeAtomic, writeRunOutputs } from '../report/outputs.ts';
import { floorDetectors } from '../report/tables.ts';
import {
  parseSeedResult, RANDOM_WEIGHTS_NOTE, resultsJson, reviveResultNaN, seedResult, type ReferenceFloor, type RunResults, type SeedResult,
} from '../report/results.ts';
import { Runtime } from '../runtime/runtime.ts';
import { VERSION } from '../generated/meta.ts';

const HELP = `usage: texad run --data DIR|synthetic --out DIR [options]

Fits each method on each category's defect-free training images and evaluates it on the category's pooled test
set (Texture-AD protocol: subclass labels hidden from the method). Writes OUT/results.json, OUT/report.md (one
table per metric laid out like the paper's Tables 2-4: categories x methods), OUT/report.html (the same tables
with ROC and PRO curves, score histograms and heatmaps, one self-contained file), OUT/results.csv and OUT/heatmaps/.
Interrupted runs resume: re-run the same command.

  --method NAME[,NAME]|all  methods to run, each a column of the tables (default simplenet; available: ${Object.keys(METHODS).join(', ')})
  --data DIR|synthetic   dataset folder (Texture-AD, MVTec or folder layout), or 'synthetic' to generate one
                         into OUT/synthetic (see --synth-preset)
  --out DIR              run folder (created; must be empty or hold a run of the same configuration)
  --category NAME|all    category to run (default all)
  --preset NAME          method preset, for every method: quick (CPU-sized) or paper (the official settings)
                         (default quick)
  --seeds N              seeds 0..N-1; results report mean ± std (default 1)
  --epochs N             override the preset's training length (methods trained in epochs)
  --iterations N         override the preset's training length (methods trained in iterations)
  --weights FILE|random  the weights of a method with one weights resource (safetensors from
                         tools/export-weights.py), or 'random': every network seeded random, explicitly; applies
                         to every method of the run (use --weights-dir for several methods)
  --weights-dir DIR      where every resource of each method is looked up: weights DIR/<name>.safetensors, image
                         folders DIR/<name>/ (default $TEXAD_WEIGHTS). Missing ones are all listed, with how to
                         get them, before any work starts. With neither flag nor $TEXAD_WEIGHTS, networks get
                         seeded random weights (labelled in the output; such figures say nothing about real data)
  --penalty-data DIR     efficientad: natural images (e.g. ImageNet) for the optional penalty loss (default: off,
                         or DIR/imagenet/ under --weights-dir); an empty or unreadable folder stops the run
  --protocol KIND        texture-ad (pooled per category, default) or mvtec (per subclass)
  --synth-preset NAME    tiny | small | full, with --data synthetic (default tiny)
  --synth-seed N         seed of the generated dataset (default 0)
  --heatmaps N           defective test images per category drawn as heatmap panels (default 4)
  --batch-size N         images per predict call (default 8)
  --decode-workers N     decode and resize images in N worker threads while the GPU works (default: cores - 1,
                         at most 2; 0 decodes on the main thread)
  --config JSON          overrides of the preset's hyper-parameters under the official names, e.g.
                         '{"meta_epochs": 10, "noise_std": 0.02}'; with several methods, keyed by method:
                         '{"simplenet": {"meta_epochs": 10}}'
  --breakdown            add a row per subclass under each category in the report's tables and results.csv
  --shard I/N            run only shard I of N (0 <= I < N) of the (method, category, seed) units: unit k of the
                         plan goes to shard k mod N, whatever the machines. Writes OUT/shard.json and the units'
                         files; combine the N folders with 'texad merge OUT SHARD_DIR...'
  --json                 print the results object (results.json's content; with --shard, shard.json's) on stdout
                         instead of the summary table, for scripts: stdout is then exactly one JSON document
  --quiet                print no progress, notes or summary (errors still go to stderr)

exit codes: 0 done, 1 failed (the message on stderr says why), 2 bad usage (unknown flag value, missing option)`;

interface RunConfig {
  texad: string;
  methods: string[];
  preset: string;
  data: string;
  synthetic: { preset: string; seed: number } | null;
  protocol: ProtocolKind;
  categories: string;
  seeds: number;
  /** Per method: --epochs / --iterations, in the method's training unit. */
  length: Record<string, number | null>;
  /** Per method: resource key → absolute path, or 'random'. */
  resources: Record<string, Record<string, string>>;
  /** Per method: --config overrides. */
  overrides: Record<string, Record<string, unknown>>;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  if (!(await exists(path))) return undefined;
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Refuses a run folder made by a different configuration, naming what differs. */
async function claimRunFolder(out: string, cfg: RunConfig & { shard: Shard | null }): Promise<void> {
  await mkdir(out, { recursive: true });
  const path = join(out, 'run.json');
  const previous = await readJson<typeof cfg>(path);
  if (previous) {
    const diffs = (Object.keys(cfg) as Array<keyof typeof cfg>)
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

function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config must be a JSON object: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError('--config must be a JSON object');
  return value as Record<string, unknown>;
}

/** --config per method: the object itself for one method, one object per method name for several. */
function parseOverrides(text: string, methods: readonly string[]): RunConfig['overrides'] {
  const value = parseJsonObject(text);
  if (methods.length === 1) return { [methods[0]!]: value };
  const out: RunConfig['overrides'] = {};
  for (const [k, v] of Object.entries(value)) {
    if (!methods.includes(k) || v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new UsageError(`with several methods, --config is keyed by method name (${methods.join(', ')}), e.g. ` +
        `'{"${methods[0]}": {...}}'; '${k}' is not one of them or not an object`);
    }
    out[k] = v as Record<string, unknown>;
  }
  for (const m of methods) out[m] ??= {};
  return out;
}

/** --method: 'all', one name or a comma list; every name must be registered and have the preset. */
function parseMethods(text: string, preset: string): string[] {
  const available = Object.keys(METHODS);
  const methods = text === 'all' ? available : text.split(',').map((m) => m.trim()).filter((m) => m !== '');
  const unknown = methods.filter((m) => !METHODS[m]);
  if (methods.length === 0 || unknown.length > 0) throw new UsageError(`unknown --method ${unknown.join(', ') || "''"}; available: ${available.join(', ')}, all`);
  const twice = methods.filter((m, k) => methods.indexOf(m) !== k);
  if (twice.length > 0) throw new UsageError(`--method lists ${twice.join(', ')} more than once`);
  const noPreset = methods.filter((m) => !METHODS[m]!.presets.includes(preset));
  if (noPreset.length > 0) {
    throw new UsageError(`--preset ${preset} does not exist for ${noPreset.map((m) => `${m} (has ${METHODS[m]!.presets.join(', ')})`).join(', ')}`);
  }
  return methods;
}

/**
 * --epochs or --iterations, whichever matches the method's training unit. A single method refuses the other flag
 * by name; in a run of several, each flag goes to the methods of its unit and must fit at least one of them.
 */
function trainingLength(entry: RegisteredMethod, epochs: number | null, iterations: number | null, methods: readonly RegisteredMethod[]): number | null {
  const [given, other] = entry.unit === 'epochs' ? [epochs, iterations] : [iterations, epochs];
  const flag = entry.unit === 'epochs' ? '--iterations' : '--epochs';
  const otherUnit = entry.unit === 'epochs' ? 'iterations' : 'epochs';
  if (other !== null && !methods.some((m) => m.unit === otherUnit)) {
    throw new UsageError(`${methods.map((m) => m.name).join(', ')} train${methods.length === 1 ? 's' : ''} in ${entry.unit}; use --${entry.unit} instead of ${flag}`);
  }
  if (given !== null && !(Number.isInteger(given) && given >= 1)) throw new UsageError(`--${entry.unit} must be a positive integer, got ${given}`);
  return given;
}

/** What the column of a method's results says about its weights: 'random', 'none', or key=path pairs. */
function resourcesLabel(where: Record<string, string>): string {
  const values = Object.values(where);
  if (values.length === 0) return 'none';
  if (values.every((v) => v === 'random')) return 'random';
  return Object.entries(where).map(([k, v]) => (values.length === 1 ? v : `${k}=${v}`)).join(', ');
}

export const command: Command = {
  summary: 'fit and evaluate methods under the Texture-AD protocol',
  help: HELP,
  async run(argv) {
    const args = parseArgs(argv);
    const dataArg = stringFlag(args, 'data');
    const out = resolve(stringFlag(args, 'out'));
    const preset = stringFlag(args, 'preset', 'quick');
    const methods = parseMethods(stringFlag(args, 'method', 'simplenet'), preset);
    const seeds = numberFlag(args, 'seeds', 1);
    const protocolKind = stringFlag(args, 'protocol', 'texture-ad') as ProtocolKind;
    const heatmapCount = numberFlag(args, 'heatmaps', 4);
    const batchSize = numberFlag(args, 'batch-size', 8);
    const decodeWorkers = numberFlag(args, 'decode-workers', defaultDecodeWorkers());
    if (!(Number.isInteger(decodeWorkers) && decodeWorkers >= 0)) {
      throw new UsageError(`--decode-workers must be a non-negative integer, got ${decodeWorkers}`);
    }
    const epochs = args.flags.has('epochs') ? numberFlag(args, 'epochs') : null;
    const iterations = args.flags.has('iterations') ? numberFlag(args, 'iterations') : null;
    if (typeof args.flags.get('breakdown') === 'string') throw new UsageError(`--breakdown takes no value, got '${String(args.flags.get('breakdown'))}'`);
    const breakdown = boolFlag(args, 'breakdown');
    for (const flag of ['json', 'quiet']) {
      if (typeof args.flags.get(flag) === 'string') throw new UsageError(`--${flag} takes no value, got '${String(args.flags.get(flag))}'`);
    }
    const json = boolFlag(args, 'json');
    const quiet = boolFlag(args, 'quiet');
    let shard: Shard | null = null;
    if (args.flags.has('shard')) {
      try {
        shard = parseShard(stringFlag(args, 'shard'));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    if (!Number.isInteger(seeds) || seeds < 1) throw new UsageError(`--seeds must be a positive integer, got ${seeds}`);
    if (protocolKind !== 'texture-ad' && protocolKind !== 'mvtec') throw new UsageError(`--protocol must be texture-ad or mvtec`);
    const synthetic = dataArg === 'synthetic'
      ? { preset: stringFlag(args, 'synth-preset', 'tiny'), seed: numberFlag(args, 'synth-seed', 0) }
      : null;
    const weightsArg = stringFlag(args, 'weights', '');
    const weightsDir = stringFlag(args, 'weights-dir', '');
    const penaltyData = stringFlag(args, 'penalty-data', '');
    const overrides = parseOverrides(stringFlag(args, 'config', '{}'), methods);
    const entries = methods.map((m) => METHODS[m]!);
    const length: RunConfig['length'] = {};
    for (const entry of entries) {
      length[entry.name] = trainingLength(entry, epochs, iterations, entries);
      try {
        entry.config(preset, overrides[entry.name]);
      } catch (err) {
        throw new UsageError((err as Error).message.replace(/^texad: /, ''));
      }
    }
    // Before any work: every missing resource of every method at once.
    const plans: Record<string, ResourcePlan> = {};
    const missing: Error[] = [];
    // --penalty-data goes to the methods with a `penalty` image folder (EfficientAD); with none it is a usage error.
    const hasPenalty = (entry: RegisteredMethod) => entry.resources(preset, overrides[entry.name])['penalty']?.kind === 'images';
    if (penaltyData && !entries.some(hasPenalty)) {
      throw new UsageError(`--penalty-data applies to methods with penalty images (efficientad), not ${methods.join(', ')}`);
    }
    for (const entry of entries) {
      await planResources(entry, preset, overrides[entry.name]!, {
        ...(weightsArg ? { weights: weightsArg } : {}), ...(weightsDir ? { weightsDir } : {}),
        ...(penaltyData && hasPenalty(entry) ? { folders: { penalty: penaltyData } } : {}),
      }).then((plan) => (plans[entry.name] = plan), (err: Error) => missing.push(err));
    }
    if (missing.length === 1 || missing.some((e) => e instanceof UsageError)) throw missing.find((e) => e instanceof UsageError) ?? missing[0]!;
    if (missing.length > 1) throw new Error(missing.map((e) => e.message).join('\n'));
    const progress = quiet ? silentSink : progressSink();
    for (const m of methods) for (const note of plans[m]!.notes) progress.log(methods.length > 1 ? `${m} ${note}` : note);

    const rt = await Runtime.create();
    try {
      const cfg: RunConfig = {
        texad: VERSION, methods, preset, data: synthetic ? 'synthetic' : resolve(dataArg), synthetic, protocol: protocolKind,
        categories: stringFlag(args, 'category', 'all'), seeds, length,
        resources: Object.fromEntries(methods.map((m) => [m, plans[m]!.where])), overrides,
      };
      const resources: Record<string, ResolvedResources> = {};
      for (const entry of entries) resources[entry.name] = await loadResources(entry, preset, overrides[entry.name]!, plans[entry.name]!);
      await claimRunFolder(out, { ...cfg, shard });
      const dataDir = synthetic ? await prepareSynthetic(out, synthetic.preset, synthetic.seed, progress) : cfg.data;
      const desc = await discoverDataset(dataDir);
      for (const p of desc.problems) progress.log(`${p.severity}: ${p.path}: ${p.message}`);
      // A method that validates gets a validation split; without validation folders it is held out of training.
      const protocolsOf = (validation: boolean): Map<string, Protocol> => {
        let selected: Protocol[] = makeProtocols(desc, protocolKind, validation ? { validationFraction: DEFAULT_VALIDATION_FRACTION } : {});
        if (cfg.categories !== 'all') {
          selected = selected.filter((p) => p.category === cfg.categories);
          if (selected.length === 0) {
            throw new Error(`${dataDir} has no category '${cfg.categories}'; found ${desc.categories.map((c) => c.name).join(', ')}`);
          }
        }
        return new Map(selected.map((p) => [p.subclass ? `${p.category}/${p.subclass}` : p.category, p]));
      };
      const byValidation = new Map([false, true].filter((v) => entries.some((e) => e.validation === v)).map((v) => [v, protocolsOf(v)]));
      const protocolOf = (method: string, category: string) => byValidation.get(METHODS[method]!.validation)!.get(category)!;
      const plan = planUnits(methods, [...byValidation.values().next().value!.keys()], seeds);
      const mine = shardUnits(plan, shard);
      if (shard) progress.log(`shard ${shard.index}/${shard.count}: ${mine.length} of ${plan.length} units`);

      // The floor: the reference detectors on the same data (all training images, no validation split), for each
      // category this shard runs; `texad merge` joins the shards' categories.
      const floor: ReferenceFloor = {};
      const plain = protocolsOf(false);
      for (const category of new Set(mine.map((u) => u.category))) {
        const path = join(out, 'partial', 'reference', `${slug(category)}.json`);
        const saved = await readFile(path, 'utf8').then((t) => JSON.parse(t, reviveResultNaN) as Record<string, MetricSet>, () => undefined);
        if (saved) {
          floor[category] = saved;
          continue;
        }
        progress.update(`reference floor ${category}`, 0, 1);
        floor[category] = await referenceFloor(plain.get(category)!, REFERENCE_SIZE);
        await mkdir(dirname(path), { recursive: true });
        await writeAtomic(path, JSON.stringify(floor[category]));
        progress.log(`reference floor ${category}: ${Object.entries(floor[category]!)
          .map(([name, m]) => `${name} I-AUROC ${(100 * m.imageAUROC).toFixed(1)}`).join(', ')}`);
      }

      const units: UnitResult[] = [];
      const decodePool = await startDecodePool(decodeWorkers, progress);
      try {
        for (const unit of mine) {
          const paths = unitPaths(unit);
          const done = await readFile(join(out, paths.result), 'utf8').then(parseSeedResult, () => undefined);
          if (done) {
            progress.log(`${unit.method} ${unit.category} seed ${unit.seed}: already done (resumed)`);
            units.push({ ...unit, result: done });
            continue;
          }
          units.push({ ...unit, result: await runOne(rt, {
            cfg, entry: METHODS[unit.method]!, unit, protocol: protocolOf(unit.method, unit.category), paths, out,
            resources: resources[unit.method]!, heatmapCount, batchSize, progress, ...(decodePool ? { decodePool } : {}),
          }) });
        }
      } finally {
        await decodePool?.close();
      }

      const manifest: ShardManifest = {
        texad: VERSION, config: { ...cfg }, shard, plan, adapter: rt.gpu.describe(), runtime: rt.gpu.adapter.runtime,
        dataset: { root: dataDir, layout: desc.layout, protocol: protocolKind, ...(synthetic ? { synthetic } : {}) },
        categories: plan.filter((u) => u.seed === 0).map(({ method, category }) => {
          const p = protocolOf(method, category);
          return { method, category, trainImages: p.trainItems.length, testImages: p.testItems.length };
        }),
        methods: await Promise.all(methods.map(async (method) => ({
          method, preset, weights: resourcesLabel(cfg.resources[method]!),
          backbones: await weightsOrigins(METHODS[method]!, preset, overrides[method]!, plans[method]!), pixelMaps: METHODS[method]!.pixelMaps,
          config: (await readJson<{ config: Record<string, unknown> }>(join(out, methodConfigPath(method))))?.config ?? null,
        }))),
        referenceFloor: floor,
        units,
      };
      await writeAtomic(join(out, 'shard.json'), JSON.stringify(manifest, null, 1) + '\n');
      progress.end();
      if (shard) {
        if (json) console.log(JSON.stringify(manifest, null, 1));
        if (json || quiet) return 0;
        console.log(`\nshard ${shard.index}/${shard.count} done: ${units.length} units in ${out}; ` +
          'when every shard is done: texad merge OUT_DIR SHARD_DIR...');
        return 0;
      }
      const run = assembleRun(manifest, units, new Date().toISOString());
      await writeRunOutputs(out, run, { breakdown });
      if (json) console.log(resultsJson(run).trimEnd());
      if (json || quiet) return 0;
      printSummary(run);
      console.log(`\nreport: ${join(out, 'report.md')}\n        ${join(out, 'report.html')} (open in a browser: curves, histograms, heatmaps)`);
      return 0;
    } finally {
      progress.end();
      await rt.destroy();
    }
  },
};

interface OneRun {
  cfg: RunConfig;
  entry: RegisteredMethod;
  unit: Unit;
  protocol: Protocol;
  /** The unit's files, relative to `out` (see unitPaths). */
  paths: ReturnType<typeof unitPaths>;
  out: string;
  resources: ResolvedResources;
  heatmapCount: number;
  batchSize: number;
  progress: ProgressSink;
  /** Decodes the unit's images off the main thread; absent: on it. */
  decodePool?: DecodePool;
}

/** --decode-workers' default: a worker per core beyond the one that feeds the GPU, at most 2. */
function defaultDecodeWorkers(): number {
  return Math.min(2, Math.max(0, availableParallelism() - 1));
}

/**
 * The run's decode workers, or none when `size` is 0 — or when they cannot start (e.g. texad run from its
 * TypeScript sources under Node), which is said once and costs only speed: the loader then decodes in-thread.
 */
async function startDecodePool(size: number, progress: ProgressSink): Promise<DecodePool | undefined> {
  if (size === 0) return undefined;
  try {
    return await DecodePool.create(size);
  } catch (err) {
    progress.log(`${(err as Error).message}; continuing with decoding on the main thread`);
    return undefined;
  }
}

/** Fits (resuming from the last epoch checkpoint if one exists) and evaluates one unit: a method on one category for one seed. */
async function runOne(rt: Runtime, o: OneRun): Promise<SeedResult> {
  const { cfg, protocol, out, progress } = o;
  const { method, category: name, seed } = o.unit;
  const detector = await o.entry.create(rt, { preset: cfg.preset, seed, resources: o.resources, config: cfg.overrides[method] });
  try {
    const ckptPath = join(out, o.paths.checkpoint);
    await mkdir(dirname(ckptPath), { recursive: true });
    let start = 0;
    let priorSeconds = 0;
    if (await exists(ckptPath)) {
      const saved = await decodeDetectorState(await readFile(ckptPath), ckptPath);
      await detector.restore(saved);
      start = Number(saved.extra['done'] ?? 0);
      priorSeconds = Number(saved.extra['fitSeconds'] ?? 0);
      progress.log(`${method} ${name} seed ${seed}: resuming after ${start} ${detector.trainingUnit}`);
    }
    const label = `${method} ${name} seed ${seed}`;
    const fitStart = performance.now();
    const length = cfg.length[method] ?? null;
    const loading = o.decodePool ? { decodePool: o.decodePool } : {};
    const report = await detector.fit(trainingImages(protocol, loading), {
      start,
      ...(length !== null ? { length } : {}),
      ...(protocol.validationItems.length > 0 ? { validation: validationImages(protocol, loading) } : {}),
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
      ...loading,
      onProgress: (done, total) => progress.update(`${label} predict`, done, total),
    });
    if (seed === 0) {
      const dir = join(out, o.paths.heatmaps);
      await mkdir(dir, { recursive: true });
      for (const h of ev.heatmaps) {
        const file = `${h.label ? 'defect' : 'good'}-${slug(h.subclass)}-${slug(h.defectType)}-${h.id}.png`;
        await writeAtomic(join(dir, file), renderPanel({
          image: h.image, mask: h.label ? h.mask : null, map: h.map, height: h.size, width: h.size, range: ev.mapRange,
        }));
      }
    }
    // Before the result: a unit with a result file always has its curves.
    await mkdir(dirname(join(out, o.paths.curves)), { recursive: true });
    await writeAtomic(join(out, o.paths.curves), JSON.stringify(unitCurves(ev.curves, o.entry.pixelMaps)));
    const state = await detector.state();
    const result = seedResult(seed, ev, fitSeconds, report.finalLoss, o.entry.pixelMaps);
    await mkdir(dirname(join(out, o.paths.result)), { recursive: true });
    // The hyper-parameters as run, the same for every unit of the method: state.training belongs to checkpoints,
    // and the seed to each unit's result.
    const { seed: _seed, ...hyper } = state.config;
    await writeAtomic(join(out, o.paths.config), JSON.stringify({ config: hyper }, null, 2));
    await writeAtomic(join(out, o.paths.result), JSON.stringify(result));
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

/** The I-AUROC table on the terminal, the reference detectors' floor in the last columns; report.md has every metric. */
function printSummary(run: RunResults): void {
  const floorNames = floorDetectors(run);
  const names = [...run.methods.map((m) => m.method), ...floorNames.map((n) => `floor:${n}`)];
  const fmt = (v: number, k: number) => (Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(1)).padStart(Math.max(5, names[k]!.length));
  console.log(`\n${'I-AUROC (%)'.padEnd(20)}  ${names.map((n) => n.padStart(5)).join('  ')}`);
  for (const c of run.methods[0]?.categories ?? []) {
    const values = [...run.methods.map((m) => m.categories.find((x) => x.category === c.category)?.summary.imageAUROC.mean ?? NaN),
      ...floorNames.map((n) => run.referenceFloor[c.category]?.[n]?.imageAUROC ?? NaN)];
    console.log(`${c.category.padEnd(20)}  ${values.map(fmt).join('  ')}`);
  }
  if (floorNames.length > 0) console.log('floor: trivial reference detectors on the same data; a method below them has not shown it detects anomalies');
  if (run.methods.some((m) => m.weights.includes('random'))) console.log(RANDOM_WEIGHTS_NOTE);
}
