// Plans and renders the synthetic Texture-AD, one image at a time. Each image draws from its own generator derived
// from (seed, category, subclass, split, folder, index), so any image can be rebuilt alone and the output does not
// depend on generation order.
import { Rng } from '../random.ts';
import { Canvas } from './canvas.ts';
import { CATEGORIES, CATEGORY_DEFECTS, PRESETS, SUBCLASSES, testVariant, type Design, type Preset,
  type SynthCategory } from './catalogue.ts';
import { renderCloth } from './cloth.ts';
import { applyDefect, type DefectType } from './defects.ts';
import { renderMetal } from './metal.ts';
import { applyOptics, randomScheme, TRAIN_SCHEME, warpSurface } from './optics.ts';
import { renderWafer } from './wafer.ts';

export interface SynthItem {
  category: SynthCategory;
  subclass: string;
  split: 'train' | 'test';
  /** 'good' or the defect type: also the folder name. */
  defect: 'good' | DefectType;
  /** Index within its folder (file name 000.png …). */
  index: number;
  /** Test only: drawn from the subclass's variant never seen in training. */
  unseenVariant: boolean;
}

export interface SynthSample {
  item: SynthItem;
  /** HWC float RGB. */
  image: Canvas;
  /** 1 = defect; undefined for good images. */
  mask?: Uint8Array;
  /** Fraction of the image the defect covers. */
  defectArea?: number;
}

export function resolvePreset(name: string): Preset {
  const p = (PRESETS as Record<string, Preset | undefined>)[name];
  if (!p) throw new RangeError(`unknown preset '${name}'; choose one of ${Object.keys(PRESETS).join(', ')}`);
  return p;
}

/** Every image of a preset, in folder order. */
export function planDataset(preset: Preset, seed: number, categories: readonly SynthCategory[] = CATEGORIES): SynthItem[] {
  const items: SynthItem[] = [];
  for (const category of categories) {
    const counts = preset.counts[category];
    for (const sub of SUBCLASSES[category].slice(0, preset.subclasses[category])) {
      const base = { category, subclass: sub.name };
      for (let i = 0; i < counts.train; i++) {
        items.push({ ...base, split: 'train', defect: 'good', index: i, unseenVariant: false });
      }
      // Test images alternate between the training design and the unseen variant.
      for (let i = 0; i < counts.testGood; i++) {
        items.push({ ...base, split: 'test', defect: 'good', index: i, unseenVariant: i % 2 === 1 });
      }
      // Defect types are dealt round-robin from a per-subclass shuffle, so every type occurs across subclasses.
      const types = Rng.derive(seed, category, sub.name, 'defect-order').shuffle([...CATEGORY_DEFECTS[category]]);
      const perType = new Map<DefectType, number>();
      for (let i = 0; i < counts.testDefective; i++) {
        const defect = types[i % types.length]!;
        const index = perType.get(defect) ?? 0;
        perType.set(defect, index + 1);
        items.push({ ...base, split: 'test', defect, index, unseenVariant: i % 2 === 1 });
      }
    }
  }
  return items;
}

function designOf(item: SynthItem, preset: Preset, seed: number): Design {
  const sub = SUBCLASSES[item.category].find((s) => s.name === item.subclass);
  if (!sub) throw new RangeError(`unknown synthetic subclass ${item.category}/${item.subclass}`);
  if (!item.unseenVariant) return sub.design;
  return testVariant(sub.design, Rng.derive(seed, item.category, item.subclass, 'variant'), preset.shift);
}

/** The defect-free surface of a design, before optics. */
export function renderSurface(design: Design, size: number, rng: Rng): Canvas {
  switch (design.category) {
    case 'cloth':
      return renderCloth(design.cloth, size, rng);
    case 'wafer':
      return renderWafer(design.wafer, size, rng);
    case 'metal':
      return renderMetal(design.metal, size, rng);
  }
}

export function renderSample(item: SynthItem, preset: Preset, seed: number): SynthSample {
  const rng = Rng.derive(seed, item.category, item.subclass, item.split, item.defect, item.index);
  const scheme = item.split === 'train' ? TRAIN_SCHEME : randomScheme(rng, preset.shift);
  const image = warpSurface(renderSurface(designOf(item, preset, seed), preset.size, rng), scheme);
  const sample: SynthSample = { item, image };
  if (item.defect !== 'good') {
    const d = applyDefect(image, item.defect, rng, { area: preset.area, minContrast: preset.minContrast,
      strength: preset.strength[item.category] });
    sample.mask = d.mask;
    sample.defectArea = d.area;
  }
  applyOptics(image, scheme, rng);
  return sample;
}
