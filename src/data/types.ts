// The data layer's description of a dataset on disk: what discovery finds and the protocols consume.

export type Split = 'train' | 'validation' | 'test';
export const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

/** One image as found on disk, with everything evaluation needs to know about it. */
export interface DatasetItem {
  path: string;
  /** Zero or more masks; several are unioned. Empty for normal images and for defective images without masks. */
  maskPaths: string[];
  label: 0 | 1;
  /** 'good' for normal images, otherwise the defect folder's name. */
  defectType: string;
  category: string;
  subclass: string;
  split: Split;
  /** From the file header, when discovery probed it. */
  width?: number;
  height?: number;
  channels?: number;
}

export interface SubclassDescription {
  name: string;
  splits: Record<Split, DatasetItem[]>;
}

export interface CategoryDescription {
  name: string;
  subclasses: SubclassDescription[];
}

export interface Problem {
  path: string;
  message: string;
  /** 'error': the file or item was skipped. 'warning': loaded, but worth a look. */
  severity: 'error' | 'warning';
}

export type LayoutKind = 'mvtec' | 'texture-ad' | 'folder';

export interface DatasetDescription {
  root: string;
  layout: LayoutKind;
  categories: CategoryDescription[];
  problems: Problem[];
}

/** anomalib Folder-style description: directories relative to the dataset root. */
export interface FolderSpec {
  /** Defect-free training images (and test images when `normalTest` is absent). */
  normal: readonly string[];
  abnormal?: readonly string[];
  normalTest?: readonly string[];
  mask?: readonly string[];
  /** Category name (default: the root folder's name). */
  category?: string;
  /** Share of normal images moved to test when there is no `normalTest` (anomalib's default 0.2). */
  normalSplitRatio?: number;
  /** Seed of that move. */
  seed?: number;
}

/** Thrown in strict mode, or when a dataset cannot be used at all; lists every problem with its path. */
export class DatasetError extends Error {
  constructor(message: string, readonly problems: readonly Problem[] = []) {
    super(problems.length ? `${message}\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}` : message);
  }
}

export function allItems(d: DatasetDescription | CategoryDescription): DatasetItem[] {
  const cats = 'categories' in d ? d.categories : [d];
  return cats.flatMap((c) => c.subclasses.flatMap((s) => [...s.splits.train, ...s.splits.validation,
    ...s.splits.test]));
}
