import type { Command } from './main.ts';
import { parseArgs, boolFlag, numberFlag, stringFlag, UsageError, type ParsedArgs } from './args.ts';
import { discoverDataset } from '../data/discover.ts';
import { SPLITS, type DatasetDescription, type DatasetItem, type FolderSpec } from '../data/types.ts';

interface SubclassSummary {
  name: string;
  train: number;
  validation: number;
  testGood: number;
  testDefective: number;
  masks: number;
  defectTypes: Record<string, number>;
  sizes: Record<string, number>;
}

function count<K extends string>(into: Record<K, number>, key: K): void {
  into[key] = (into[key] ?? 0) + 1;
}

export function summarise(desc: DatasetDescription) {
  return desc.categories.map((c) => {
    const subclasses: SubclassSummary[] = c.subclasses.map((s) => {
      const all: DatasetItem[] = SPLITS.flatMap((k) => s.splits[k]);
      const sum: SubclassSummary = {
        name: s.name, train: s.splits.train.length, validation: s.splits.validation.length,
        testGood: s.splits.test.filter((it) => it.label === 0).length,
        testDefective: s.splits.test.filter((it) => it.label === 1).length,
        masks: all.filter((it) => it.maskPaths.length > 0).length, defectTypes: {}, sizes: {},
      };
      for (const it of all) {
        if (it.label === 1) count(sum.defectTypes, it.defectType);
        count(sum.sizes, `${it.width}×${it.height}`);
      }
      return sum;
    });
    return { name: c.name, subclasses };
  });
}

function list(args: ParsedArgs, name: string): string[] | undefined {
  const v = args.flags.get(name);
  if (v === undefined) return undefined;
  if (v === true) throw new UsageError(`--${name} expects comma-separated folders`);
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

function fmtCounts(rec: Record<string, number>): string {
  return Object.entries(rec).sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k} ${v}`).join(', ');
}

export const command: Command = {
  summary: 'describe a dataset folder and report every problem in it',
  help: `usage: texad info DIR [--json [--items]] [--strict] [--decode] [--category NAME] [--max-pixels N]
       texad info DIR --normal DIRS [--abnormal DIRS] [--normal-test DIRS] [--mask DIRS] [--seed N]

Finds images (png, jpg/jpeg, bmp) and masks in an MVTec AD layout (<category>/{train,test,ground_truth}/<type>),
a Texture-AD layout (<category>/<subclass>/{train,test,ground_truth}/<type>), or an anomalib Folder layout, and
prints categories, subclasses, counts per split and defect type, image sizes, and every problem found (unpaired
mask, unreadable or truncated file, size mismatch, mixed channel counts, empty category), each with its path.
Nothing is written into DIR.
  --json          machine-readable summary and problems; --items adds every image with its masks
  --strict        exit with status 1 when any problem is found
  --decode        decode every image fully (finds corrupt pixel data; slower than the header checks)
  --category NAME treat DIR as one category whose folders are subclasses (e.g. texad info Texture-AD/Cloth)
  --max-pixels N  report images larger than N pixels (default 67108864)
Folder layout (comma-separated folders relative to DIR, as anomalib's Folder dataset):
  --normal        defect-free images (train; a share moves to test without --normal-test)
  --abnormal      defective images; each folder's name is the defect type
  --normal-test   defect-free test images
  --mask          masks, paired to images by file stem (suffixes _mask, _gt, _label allowed)
  --seed N        seed of the normal train/test split (default 0)`,
  async run(argv) {
    const args = parseArgs(argv);
    const dir = args.positional[0];
    if (!dir) throw new UsageError('missing DIR');
    const normal = list(args, 'normal');
    const folder: FolderSpec | undefined = normal ? {
      normal, abnormal: list(args, 'abnormal'), normalTest: list(args, 'normal-test'), mask: list(args, 'mask'),
      seed: numberFlag(args, 'seed', 0),
      ...(args.flags.has('category') ? { category: stringFlag(args, 'category') } : {}),
    } : undefined;
    if (!normal && (args.flags.has('abnormal') || args.flags.has('mask') || args.flags.has('normal-test'))) {
      throw new UsageError('the Folder layout needs --normal');
    }
    const desc = await discoverDataset(dir, {
      decode: boolFlag(args, 'decode'), maxPixels: numberFlag(args, 'max-pixels', 64 * 1024 * 1024),
      ...(folder ? { folder } : args.flags.has('category') ? { category: stringFlag(args, 'category') } : {}),
    });
    const summary = summarise(desc);
    const strictFail = boolFlag(args, 'strict') && desc.problems.length > 0;
    if (boolFlag(args, 'json')) {
      console.log(JSON.stringify({ root: desc.root, layout: desc.layout, categories: summary, problems: desc.problems,
        ...(boolFlag(args, 'items') ? { description: desc.categories } : {}) }, null, 2));
      return strictFail ? 1 : 0;
    }
    const subs = summary.reduce((n, c) => n + c.subclasses.length, 0);
    const images = summary.reduce((n, c) => n + c.subclasses.reduce((m, s) => m + s.train + s.validation +
      s.testGood + s.testDefective, 0), 0);
    console.log(`${desc.root}: ${desc.layout} layout, ${summary.length} categor${summary.length === 1 ? 'y' : 'ies'}, ` +
      `${subs} subclass${subs === 1 ? '' : 'es'}, ${images} images`);
    for (const c of summary) {
      console.log(`\n${c.name} (${c.subclasses.length} subclass${c.subclasses.length === 1 ? '' : 'es'})`);
      const w = Math.max(8, ...c.subclasses.map((s) => s.name.length));
      console.log(`  ${'subclass'.padEnd(w)}  train    val  test good  test defective  masks  sizes`);
      const types: Record<string, number> = {};
      for (const s of c.subclasses) {
        console.log(`  ${s.name.padEnd(w)}  ${String(s.train).padStart(5)}  ${String(s.validation).padStart(5)}  ` +
          `${String(s.testGood).padStart(9)}  ${String(s.testDefective).padStart(14)}  ${String(s.masks).padStart(5)}  ` +
          fmtCounts(s.sizes));
        for (const [t, n] of Object.entries(s.defectTypes)) types[t] = (types[t] ?? 0) + n;
      }
      if (Object.keys(types).length) console.log(`  defect types: ${fmtCounts(types)}`);
    }
    if (desc.problems.length === 0) console.log('\nno problems found');
    else {
      console.log(`\n${desc.problems.length} problem${desc.problems.length === 1 ? '' : 's'}:`);
      for (const p of desc.problems) console.log(`  ${p.severity.padEnd(7)} ${p.path}: ${p.message}`);
    }
    return strictFail ? 1 : 0;
  },
};
