// The work plan of a run: every (method, category, seed) unit, and which of n shards runs which unit.
//
// The assignment depends only on the plan (methods in the order given, categories in protocol order, seeds
// ascending), never on how many machines exist or which runs first: unit k of the plan belongs to shard k mod n.
// Round-robin spreads the seeds and categories of one method over the shards, so shards get similar work.
export interface Unit {
  method: string;
  /** Category name as reported (MVTec protocol: `category/subclass`). */
  category: string;
  seed: number;
}

/** Shard `index` of `count` (0-based, like Kubernetes' JOB_COMPLETION_INDEX and `sbatch --array=0-(n-1)`). */
export interface Shard {
  index: number;
  count: number;
}

/** A unit's stable name, e.g. `simplenet/cloth/seed1`; used in messages and to match units across shards. */
export function unitKey(u: Unit): string {
  return `${u.method}/${u.category}/seed${u.seed}`;
}

/** Every unit of a run, in plan order: methods as listed, then categories, then seeds 0..seeds-1. */
export function planUnits(methods: readonly string[], categories: readonly string[], seeds: number): Unit[] {
  return methods.flatMap((method) => categories.flatMap((category) =>
    Array.from({ length: seeds }, (_, seed) => ({ method, category, seed }))));
}

/** The units of `plan` that `shard` runs: unit k goes to shard k mod count. */
export function shardUnits(plan: readonly Unit[], shard: Shard | null): Unit[] {
  return shard ? plan.filter((_, k) => k % shard.count === shard.index) : [...plan];
}

/** Parses `--shard i/n` (0 <= i < n); a RangeError names the expected form. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw new RangeError(`--shard expects i/n with 0 <= i < n (e.g. 0/3, 1/3, 2/3), got '${text}'`);
  }
  return { index, count };
}

/** A name safe as one path segment. */
export function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/**
 * Where a unit's files live in a run folder, relative to it: the finished result, the epoch checkpoint of an
 * unfinished fit, the curves and scores of report.html, and (seed 0) the heatmap panels. One folder per method
 * so methods never collide.
 */
export function unitPaths(u: Unit): { result: string; config: string; checkpoint: string; curves: string; heatmaps: string } {
  const base = `${slug(u.category)}-seed${u.seed}`;
  return {
    result: `partial/${slug(u.method)}/${base}.json`,
    config: methodConfigPath(u.method),
    checkpoint: `checkpoints/${slug(u.method)}/${base}.safetensors`,
    curves: `curves/${slug(u.method)}/${base}.json`,
    heatmaps: heatmapDir(u.method, u.category),
  };
}

/** The hyper-parameters a method ran with (the same for all its units), relative to the run folder. */
export function methodConfigPath(method: string): string {
  return `partial/${slug(method)}/config.json`;
}

/** The heatmap folder of one method and category, relative to the run folder. */
export function heatmapDir(method: string, category: string): string {
  return `heatmaps/${slug(method)}/${slug(category)}`;
}

/** Units listed more than once, and units of `plan` listed nowhere, by key. */
export function coverage(plan: readonly Unit[], done: readonly Unit[]): { duplicated: string[]; missing: string[] } {
  const seen = new Map<string, number>();
  for (const u of done) seen.set(unitKey(u), (seen.get(unitKey(u)) ?? 0) + 1);
  return {
    duplicated: [...seen].filter(([, n]) => n > 1).map(([k]) => k),
    missing: plan.map(unitKey).filter((k) => !seen.has(k)),
  };
}
