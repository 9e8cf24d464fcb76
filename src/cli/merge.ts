// `texad merge`: combines the folders of a sharded `texad run` into the results of one run.
import { cp, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from './main.ts';
import { boolFlag, parseArgs, UsageError } from './args.ts';
import { heatmapDir, unitPaths } from '../eval/units.ts';
import { assembleRun, MergeError, mergeShards, type ShardManifest } from '../report/merge.ts';
import { exists, writeRunOutputs } from '../report/outputs.ts';
import { reviveResultNaN } from '../report/results.ts';

const HELP = `usage: texad merge OUT_DIR SHARD_DIR... [--breakdown]

Combines the folders written by 'texad run ... --shard I/N' (one per shard, each with its shard.json) into
OUT_DIR/results.json, report.md, report.html and results.csv, the same numbers as the run on one machine, and
copies the heatmap panels and curves. Refuses, naming every problem and writing nothing, when the shards come from different
configurations or texad versions, a shard has not finished, or units are duplicated or missing.

  --breakdown   add a row per subclass under each category in the report's tables and results.csv`;

export const command: Command = {
  summary: 'combine the shard folders of a sharded run into one results.json, report.md, report.html and results.csv',
  help: HELP,
  async run(argv) {
    const args = parseArgs(argv);
    if (typeof args.flags.get('breakdown') === 'string') throw new UsageError('--breakdown takes no value (put it after the folders)');
    const [outArg, ...dirs] = args.positional;
    if (!outArg || dirs.length === 0) throw new UsageError('expected OUT_DIR and at least one SHARD_DIR');
    const out = resolve(outArg);
    const shards: Array<{ from: string; manifest: ShardManifest }> = [];
    const unreadable: string[] = [];
    for (const dir of dirs) {
      const path = join(resolve(dir), 'shard.json');
      if (!(await exists(path))) {
        unreadable.push(`${dir}: no shard.json (the shard has not finished, or this is not a texad run folder)`);
        continue;
      }
      shards.push({ from: dir, manifest: JSON.parse(await readFile(path, 'utf8'), reviveResultNaN) as ShardManifest });
    }
    let merged: ShardManifest;
    try {
      merged = mergeShards(shards);
    } catch (err) {
      if (!(err instanceof MergeError)) throw err;
      throw new MergeError([...unreadable, ...(shards.length > 0 ? err.problems : [])]);
    }
    if (unreadable.length > 0) throw new MergeError(unreadable);

    await mkdir(out, { recursive: true });
    for (const { from, manifest } of shards) {
      for (const u of manifest.units) {
        const curves = unitPaths(u).curves;
        if (await exists(join(from, curves))) await cp(join(from, curves), join(out, curves));
        if (u.seed !== 0) continue;
        const dir = heatmapDir(u.method, u.category);
        if (await exists(join(from, dir))) await cp(join(from, dir), join(out, dir), { recursive: true });
      }
    }
    const run = assembleRun(merged, merged.units, new Date().toISOString());
    await writeRunOutputs(out, run, { breakdown: boolFlag(args, 'breakdown') });
    console.log(`merged ${shards.length} shards (${merged.units.length} units) into ${out}; report: ${join(out, 'report.md')}, ${join(out, 'report.html')}`);
    return 0;
  },
};
