// Evaluation protocols over a discovered dataset.
//
// Texture-AD (the paper's Table 1): per category, train on the defect-free images of all its subclasses and test
// on the category's pooled test images with subclass labels hidden from the method. MVTec: per subclass, train
// and test on that subclass alone.
//
// A method only ever receives SampleRefs (an opaque id, nothing else) and, through the loader, pixels under that
// id. Ids are assigned after a seeded shuffle, so neither their text nor their order says which subclass, defect
// type or folder an image came from. Paths, labels, subclasses and masks stay in EvalRecords, which the harness
// keeps for metrics and per-subclass breakdowns.
import { Rng } from './random.ts';
import { DatasetError, type DatasetDescription, type DatasetItem, type Split } from './types.ts';

/** The method-facing handle of one image. */
export interface SampleRef {
  readonly id: string;
}

/** The evaluation-side record of one image; never hand it to a method. */
export interface EvalRecord {
  readonly id: string;
  readonly path: string;
  readonly maskPaths: readonly string[];
  readonly label: 0 | 1;
  readonly defectType: string;
  readonly category: string;
  readonly subclass: string;
  readonly split: Split;
}

export type ProtocolKind = 'texture-ad' | 'mvtec';

export interface Protocol {
  readonly kind: ProtocolKind;
  readonly category: string;
  /** MVTec protocol only: the one subclass trained and tested. */
  readonly subclass?: string;
  readonly trainItems: readonly SampleRef[];
  readonly validationItems: readonly SampleRef[];
  readonly testItems: readonly SampleRef[];
  /** Evaluation side: the record behind an id. */
  record(ref: SampleRef | string): EvalRecord;
  records(split?: Split): EvalRecord[];
}

/**
 * The validation share `texad run` holds out for a method that asks for validation images (its registry entry has
 * `validation: true`) when the dataset has no validation folders, as Texture-AD has none: a seeded 10% of each
 * subclass's good training images (seed = the protocol seed, 0 by default, independent of the method seed). Those
 * images are then NOT used for training; methods without validation train on all good images.
 */
export const DEFAULT_VALIDATION_FRACTION = 0.1;

export interface ProtocolOptions {
  /**
   * Share of each subclass's training images held out for validation, when the dataset has no validation
   * folders of its own (default 0: no validation split; see DEFAULT_VALIDATION_FRACTION).
   */
  validationFraction?: number;
  /** Seed of the validation split and of the id shuffle (default 0). */
  seed?: number;
}

const ID_PREFIX: Record<Split, string> = { train: 'train-', validation: 'val-', test: 'test-' };

function build(kind: ProtocolKind, category: string, subclass: string | undefined, source: DatasetItem[][],
  opts: ProtocolOptions, where: string): Protocol {
  const seed = opts.seed ?? 0;
  const fraction = opts.validationFraction ?? 0;
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`validationFraction must be in [0, 1), got ${fraction}`);
  const bySplit: Record<Split, DatasetItem[]> = { train: [], validation: [], test: [] };
  const ownValidation = source.some((items) => items.some((it) => it.split === 'validation'));
  for (const items of source) {
    const train = items.filter((it) => it.split === 'train' && it.label === 0);
    bySplit.test.push(...items.filter((it) => it.split === 'test'));
    if (ownValidation || fraction === 0) {
      bySplit.train.push(...train);
      bySplit.validation.push(...items.filter((it) => it.split === 'validation'));
      continue;
    }
    // Held out per subclass, so validation covers every subclass in proportion.
    const order = Rng.derive(seed, 'validation', category, train[0]?.subclass ?? '').shuffle(train.map((_, k) => k));
    const held = new Set(order.slice(0, Math.round(train.length * fraction)));
    train.forEach((it, k) => (held.has(k) ? bySplit.validation : bySplit.train).push(it));
  }
  if (bySplit.train.length === 0) {
    throw new DatasetError(`${where}: no defect-free training images for ${kind} protocol of '${category}'` +
      (subclass ? `/${subclass}` : ''));
  }
  const records = new Map<string, EvalRecord>();
  const refs: Record<Split, SampleRef[]> = { train: [], validation: [], test: [] };
  for (const split of ['train', 'validation', 'test'] as const) {
    const list = Rng.derive(seed, 'ids', category, subclass ?? '', split).shuffle([...bySplit[split]]);
    const width = String(list.length).length;
    list.forEach((it, k) => {
      const id = ID_PREFIX[split] + String(k).padStart(width, '0');
      records.set(id, Object.freeze({ id, path: it.path, maskPaths: Object.freeze([...it.maskPaths]), label: it.label,
        defectType: it.defectType, category: it.category, subclass: it.subclass, split }));
      refs[split].push(Object.freeze({ id }));
    });
  }
  return Object.freeze({
    kind, category, ...(subclass !== undefined ? { subclass } : {}),
    trainItems: Object.freeze(refs.train), validationItems: Object.freeze(refs.validation),
    testItems: Object.freeze(refs.test),
    record(ref: SampleRef | string): EvalRecord {
      const id = typeof ref === 'string' ? ref : ref.id;
      const r = records.get(id);
      if (!r) throw new RangeError(`no image with id '${id}' in the ${kind} protocol of '${category}'`);
      return r;
    },
    records(split?: Split): EvalRecord[] {
      return [...records.values()].filter((r) => split === undefined || r.split === split);
    },
  });
}

function findCategory(desc: DatasetDescription, category: string) {
  const c = desc.categories.find((x) => x.name === category);
  if (!c) {
    throw new DatasetError(`${desc.root}: no category '${category}'; found ${desc.categories.map((x) => x.name).join(', ') || 'none'}`);
  }
  return c;
}

/** Texture-AD: one protocol per category, subclasses pooled. */
export function textureAdProtocol(desc: DatasetDescription, category: string, opts: ProtocolOptions = {}): Protocol {
  const c = findCategory(desc, category);
  const source = c.subclasses.map((s) => [...s.splits.train, ...s.splits.validation, ...s.splits.test]);
  return build('texture-ad', category, undefined, source, opts, desc.root);
}

/** MVTec: one protocol per (category, subclass). */
export function mvtecProtocol(desc: DatasetDescription, category: string, subclass: string,
  opts: ProtocolOptions = {}): Protocol {
  const s = findCategory(desc, category).subclasses.find((x) => x.name === subclass);
  if (!s) throw new DatasetError(`${desc.root}: category '${category}' has no subclass '${subclass}'`);
  return build('mvtec', category, subclass, [[...s.splits.train, ...s.splits.validation, ...s.splits.test]], opts,
    desc.root);
}

/** Every protocol of a kind over the dataset: per category (Texture-AD) or per subclass (MVTec). */
export function protocols(desc: DatasetDescription, kind: ProtocolKind, opts: ProtocolOptions = {}): Protocol[] {
  return kind === 'texture-ad'
    ? desc.categories.map((c) => textureAdProtocol(desc, c.name, opts))
    : desc.categories.flatMap((c) => c.subclasses.map((s) => mvtecProtocol(desc, c.name, s.name, opts)));
}
