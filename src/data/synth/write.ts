// Writes a synthetic Texture-AD to disk in the layout the loader discovers:
//   <out>/<category>/<subclass>/train/good/000.png
//   <out>/<category>/<subclass>/test/{good,<defect>}/000.png
//   <out>/<category>/<subclass>/ground_truth/<defect>/000_mask.png
// plus <out>/texad-synth.json describing how it was made.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePng } from '../encode.ts';
import { CATEGORIES, type Preset, type SynthCategory } from './catalogue.ts';
import { planDataset, renderSample, type SynthItem } from './generate.ts';

export const SYNTH_MANIFEST = 'texad-synth.json';

export interface SynthOptions {
  preset: Preset;
  seed: number;
  categories?: readonly SynthCategory[];
  /** Write into a folder that already has files (same-named files are replaced). */
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface SynthSummary {
  out: string;
  preset: Preset['name'];
  seed: number;
  size: number;
  images: number;
  masks: number;
  /** Images per category and split ('train', 'test/good', 'test/defective'). */
  counts: Record<string, Record<string, number>>;
  /** Defect areas as image fractions: median, 90th percentile, share under 1 %. */
  defectArea: { median: number; p90: number; under1pct: number };
  seconds: number;
}

function itemPath(out: string, it: SynthItem): string {
  return join(out, it.category, it.subclass, it.split, it.defect, `${String(it.index).padStart(3, '0')}.png`);
}

export async function writeSynthDataset(out: string, opts: SynthOptions): Promise<SynthSummary> {
  const t0 = performance.now();
  const existing = await readdir(out).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  if (existing.length > 0 && !opts.overwrite) {
    throw new Error(`${out} is not empty; choose a new folder or pass --force to write over it`);
  }
  const { preset, seed } = opts;
  const items = planDataset(preset, seed, opts.categories ?? CATEGORIES);
  const made = new Set<string>();
  const counts: Record<string, Record<string, number>> = {};
  const areas: number[] = [];
  let masks = 0;
  for (let k = 0; k < items.length; k++) {
    const it = items[k]!;
    const sample = renderSample(it, preset, seed);
    const file = itemPath(out, it);
    const dir = join(file, '..');
    if (!made.has(dir)) {
      await mkdir(dir, { recursive: true });
      made.add(dir);
    }
    await writeFile(file, encodePng(sample.image.toRgb8(), preset.size, preset.size, 3));
    if (sample.mask) {
      const maskDir = join(out, it.category, it.subclass, 'ground_truth', it.defect);
      if (!made.has(maskDir)) {
        await mkdir(maskDir, { recursive: true });
        made.add(maskDir);
      }
      const bytes = sample.mask.map((v) => (v ? 255 : 0));
      await writeFile(join(maskDir, `${String(it.index).padStart(3, '0')}_mask.png`),
        encodePng(bytes, preset.size, preset.size, 1));
      masks++;
      areas.push(sample.defectArea!);
    }
    const key = it.split === 'train' ? 'train' : it.defect === 'good' ? 'test/good' : 'test/defective';
    const c = (counts[it.category] ??= {});
    c[key] = (c[key] ?? 0) + 1;
    opts.onProgress?.(k + 1, items.length);
  }
  areas.sort((a, b) => a - b);
  const q = (p: number): number => areas.length ? areas[Math.min(areas.length - 1, Math.floor(p * areas.length))]! : 0;
  const summary: SynthSummary = {
    out, preset: preset.name, seed, size: preset.size, images: items.length, masks, counts,
    defectArea: { median: q(0.5), p90: q(0.9), under1pct: areas.filter((a) => a < 0.01).length / (areas.length || 1) },
    seconds: (performance.now() - t0) / 1000,
  };
  await writeFile(join(out, SYNTH_MANIFEST), JSON.stringify({ generator: 'texad synth', ...summary, out: undefined },
    null, 2) + '\n');
  return summary;
}
