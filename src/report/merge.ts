// Shards and their merge. Every run folder ends with shard.json: the run's configuration, its full unit plan and
// the results of the units it ran. A single-machine run assembles results.json from its own shard.json; `texad
// merge` checks that a set of shard.json files belong to one run and cover its plan exactly once, then assembles
// the same results.json from their union. Both go through assembleRun, so the numbers are the same.
import { coverage, unitKey, type Shard, type Unit } from '../eval/units.ts';
import { categoryResult, runResults, type MethodResults, type ReferenceFloor, type RunResults, type SeedResult } from './results.ts';

export interface UnitResult extends Unit {
  result: SeedResult;
}

/** The contents of shard.json. */
export interface ShardManifest {
  texad: string;
  /** The run's configuration without the shard: equal on every shard of one run. */
  config: Record<string, unknown>;
  /** Null for a run that was not sharded. */
  shard: Shard | null;
  /** Every unit of the run, on every shard, in plan order. */
  plan: Unit[];
  adapter: string;
  runtime: string;
  dataset: RunResults['dataset'];
  /** Image counts per method and category (a method that validates trains on fewer images). */
  categories: Array<{ method: string; category: string; trainImages: number; testImages: number }>;
  /** One entry per method of the run; `config` (hyper-parameters as run) is null if this shard ran none of its units. */
  methods: Array<Omit<MethodResults, 'categories' | 'config'> & { config: Record<string, unknown> | null }>;
  /** The reference detectors on the categories this shard ran units of (all of them once merged). */
  referenceFloor: ReferenceFloor;
  units: UnitResult[];
}

/** Builds results.json from a run description and the results of every unit of its plan. */
export function assembleRun(m: ShardManifest, units: readonly UnitResult[], date: string): RunResults {
  const methods: MethodResults[] = m.methods.map(({ config, ...method }) => ({
    ...method,
    config: config ?? {},
    categories: m.categories.filter((c) => c.method === method.method).map((c) => categoryResult(c.category,
      units.filter((u) => u.method === method.method && u.category === c.category).sort((a, b) => a.seed - b.seed).map((u) => u.result),
      c.trainImages, c.testImages)),
  }));
  const categories = [...new Set(m.plan.map((u) => u.category))];
  const missing = categories.filter((c) => !m.referenceFloor[c]);
  if (missing.length > 0) throw new Error(`texad: no reference floor for ${missing.join(', ')} in the run's shard.json; re-run those categories`);
  const referenceFloor = Object.fromEntries(categories.map((c) => [c, m.referenceFloor[c]!]));
  return runResults({ texad: m.texad, adapter: m.adapter, runtime: m.runtime, date, dataset: m.dataset, referenceFloor }, methods);
}

/** Thrown when shards cannot be merged; `problems` lists every reason. */
export class MergeError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot merge these shards, nothing written:\n  ${problems.join('\n  ')}`);
    this.name = 'MergeError';
  }
}

const show = (v: unknown) => JSON.stringify(v);

/**
 * Checks that shards (each named by where it came from) are of one run and cover its plan exactly once, then
 * returns the merged manifest (every unit, hyper-parameters from whichever shard ran the method, the adapters
 * and runtimes joined). Throws a MergeError naming every difference, duplicated and missing unit.
 */
export function mergeShards(shards: ReadonlyArray<{ from: string; manifest: ShardManifest }>): ShardManifest {
  if (shards.length === 0) throw new MergeError(['no shard folders given']);
  const [first, ...rest] = shards;
  const problems: string[] = [];
  const base = first!.manifest;
  for (const { from, manifest } of rest) {
    if (manifest.texad !== base.texad) problems.push(`texad version: ${base.texad} in ${first!.from}, ${manifest.texad} in ${from}`);
    const keys = [...new Set([...Object.keys(base.config), ...Object.keys(manifest.config)])];
    for (const k of keys) {
      if (show(base.config[k]) !== show(manifest.config[k])) {
        problems.push(`configuration ${k}: ${show(base.config[k])} in ${first!.from}, ${show(manifest.config[k])} in ${from}`);
      }
    }
    for (const k of ['plan', 'categories'] as const) {
      if (show(base[k]) !== show(manifest[k])) problems.push(`${k} (from the data found): differs between ${first!.from} and ${from}`);
    }
  }
  const methods = base.methods.map((m) => {
    const configs = shards.map(({ from, manifest }) => ({ from, config: manifest.methods.find((x) => x.method === m.method)?.config ?? null }))
      .filter((c) => c.config !== null);
    const conflict = configs.find((c) => show(c.config) !== show(configs[0]!.config));
    if (conflict) problems.push(`${m.method} hyper-parameters differ between ${configs[0]!.from} and ${conflict.from}`);
    return { ...m, config: configs[0]?.config ?? null };
  });
  const units = shards.flatMap(({ manifest }) => manifest.units);
  const { duplicated, missing } = coverage(base.plan, units);
  for (const key of duplicated) {
    const where = shards.filter(({ manifest }) => manifest.units.some((u) => unitKey(u) === key)).map((s) => s.from);
    problems.push(`unit ${key} is in more than one shard: ${where.join(', ')}`);
  }
  if (missing.length > 0) problems.push(`missing units (no shard ran them): ${missing.join(', ')}`);
  // Each shard measured the floor of the categories it ran; the detectors are deterministic, so equal data gives
  // equal figures, and a difference means the shards did not read the same images.
  const referenceFloor: ReferenceFloor = {};
  const floorFrom: Record<string, string> = {};
  for (const { from, manifest } of shards) {
    for (const [category, floor] of Object.entries(manifest.referenceFloor ?? {})) {
      if (!referenceFloor[category]) {
        referenceFloor[category] = floor;
        floorFrom[category] = from;
      } else if (show(referenceFloor[category]) !== show(floor)) {
        problems.push(`reference floor of ${category} differs between ${floorFrom[category]} and ${from} (not the same images?)`);
      }
    }
  }
  if (problems.length > 0) throw new MergeError(problems);
  const joined = (pick: (m: ShardManifest) => string) => [...new Set(shards.map((s) => pick(s.manifest)))].join('; ');
  return { ...base, shard: null, methods, adapter: joined((m) => m.adapter), runtime: joined((m) => m.runtime), referenceFloor, units };
}
