// Draws the README's contact sheet of the synthetic Texture-AD: per category one row of images (a training image,
// a test image under a changed optical scheme, then one image per defect type) and beneath it the same images
// with the defect mask outlined in magenta.
//   npx deno run -A tools/contact-sheet.ts [--preset small] [--seed 1] [--tile 96] [--out tools/samples/contact-sheet.png]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import process from 'node:process';
import { parseArgs, numberFlag, stringFlag } from '../src/cli/args.ts';
import { encodePng } from '../src/data/encode.ts';
import { resizeBilinear, resizeNearest } from '../src/data/image.ts';
import { CATEGORIES, CATEGORY_DEFECTS, SUBCLASSES } from '../src/data/synth/catalogue.ts';
import { renderSample, resolvePreset, type SynthItem } from '../src/data/synth/generate.ts';

const args = parseArgs(process.argv.slice(2));
const preset = resolvePreset(stringFlag(args, 'preset', 'small'));
const seed = numberFlag(args, 'seed', 1);
const tile = numberFlag(args, 'tile', 96);
const out = stringFlag(args, 'out', 'tools/samples/contact-sheet.png');
const gap = 2;

const cols = 2 + Math.max(...CATEGORIES.map((c) => CATEGORY_DEFECTS[c].length));
const rows = CATEGORIES.length * 2;
const W = cols * (tile + gap) + gap;
const H = rows * (tile + gap) + gap;
const sheet = new Uint8Array(W * H * 3).fill(255);

function place(planes: Float32Array, mask: Uint8Array | undefined, row: number, col: number): void {
  const s = preset.size;
  const small = resizeBilinear(planes, 3, s, s, tile, tile);
  const m = mask ? resizeNearest(mask, s, s, tile, tile) : undefined;
  const x0 = gap + col * (tile + gap);
  const y0 = gap + row * (tile + gap);
  const n = tile * tile;
  for (let y = 0; y < tile; y++) {
    for (let x = 0; x < tile; x++) {
      const i = y * tile + x;
      const edge = m !== undefined && m[i] === 1 && (x === 0 || y === 0 || x === tile - 1 || y === tile - 1 ||
        m[i - 1] === 0 || m[i + 1] === 0 || m[i - tile] === 0 || m[i + tile] === 0);
      const o = ((y0 + y) * W + x0 + x) * 3;
      for (let c = 0; c < 3; c++) {
        const v = edge ? (c === 1 ? 0 : 1) : small[c * n + i]!;
        sheet[o + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
      }
    }
  }
}

function toPlanes(hwc: Float32Array, s: number): Float32Array {
  const n = s * s;
  const planes = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planes[c * n + i] = hwc[i * 3 + c]!;
  return planes;
}

CATEGORIES.forEach((category, r) => {
  const subs = SUBCLASSES[category].slice(0, preset.subclasses[category]);
  const items: SynthItem[] = [
    { category, subclass: subs[0]!.name, split: 'train', defect: 'good', index: 0, unseenVariant: false },
    { category, subclass: subs[1 % subs.length]!.name, split: 'test', defect: 'good', index: 0, unseenVariant: true },
    ...CATEGORY_DEFECTS[category].map((defect, k): SynthItem => ({
      category, subclass: subs[k % subs.length]!.name, split: 'test', defect, index: 0, unseenVariant: false,
    })),
  ];
  items.forEach((item, c) => {
    const sample = renderSample(item, preset, seed);
    const planes = toPlanes(sample.image.data, preset.size);
    place(planes, undefined, 2 * r, c);
    place(planes, sample.mask, 2 * r + 1, c);
  });
});

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, encodePng(sheet, W, H, 3));
console.log(`wrote ${out} (${W}×${H}); columns: train good, test good (unseen variant, shifted optics), ` +
  CATEGORIES.map((c) => `${c}: ${CATEGORY_DEFECTS[c].join(', ')}`).join('; '));
