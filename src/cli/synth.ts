import type { Command } from './main.ts';
import { parseArgs, numberFlag, stringFlag, boolFlag, UsageError } from './args.ts';
import { CATEGORIES, PRESETS, type SynthCategory } from '../data/synth/catalogue.ts';
import { resolvePreset } from '../data/synth/generate.ts';
import { writeSynthDataset } from '../data/synth/write.ts';

const presetLines = Object.values(PRESETS).map((p) => {
  const subs = CATEGORIES.map((c) => p.subclasses[c]).reduce((a, b) => a + b, 0);
  return `  ${p.name.padEnd(6)} ${p.size} px, ${subs} subclasses`;
});

export const command: Command = {
  summary: 'write a synthetic Texture-AD dataset (cloth, wafer, metal)',
  help: `usage: texad synth --out DIR [--preset tiny|small|full] [--seed N] [--categories cloth,wafer,metal] [--force]

Writes a Texture-AD-shaped dataset: DIR/<category>/<subclass>/{train/good,test/<type>,ground_truth/<type>}.
Training images share one stable lighting; test images are shot under changed optical schemes and include
product variants never seen in training, good and defective, each defect with an exact mask.
  --out DIR       output folder (must be empty unless --force)
  --preset NAME   dataset size (default tiny):
${presetLines.join('\n')}
  --seed N        the same seed writes the same bytes (default 0)
  --categories    comma-separated subset of ${CATEGORIES.join(', ')}
  --force         write into a non-empty folder, replacing same-named files
  --json          print the summary as JSON`,
  async run(argv) {
    const args = parseArgs(argv);
    const out = stringFlag(args, 'out');
    const name = stringFlag(args, 'preset', 'tiny');
    if (!(name in PRESETS)) throw new UsageError(`unknown preset '${name}'; choose one of ${Object.keys(PRESETS).join(', ')}`);
    const preset = resolvePreset(name);
    const seed = numberFlag(args, 'seed', 0);
    if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed expects a non-negative integer, got ${seed}`);
    const categories = stringFlag(args, 'categories', CATEGORIES.join(',')).split(',').map((c) => c.trim());
    for (const c of categories) {
      if (!(CATEGORIES as readonly string[]).includes(c)) {
        throw new UsageError(`unknown category '${c}'; choose from ${CATEGORIES.join(', ')}`);
      }
    }
    const json = boolFlag(args, 'json');
    const progress = !json && process.stderr.isTTY;
    const summary = await writeSynthDataset(out, {
      preset, seed, categories: categories as SynthCategory[], overwrite: boolFlag(args, 'force'),
      onProgress: progress ? (done, total) => {
        if (done % 25 === 0 || done === total) process.stderr.write(`\r${done}/${total} images`);
      } : undefined,
    });
    if (progress) process.stderr.write('\n');
    if (json) {
      console.log(JSON.stringify(summary, null, 2));
      return 0;
    }
    console.log(`wrote ${summary.images} images and ${summary.masks} masks (${preset.name}, ${preset.size} px, ` +
      `seed ${seed}) to ${out} in ${summary.seconds.toFixed(1)} s`);
    for (const [cat, c] of Object.entries(summary.counts)) {
      console.log(`  ${cat.padEnd(6)} train ${c['train'] ?? 0}, test good ${c['test/good'] ?? 0}, ` +
        `test defective ${c['test/defective'] ?? 0}`);
    }
    const a = summary.defectArea;
    console.log(`  defect area: median ${(a.median * 100).toFixed(2)} %, 90th percentile ${(a.p90 * 100).toFixed(2)} %, ` +
      `${(a.under1pct * 100).toFixed(0)} % of defects under 1 % of the image`);
    return 0;
  },
};
