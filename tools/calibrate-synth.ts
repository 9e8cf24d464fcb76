// Prints the calibration table of the synthetic Texture-AD: per category, the image AUROC (and pixel AUROC) of
// each reference detector (src/eval/reference.ts), mean ± std over generated sets. The generator is calibrated so
// that patch-knn and colour-histogram (CALIBRATION_DETECTORS) stay at or below 0.70 image AUROC on every category of
// the tiny preset (README "Datasets"); patch-knn-flat, on illumination-normalised images, is printed beside them.
//   npx deno run -A tools/calibrate-synth.ts [--preset tiny] [--synth-seeds 0,1,2] [--categories cloth,wafer,metal]
import process from 'node:process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, stringFlag } from '../src/cli/args.ts';
import { discoverDataset } from '../src/data/discover.ts';
import { textureAdProtocol } from '../src/data/protocol.ts';
import { CATEGORIES, type SynthCategory } from '../src/data/synth/catalogue.ts';
import { resolvePreset } from '../src/data/synth/generate.ts';
import { writeSynthDataset } from '../src/data/synth/write.ts';
import { referenceFloor } from '../src/eval/reference.ts';

const args = parseArgs(process.argv.slice(2));
const preset = resolvePreset(stringFlag(args, 'preset', 'tiny'));
const seeds = stringFlag(args, 'synth-seeds', '0,1,2').split(',').map(Number);
const categories = stringFlag(args, 'categories', CATEGORIES.join(',')).split(',') as SynthCategory[];
if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`--synth-seeds: non-negative integers, got ${seeds.join(',')}`);

const dir = mkdtempSync(join(tmpdir(), 'texad-calibrate-'));
const rows = new Map<string, { image: number[]; pixel: number[] }>();
try {
  for (const seed of seeds) {
    const root = join(dir, String(seed));
    await writeSynthDataset(root, { preset, seed, categories });
    const desc = await discoverDataset(root);
    for (const category of categories) {
      const floor = await referenceFloor(textureAdProtocol(desc, category), preset.size);
      for (const [detector, m] of Object.entries(floor)) {
        const key = `${category} | ${detector}`;
        const r = rows.get(key) ?? { image: [], pixel: [] };
        r.image.push(m.imageAUROC);
        r.pixel.push(m.pixelAUROC);
        rows.set(key, r);
        console.error(`seed ${seed} ${key}: I-AUROC ${(100 * m.imageAUROC).toFixed(1)} P-AUROC ${(100 * m.pixelAUROC).toFixed(1)}`);
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const fmt = (v: number[]) => {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length - 1));
  return `${(100 * mean).toFixed(1)} ± ${(100 * std).toFixed(1)} (max ${(100 * Math.max(...v)).toFixed(1)})`;
};
console.log(`preset ${preset.name}, synth seeds ${seeds.join(', ')}: reference detectors, mean ± std over the sets`);
console.log('| category | reference detector | I-AUROC | P-AUROC |');
console.log('|---|---|---|---|');
for (const [key, r] of rows) console.log(`| ${key} | ${fmt(r.image)} | ${fmt(r.pixel)} |`);
