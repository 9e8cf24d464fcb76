// The files of a finished run, written the same way by `texad run` and `texad merge`: results.json, report.md,
// report.html and results.csv, with report.md linking the heatmap panels found in the run folder and report.html
// carrying them inline, with the curves of curves/.
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { heatmapDir, unitPaths } from '../eval/units.ts';
import type { UnitCurves } from './curves.ts';
import { reportHtml } from './html.ts';
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

/**
 * Writes OUT/results.json, OUT/report.md, OUT/report.html (subclass rows in the tables with `breakdown`) and
 * OUT/results.csv.
 */
export async function writeRunOutputs(out: string, run: RunResults, opts: { breakdown: boolean }): Promise<void> {
  const heatmaps: Record<string, Record<string, string[]>> = {};
  const inline: Record<string, Record<string, Array<{ name: string; dataUrl: string }>>> = {};
  const curves: Record<string, Record<string, Record<number, UnitCurves>>> = {};
  for (const m of run.methods) {
    heatmaps[m.method] = {};
    inline[m.method] = {};
    curves[m.method] = {};
    for (const c of m.categories) {
      const files = await listHeatmaps(out, heatmapDir(m.method, c.category));
      heatmaps[m.method]![c.category] = files;
      inline[m.method]![c.category] = await Promise.all(files.map(async (f) => ({
        name: f.slice(f.lastIndexOf('/') + 1), dataUrl: `data:image/png;base64,${(await readFile(join(out, f))).toString('base64')}`,
      })));
      const seeds: Record<number, UnitCurves> = (curves[m.method]![c.category] = {});
      for (const s of c.seeds) {
        const path = join(out, unitPaths({ method: m.method, category: c.category, seed: s.seed }).curves);
        // A unit finished by a texad that did not record curves has none: report.html says so for its category.
        if (await exists(path)) seeds[s.seed] = JSON.parse(await readFile(path, 'utf8')) as UnitCurves;
      }
    }
  }
  await writeAtomic(join(out, 'results.json'), resultsJson(run));
  await writeAtomic(join(out, 'report.md'), reportMarkdown(run, { heatmaps, breakdown: opts.breakdown }));
  await writeAtomic(join(out, 'report.html'), reportHtml(run, { heatmaps: inline, curves, breakdown: opts.breakdown }));
  await writeAtomic(join(out, 'results.csv'), resultsCsv(paperTables(run, { breakdown: opts.breakdown })));
}
