// Layout inference from a list of relative file paths: no file system, so a browser can feed it a directory
// listing. Texture-AD's archive layout is undocumented, so nothing is hard-coded beyond MVTec's vocabulary:
// any folder holding train/test folders is one (category, subclass) unit, wherever it sits.
import { Rng } from './random.ts';
import { DatasetError, type CategoryDescription, type DatasetDescription, type DatasetItem, type FolderSpec,
  type Problem, type Split, type SubclassDescription } from './types.ts';

export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'bmp'];
/** Recognised so they can be reported as unsupported rather than silently ignored. */
const UNSUPPORTED_EXTENSIONS = ['tif', 'tiff', 'webp', 'gif'];

const SPLIT_NAMES: Record<string, Split> = {
  train: 'train', training: 'train', test: 'test', testing: 'test', val: 'validation', valid: 'validation',
  validation: 'validation',
};
const NORMAL_NAMES = new Set(['good', 'ok', 'normal', 'defect-free', 'defect_free', 'nodefect', 'no_defect']);
const GT_NAMES = new Set(['ground_truth', 'groundtruth', 'ground-truth', 'gt', 'mask', 'masks', 'label', 'labels']);
const MASK_SUFFIX = /[_-](?:mask|gt|label)s?(?:[_-]?\d+)?$/i;

export interface LayoutOptions {
  /** Treat the whole root as this one category, each unit below it a subclass (e.g. `texad info Cloth/`). */
  category?: string;
  /** Describe an anomalib Folder-style dataset instead of inferring a layout. */
  folder?: FolderSpec;
}

interface FileRef {
  rel: string;
  parts: string[];
  stem: string;
  ext: string;
}

function fileRef(rel: string): FileRef {
  const parts = rel.split('/');
  const name = parts[parts.length - 1]!;
  const dot = name.lastIndexOf('.');
  return { rel, parts, stem: dot > 0 ? name.slice(0, dot) : name, ext: dot > 0 ? name.slice(dot + 1).toLowerCase() : '' };
}

export function isNormalName(name: string): boolean {
  return NORMAL_NAMES.has(name.toLowerCase());
}

function maskStem(stem: string): string {
  return stem.replace(MASK_SUFFIX, '');
}

function isMaskFile(f: FileRef): boolean {
  return MASK_SUFFIX.test(f.stem) || f.parts.slice(0, -1).some((p) => GT_NAMES.has(p.toLowerCase()));
}

interface Placed {
  file: FileRef;
  unit: string;
  split?: Split;
  type: string;
}

/** Where a file sits: the unit (folder above the split or ground-truth folder), its split and its type folder. */
function place(f: FileRef): Placed | undefined {
  const dirs = f.parts.slice(0, -1);
  const si = dirs.findIndex((d) => SPLIT_NAMES[d.toLowerCase()] !== undefined);
  const gi = dirs.findIndex((d) => GT_NAMES.has(d.toLowerCase()));
  const cut = si < 0 ? gi : gi < 0 ? si : Math.min(si, gi);
  if (cut < 0) return undefined;
  const rest = dirs.slice(cut + 1).filter((_, k) => !(k + cut + 1 === gi || k + cut + 1 === si));
  return {
    file: f, unit: dirs.slice(0, cut).join('/'), split: si >= 0 ? SPLIT_NAMES[dirs[si]!.toLowerCase()] : undefined,
    type: rest.join('/'),
  };
}

function emptySplits(): Record<Split, DatasetItem[]> {
  return { train: [], validation: [], test: [] };
}

function join(root: string, rel: string): string {
  if (rel === '') return root;
  return root.endsWith('/') ? root + rel : `${root}/${rel}`;
}

/** Pairs masks to images by stem (after `_mask`/`_gt`/`_label` suffixes), preferring the same type folder. */
function pairMasks(items: { item: DatasetItem; stem: string; type: string }[], masks: Placed[], root: string,
  problems: Problem[]): void {
  const byStem = new Map<string, { item: DatasetItem; stem: string; type: string }[]>();
  for (const it of items) {
    const list = byStem.get(it.stem) ?? [];
    list.push(it);
    byStem.set(it.stem, list);
  }
  for (const m of masks) {
    const stem = maskStem(m.file.stem);
    const candidates = byStem.get(stem) ?? [];
    const sameType = candidates.filter((c) => c.type === m.type || c.type.endsWith(`/${m.type}`));
    const defective = candidates.filter((c) => c.item.label === 1);
    const pick = sameType.length === 1 ? sameType[0] : candidates.length === 1 ? candidates[0]
      : defective.length === 1 ? defective[0] : undefined;
    if (pick) pick.item.maskPaths.push(join(root, m.file.rel));
    else {
      problems.push({
        path: join(root, m.file.rel), severity: 'warning',
        message: candidates.length > 1
          ? `mask matches ${candidates.length} images named '${stem}'; put it in the ground-truth folder of its defect type`
          : `mask without an image (no image named '${stem}' in ${m.unit || 'the root'}); remove it or add its image`,
      });
    }
  }
}

function nameOfRoot(root: string): string {
  const parts = root.split(/[\\/]+/).filter(Boolean);
  return parts[parts.length - 1] ?? 'dataset';
}

/**
 * Describes the dataset whose files (relative paths with '/' separators) are `files`; `dirs` lists its folders so
 * empty categories can be reported. Paths in the result are `root` joined with '/'.
 */
export function inferLayout(root: string, files: readonly string[], dirs: readonly string[],
  opts: LayoutOptions = {}): DatasetDescription {
  const problems: Problem[] = [];
  const images: FileRef[] = [];
  for (const rel of files) {
    const f = fileRef(rel);
    if (f.parts.some((p) => p.startsWith('.') || p === '__MACOSX')) continue;
    if (UNSUPPORTED_EXTENSIONS.includes(f.ext)) {
      problems.push({ path: join(root, rel), severity: 'error',
        message: `.${f.ext} images are not supported; convert to PNG (e.g. \`magick in.${f.ext} out.png\`)` });
    } else if (IMAGE_EXTENSIONS.includes(f.ext)) images.push(f);
  }
  if (opts.folder) return folderLayout(root, images, opts.folder, problems);

  const placed = images.map((f) => ({ f, p: place(f) }));
  const units = new Set(placed.filter((x) => x.p?.split !== undefined && !isMaskFile(x.f)).map((x) => x.p!.unit));
  if (units.size === 0) {
    const auto = autoFolder(images);
    if (auto) return folderLayout(root, images, { ...auto, category: opts.category }, problems);
    throw new DatasetError(`no images in train/test folders under ${root}: expected MVTec-style ` +
      '<category>/{train,test}/<type>/*.png, Texture-AD-style <category>/<subclass>/{train,test}/..., or folders ' +
      'named good/ok/normal beside defect folders (or pass a Folder description)', problems);
  }

  const unitList = [...units].sort();
  // A unit's folder is its subclass and the folder above it its category (Texture-AD: Cloth/<subclass>/train);
  // a unit right under the root is an MVTec category with itself as the only subclass.
  const naming = new Map<string, { category: string; subclass: string; parent: string }>();
  for (const u of unitList) {
    const parts = u === '' ? [] : u.split('/');
    const n = parts.length;
    if (opts.category !== undefined) {
      naming.set(u, { category: opts.category, subclass: u || opts.category, parent: '' });
    } else if (n === 0) {
      naming.set(u, { category: nameOfRoot(root), subclass: nameOfRoot(root), parent: '' });
    } else if (n === 1) {
      naming.set(u, { category: parts[0]!, subclass: parts[0]!, parent: '' });
    } else {
      naming.set(u, { category: parts[n - 2]!, subclass: parts[n - 1]!, parent: parts.slice(0, n - 2).join('/') });
    }
  }

  const byUnit = new Map<string, { items: { item: DatasetItem; stem: string; type: string }[]; masks: Placed[] }>();
  for (const u of unitList) byUnit.set(u, { items: [], masks: [] });
  for (const { f, p } of placed) {
    const unit = p ? byUnit.get(p.unit) : undefined;
    if (!p || !unit) {
      problems.push({ path: join(root, f.rel), severity: 'warning', message: isMaskFile(f)
        ? 'mask without an image (no train/test folder beside it); remove it or add its image'
        : 'image outside any train/test folder; ignored' });
      continue;
    }
    if (isMaskFile(f) || !p.split) {
      unit.masks.push(p);
      continue;
    }
    const { category, subclass } = naming.get(p.unit)!;
    const normal = p.type === '' || p.type.split('/').some(isNormalName);
    if (p.split === 'train' && !normal) {
      problems.push({ path: join(root, f.rel), severity: 'warning',
        message: `image in train/${p.type} is not in a good/ok/normal folder; training uses defect-free images only, so it is ignored` });
      continue;
    }
    const item: DatasetItem = { path: join(root, f.rel), maskPaths: [], label: normal ? 0 : 1,
      defectType: normal ? 'good' : p.type, category, subclass, split: p.split };
    unit.items.push({ item, stem: f.stem, type: p.type });
  }

  const catMap = new Map<string, Map<string, SubclassDescription>>();
  for (const u of unitList) {
    const { items, masks } = byUnit.get(u)!;
    pairMasks(items, masks, root, problems);
    for (const { item, type } of items) {
      // A flat test folder (no good/defect folders) is labelled by its masks.
      if (type === '' && item.split === 'test' && item.maskPaths.length > 0) {
        item.label = 1;
        item.defectType = 'defect';
      }
      if (item.label === 1 && item.maskPaths.length === 0) {
        problems.push({ path: item.path, severity: 'warning',
          message: 'defective image without a mask: pixel metrics will skip it' });
      }
      const { category, subclass } = naming.get(u)!;
      const subs = catMap.get(category) ?? new Map<string, SubclassDescription>();
      catMap.set(category, subs);
      const sub = subs.get(subclass) ?? { name: subclass, splits: emptySplits() };
      subs.set(subclass, sub);
      sub.splits[item.split].push(item);
    }
  }

  // Folders beside the categories that hold no usable images: an empty (or wrongly laid out) category.
  if (opts.category === undefined && unitList.some((u) => u !== '')) {
    const parents = new Set([...naming.values()].map((n) => n.parent));
    const known = new Set([...naming.values()].map((n) => (n.parent ? `${n.parent}/${n.category}` : n.category)));
    for (const d of dirs) {
      const cut = d.lastIndexOf('/');
      const name = d.slice(cut + 1);
      if (!parents.has(cut < 0 ? '' : d.slice(0, cut)) || known.has(d)) continue;
      if (name.startsWith('.') || name === '__MACOSX' || SPLIT_NAMES[name.toLowerCase()] !== undefined ||
        GT_NAMES.has(name.toLowerCase())) continue;
      if (!images.some((f) => f.rel.startsWith(`${d}/`))) {
        problems.push({ path: join(root, d), severity: 'warning', message: 'empty category: no images in this folder' });
      }
    }
  }

  const categories = finish(catMap, root, problems);
  const layout = categories.some((c) => c.subclasses.some((s) => s.name !== c.name)) || opts.category !== undefined
    ? 'texture-ad' : 'mvtec';
  return { root, layout, categories, problems };
}

function finish(catMap: Map<string, Map<string, SubclassDescription>>, root: string,
  problems: Problem[]): CategoryDescription[] {
  const byPath = (a: DatasetItem, b: DatasetItem): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return [...catMap.keys()].sort().map((name) => {
    const subclasses = [...catMap.get(name)!.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const s of subclasses) for (const k of Object.keys(s.splits) as Split[]) s.splits[k].sort(byPath);
    const train = subclasses.reduce((n, s) => n + s.splits.train.length, 0);
    const test = subclasses.reduce((n, s) => n + s.splits.test.length, 0);
    const where = join(root, name);
    if (train === 0) problems.push({ path: where, severity: 'warning', message: `category '${name}' has no training images` });
    if (test === 0) problems.push({ path: where, severity: 'warning', message: `category '${name}' has no test images` });
    return { name, subclasses };
  });
}

/** A root with good/ok/normal folders beside defect folders (and maybe a mask folder) and no train/test. */
function autoFolder(images: FileRef[]): FolderSpec | undefined {
  const tops = new Set(images.filter((f) => f.parts.length > 1).map((f) => f.parts[0]!));
  const normal = [...tops].filter(isNormalName);
  if (normal.length === 0) return undefined;
  const mask = [...tops].filter((t) => GT_NAMES.has(t.toLowerCase()));
  const abnormal = [...tops].filter((t) => !normal.includes(t) && !mask.includes(t));
  return { normal, abnormal, mask };
}

function under(f: FileRef, dir: string): boolean {
  const d = dir.replace(/^\.?\/+|\/+$/g, '');
  return d === '' || f.rel.startsWith(`${d}/`);
}

function folderLayout(root: string, images: FileRef[], spec: FolderSpec, problems: Problem[]): DatasetDescription {
  const category = spec.category ?? nameOfRoot(root);
  const allDirs = [...spec.normal, ...(spec.abnormal ?? []), ...(spec.normalTest ?? [])];
  const firsts = new Set(allDirs.map((d) => d.split('/')[0]));
  // Lists of folders that start in different places pool several subclasses (one per leading folder).
  const subclassOf = (dir: string): string => (firsts.size > 1 && allDirs.length > 1 && dir.includes('/')
    ? dir.split('/')[0]! : category);
  const subs = new Map<string, SubclassDescription>();
  const entries: { item: DatasetItem; stem: string; type: string }[] = [];
  const add = (f: FileRef, dir: string, split: Split, label: 0 | 1, defectType: string): void => {
    const subclass = subclassOf(dir);
    const sub = subs.get(subclass) ?? { name: subclass, splits: emptySplits() };
    subs.set(subclass, sub);
    const item: DatasetItem = { path: join(root, f.rel), maskPaths: [], label, defectType, category, subclass, split };
    sub.splits[split].push(item);
    entries.push({ item, stem: f.stem, type: label ? defectType : 'good' });
  };
  const claimed = new Set<string>();
  const inDirs = (dirs: readonly string[] | undefined): [FileRef, string][] =>
    (dirs ?? []).flatMap((d) => images.filter((f) => under(f, d) && !claimed.has(f.rel) && !isMaskFile(f))
      .map((f): [FileRef, string] => {
        claimed.add(f.rel);
        return [f, d];
      }));
  const maskFiles = (spec.mask ?? []).flatMap((d) => images.filter((f) => under(f, d)).map((f) => {
    claimed.add(f.rel);
    return f;
  }));
  for (const dir of [...spec.normal, ...(spec.abnormal ?? []), ...(spec.normalTest ?? [])]) {
    if (!images.some((f) => under(f, dir))) {
      problems.push({ path: join(root, dir), severity: 'warning', message: 'folder has no images' });
    }
  }
  const normals = inDirs(spec.normal);
  const normalTests = inDirs(spec.normalTest);
  if (normalTests.length === 0) {
    // anomalib moves a share of the normal images to test when no normal test folder is given.
    const ratio = spec.normalSplitRatio ?? 0.2;
    const order = new Rng(spec.seed ?? 0).shuffle(normals.map((_, k) => k));
    const moved = new Set(order.slice(0, Math.round(normals.length * ratio)));
    normals.forEach(([f, d], k) => add(f, d, moved.has(k) ? 'test' : 'train', 0, 'good'));
  } else {
    for (const [f, d] of normals) add(f, d, 'train', 0, 'good');
    for (const [f, d] of normalTests) add(f, d, 'test', 0, 'good');
  }
  for (const [f, d] of inDirs(spec.abnormal)) {
    const type = d.replace(/\/+$/, '').split('/').pop() || 'defect';
    add(f, d, 'test', 1, type);
  }
  const masks: Placed[] = maskFiles.map((f) => ({ file: f, unit: '', type: f.parts.length > 1
    ? f.parts[f.parts.length - 2]! : '' }));
  pairMasks(entries, masks, root, problems);
  for (const { item } of entries) {
    if (item.label === 1 && item.maskPaths.length === 0 && (spec.mask?.length ?? 0) > 0) {
      problems.push({ path: item.path, severity: 'warning', message: 'defective image without a mask: pixel metrics will skip it' });
    }
  }
  for (const f of images) {
    if (!claimed.has(f.rel)) {
      problems.push({ path: join(root, f.rel), severity: 'warning', message: 'image in none of the listed folders; ignored' });
    }
  }
  const categories = finish(new Map([[category, subs]]), root, problems);
  return { root, layout: 'folder', categories, problems };
}
