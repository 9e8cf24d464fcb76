// The synthetic Texture-AD: three categories, their subclasses (in an order that keeps the first few diverse, since
// smaller presets take a prefix), their defect types, and the presets' sizes and counts.
import type { Rng } from '../random.ts';
import type { Rgb } from './canvas.ts';
import type { ClothDesign } from './cloth.ts';
import type { DefectType } from './defects.ts';
import type { MetalDesign } from './metal.ts';
import type { WaferDesign } from './wafer.ts';
import { hashString } from '../random.ts';

export const CATEGORIES = ['cloth', 'wafer', 'metal'] as const;
export type SynthCategory = (typeof CATEGORIES)[number];

export type Design =
  | { category: 'cloth'; cloth: ClothDesign }
  | { category: 'wafer'; wafer: WaferDesign }
  | { category: 'metal'; metal: MetalDesign };

/** Defect types per category, following the paper's lists (cloth mostly artificial, wafer and metal natural). */
export const CATEGORY_DEFECTS: Record<SynthCategory, readonly DefectType[]> = {
  cloth: ['pencil', 'marker', 'cut', 'water_mark', 'black_dot', 'white_dot', 'thread', 'wrinkle', 'uneven_weave',
    'color_variation'],
  wafer: ['scratch', 'stain', 'black_dot', 'white_dot', 'pattern'],
  metal: ['scratch', 'stain', 'water_mark', 'black_dot', 'white_dot', 'wrinkle', 'color_variation'],
};

const C = {
  white: [0.9, 0.9, 0.87], navy: [0.14, 0.19, 0.38], red: [0.7, 0.15, 0.15], indigo: [0.17, 0.24, 0.48],
  ecru: [0.84, 0.79, 0.66], khaki: [0.64, 0.57, 0.4], grey: [0.55, 0.55, 0.57], black: [0.13, 0.13, 0.14],
  champagne: [0.88, 0.79, 0.62], burgundy: [0.45, 0.1, 0.15], teal: [0.1, 0.45, 0.45], olive: [0.45, 0.45, 0.2],
  linen: [0.78, 0.72, 0.6], pink: [0.9, 0.6, 0.65],
} satisfies Record<string, Rgb>;

type ClothRow = [name: string, weave: ClothDesign['weave'], threads: number, warp: Rgb[], warpRepeat: number,
  weft: Rgb[], weftRepeat: number, hairiness: number, slub: number];

const CLOTH: ClothRow[] = [
  ['twill_denim', 'twill', 30, [C.indigo], 1, [C.white], 1, 0.25, 0.15],
  ['plain_red', 'plain', 26, [C.red], 1, [C.red], 1, 0.2, 0.1],
  ['satin_champagne', 'satin', 40, [C.champagne], 1, [C.champagne], 1, 0.08, 0.05],
  ['plain_gingham', 'plain', 32, [C.white, C.navy], 4, [C.white, C.navy], 4, 0.2, 0.1],
  ['twill_houndstooth', 'twill', 32, [C.black, C.white], 4, [C.black, C.white], 4, 0.2, 0.1],
  ['plain_linen', 'plain', 22, [C.linen], 1, [C.linen], 1, 0.3, 0.35],
  ['twill_khaki', 'twill', 36, [C.khaki], 1, [C.khaki], 1, 0.2, 0.1],
  ['satin_black', 'satin', 40, [C.black], 1, [C.black], 1, 0.08, 0.05],
  ['plain_navy', 'plain', 30, [C.navy], 1, [C.navy], 1, 0.2, 0.1],
  ['twill_grey', 'twill', 34, [C.grey], 1, [C.grey], 1, 0.22, 0.12],
  ['satin_burgundy', 'satin', 40, [C.burgundy], 1, [C.burgundy], 1, 0.08, 0.05],
  ['plain_canvas', 'plain', 18, [C.ecru], 1, [C.ecru], 1, 0.3, 0.3],
  ['twill_olive', 'twill', 36, [C.olive], 1, [C.olive], 1, 0.2, 0.1],
  ['satin_teal', 'satin', 40, [C.teal], 1, [C.teal], 1, 0.08, 0.05],
  ['plain_pink_stripe', 'plain', 30, [C.pink, C.white], 3, [C.pink], 1, 0.2, 0.1],
];

const W = {
  violet: [0.42, 0.35, 0.55], brown: [0.55, 0.45, 0.3], green: [0.3, 0.45, 0.38], blue: [0.35, 0.42, 0.52],
  grey: [0.5, 0.5, 0.52], teal: [0.25, 0.45, 0.5], rose: [0.55, 0.38, 0.45],
  al: [0.84, 0.84, 0.82], gold: [0.86, 0.72, 0.4], solder: [0.78, 0.79, 0.82],
} satisfies Record<string, Rgb>;

type WaferRow = [name: string, diesX: number, diesY: number, pads: WaferDesign['pads'], core: WaferDesign['core'],
  base: Rgb, metal: Rgb];

const WAFER: WaferRow[] = [
  ['d4_perimeter_violet', 4, 4, 'perimeter', 'logic', W.violet, W.al],
  ['d6_bumps_brown', 6, 6, 'bumps', 'lines', W.brown, W.solder],
  ['d3x5_dual_green', 3, 5, 'dual', 'memory', W.green, W.gold],
  ['d8_memory_blue', 8, 8, 'perimeter', 'memory', W.blue, W.al],
  ['d2_logic_violet', 2, 2, 'perimeter', 'logic', W.violet, W.gold],
  ['d5_bumps_grey', 5, 5, 'bumps', 'logic', W.grey, W.solder],
  ['d4x6_edge_teal', 4, 6, 'edge', 'lines', W.teal, W.al],
  ['d6_perimeter_green', 6, 6, 'perimeter', 'lines', W.green, W.al],
  ['d3_memory_gold', 3, 3, 'perimeter', 'memory', W.brown, W.gold],
  ['d8x4_dual_rose', 8, 4, 'dual', 'logic', W.rose, W.al],
  ['d5_logic_blue', 5, 5, 'edge', 'logic', W.blue, W.gold],
  ['d7_perimeter_brown', 7, 7, 'perimeter', 'memory', W.brown, W.al],
  ['d4_bumps_violet', 4, 4, 'bumps', 'memory', W.violet, W.solder],
  ['d6x3_memory_green', 6, 3, 'dual', 'memory', W.green, W.al],
];

const M = {
  silver: [0.7, 0.71, 0.73], black: [0.17, 0.17, 0.18], gold: [0.74, 0.6, 0.32], blue: [0.2, 0.35, 0.65],
  red: [0.6, 0.16, 0.16],
} satisfies Record<string, Rgb>;

const METAL: [name: string, finish: MetalDesign['finish'], colour: Rgb][] = [
  ['brushed_silver', 'brushed', M.silver], ['matte_black', 'matte', M.black], ['brushed_gold', 'brushed', M.gold],
  ['matte_blue', 'matte', M.blue], ['brushed_red', 'brushed', M.red], ['matte_silver', 'matte', M.silver],
  ['brushed_black', 'brushed', M.black], ['matte_gold', 'matte', M.gold], ['brushed_blue', 'brushed', M.blue],
  ['matte_red', 'matte', M.red],
];

export interface Subclass {
  category: SynthCategory;
  name: string;
  design: Design;
}

export const SUBCLASSES: Record<SynthCategory, readonly Subclass[]> = {
  cloth: CLOTH.map(([name, weave, threads, warp, warpRepeat, weft, weftRepeat, hairiness, slub]) => ({
    category: 'cloth', name,
    design: { category: 'cloth', cloth: { weave, threads, warp, warpRepeat, weft, weftRepeat, hairiness, slub } },
  })),
  wafer: WAFER.map(([name, diesX, diesY, pads, core, base, metal]) => ({
    category: 'wafer', name,
    design: { category: 'wafer', wafer: { diesX, diesY, pads, core, base, metal, layout: hashString(name) } },
  })),
  metal: METAL.map(([name, finish, colour]) => ({
    category: 'metal', name,
    design: { category: 'metal', metal: { finish, colour, grain: finish === 'brushed' ? 0.22 : 0.14, angle: 0,
      sheen: finish === 'brushed' ? 0.22 : 0.1 } },
  })),
};

function shiftColour(c: Rgb, rng: Rng, k: number): Rgb {
  const s = 1 + rng.range(-0.1, 0.1) * k;
  return [c[0] * s * (1 + rng.range(-0.1, 0.1) * k), c[1] * s * (1 + rng.range(-0.1, 0.1) * k),
    c[2] * s * (1 + rng.range(-0.1, 0.1) * k)];
}

/**
 * The product variant a subclass shows only at test time (the paper: designs that differ from train). `strength`
 * 0 returns the training design; 1 changes colour, thread density, die count or brush direction noticeably.
 */
export function testVariant(d: Design, rng: Rng, strength: number): Design {
  const k = strength;
  const sign = rng.chance(0.5) ? 1 : -1;
  switch (d.category) {
    case 'cloth': {
      const c = d.cloth;
      return { category: 'cloth', cloth: { ...c, threads: Math.round(c.threads * (1 + sign * 0.15 * k)),
        warp: c.warp.map((x) => shiftColour(x, rng, k)), weft: c.weft.map((x) => shiftColour(x, rng, k)) } };
    }
    case 'wafer': {
      const w = d.wafer;
      const step = k >= 0.75 ? 1 : 0;
      return { category: 'wafer', wafer: { ...w, diesX: Math.max(2, w.diesX + sign * step),
        diesY: Math.max(2, w.diesY + sign * step), base: shiftColour(w.base, rng, k), metal: shiftColour(w.metal, rng, k) } };
    }
    case 'metal': {
      const m = d.metal;
      return { category: 'metal', metal: { ...m, angle: m.angle + sign * 0.35 * k,
        grain: m.grain * (1 + rng.range(-0.4, 0.4) * k), colour: shiftColour(m.colour, rng, k) } };
    }
  }
}

export interface SplitCounts {
  train: number;
  testGood: number;
  testDefective: number;
}

export interface Preset {
  name: 'tiny' | 'small' | 'full';
  size: number;
  subclasses: Record<SynthCategory, number>;
  /** Images per subclass. */
  counts: Record<SynthCategory, SplitCounts>;
  /** Defect area as a fraction of the image: log-uniform, so most defects are small (paper's Figure 3). */
  area: readonly [number, number];
  minContrast: number;
  /**
   * Per category, the range of the factor a defect's change is scaled by (log-uniform): faint defects next to
   * obvious ones.
   */
  strength: Record<SynthCategory, readonly [number, number]>;
  /** 0 … 1: how far test optics and test-only product variants depart from train. */
  shift: number;
}

export const PRESETS: Record<Preset['name'], Preset> = {
  // Small enough for CI and the demo, yet hard in Texture-AD's way: three subclasses per category, faint defects
  // next to obvious ones and the full test-time optical shift, so that the reference detectors (src/eval/reference.ts)
  // stay near chance (README "Datasets": calibration table).
  tiny: {
    name: 'tiny', size: 128, subclasses: { cloth: 3, wafer: 3, metal: 3 },
    counts: {
      cloth: { train: 8, testGood: 6, testDefective: 8 }, wafer: { train: 8, testGood: 6, testDefective: 8 },
      metal: { train: 8, testGood: 6, testDefective: 8 },
    },
    area: [0.002, 0.03], minContrast: 0.12, shift: 1,
    strength: { cloth: [0.25, 1], wafer: [0.2, 0.6], metal: [0.25, 1] },
  },
  small: {
    name: 'small', size: 256, subclasses: { cloth: 5, wafer: 4, metal: 4 },
    counts: {
      cloth: { train: 16, testGood: 6, testDefective: 10 }, wafer: { train: 16, testGood: 6, testDefective: 10 },
      metal: { train: 16, testGood: 6, testDefective: 10 },
    },
    area: [0.0008, 0.02], minContrast: 0.08, shift: 1,
    strength: { cloth: [0.2, 1], wafer: [0.2, 1], metal: [0.2, 1] },
  },
  // Texture-AD's structure: all 39 subclasses, a tenth of the paper's per-category image counts, at 512 px.
  full: {
    name: 'full', size: 512, subclasses: { cloth: 15, wafer: 14, metal: 10 },
    counts: {
      cloth: { train: 30, testGood: 5, testDefective: 7 }, wafer: { train: 75, testGood: 12, testDefective: 19 },
      metal: { train: 139, testGood: 32, testDefective: 49 },
    },
    area: [0.0005, 0.02], minContrast: 0.06, shift: 1,
    strength: { cloth: [0.2, 1], wafer: [0.2, 1], metal: [0.2, 1] },
  },
};
