// The files of a finished run, written the same way by `texad run` and `texad merge`: results.json, report.md and
// results.csv, with report.md linking the heatmap panels found in the run folder.
import { readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { heatmapDir } from '../eval/units.ts';
import { reportMarkdown } from './markdown.ts';
import { resultsJson, type RunResults } from './results.ts';
import { paperTables, resultsCsv } from './tables.ts';

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Writes through a temporary file and a rename, so a reader never sees a half-written file. */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function listHeatmaps(out: string, dir: string): Promise<string[]> {
  if (!(await exists(join(out, dir)))) return [];
  return (await readdir(join(out, dir))).filter((f) => f.endsWith('.png')).sort().map((f) => `${dir}/${f}`);
}

/** Writes OUT/results.json, OUT/report.md (subclass rows in the tables with `breakdown`) and OUT/results.csv. */
export async function writeRunOutputs(out: string, run: RunResults, opts: { breakdown: boolean }): Promise<void> {
  const heatmaps: Record<string, Record<string, string[]>> = {};
  for (const m of run.methods) {
    heatmaps[m.method] = {};
    for (const c of m.categories) heatmaps[m.method]![c.category] = await listHeatmaps(out, heatmapDir(m.method, c.category));
  }
  await writeAtomic(join(out, 'results.json'), resultsJson(run));
  await writeAtomic(join(out, 'report.md'), reportMarkdown(run, { heatmaps, breakdown: opts.breakdown }));
  await writeAtomic(join(out, 'results.csv'), resultsCsv(paperTables(run, { breakdown: opts.breakdown })));
}
