// results.json: the machine-readable record of a run, and the aggregation of seeds into mean ± std.
import { METRIC_KEYS, type CategoryEvaluation, type MetricKey, type MetricSet } from '../eval/evaluate.ts';

export interface MeanStd {
  mean: number;
  std: number;
}

export type Summary = Record<MetricKey, MeanStd>;

/** One seed's evaluation of one category, without the heatmap pixels. */
export interface SeedResult {
  seed: number;
  metrics: MetricSet;
  perSubclass: Record<string, MetricSet>;
  seconds: { fit: number; predict: number };
  finalLoss: number;
}

export interface CategoryResult {
  category: string;
  summary: Summary;
  perSubclass: Record<string, Summary & { images: number; defective: number }>;
  seeds: SeedResult[];
  testImages: number;
  trainImages: number;
}

/** A network of a method's column and where its weights came from. */
export interface WeightsOrigin {
  /** The architecture (`resnet18`, `mobilenet_v2`, `pdn_small`): the file's `texad.arch`, else the method's choice. */
  arch: string;
  /**
   * Where the values came from, in words: 'seeded random weights', a file's `texad.origin` ('ImageNet-initialised
   * Keras MobileNetV2 ..., 8-bit, from nsfwjs 4.4.0'), its `texad.source` ('from torchvision IMAGENET1K_V1',
   * 'from resnet18-f37072fd.pth'), or 'unknown (FILE records no origin)'.
   */
  origin: string;
}

/** Per category, per reference detector, its metrics on the run's data. */
export type ReferenceFloor = Record<string, Record<string, MetricSet>>;

/** One method's results: its column in the paper tables. */
export interface MethodResults {
  method: string;
  preset: string;
  /** Backbone weights file, or 'random' (seeded initialisation). */
  weights: string;
  /**
   * Each weights resource of the method (`backbone`, `teacher`) by key: its network and the weights' origin. Empty
   * for a method without pretrained networks; absent in results written before texad recorded it.
   */
  backbones?: Record<string, WeightsOrigin>;
  /** False for methods that give image scores only: their pixel metrics are null and shown as "–". */
  pixelMaps: boolean;
  /** The hyper-parameters as run, under the official names. */
  config: Record<string, unknown>;
  categories: CategoryResult[];
}

/**
 * results.json. Schema 2 lists every method of the run under `methods`. A single-method run also carries the
 * schema-1 fields `method`, `preset`, `config` and `categories` (equal to `methods[0]`'s), so readers written for
 * schema 1 keep working; a run of several methods has `methods` only.
 */
export interface RunResults {
  schema: 2;
  texad: string;
  /** The adapters that ran the units ("; "-separated when shards ran on different machines). */
  adapter: string;
  runtime: string;
  date: string;
  dataset: { root: string; layout: string; protocol: string; synthetic?: { preset: string; seed: number } };
  methods: MethodResults[];
  /**
   * Per category, the reference detectors (src/eval/reference.ts: trivial patch-statistics and colour-histogram
   * detectors) fitted and evaluated on the same data: the floor the methods' figures are read against.
   */
  referenceFloor: ReferenceFloor;
  method?: string;
  preset?: string;
  config?: Record<string, unknown>;
  categories?: CategoryResult[];
}

/** Assembles results.json from its parts, adding the schema-1 fields for a single-method run. */
export function runResults(meta: Omit<RunResults, 'schema' | 'methods' | 'method' | 'preset' | 'config' | 'categories'>,
  methods: MethodResults[]): RunResults {
  const only = methods.length === 1 ? methods[0]! : undefined;
  return {
    schema: 2, ...meta, methods,
    ...(only ? { method: only.method, preset: only.preset, config: only.config, categories: only.categories } : {}),
  };
}

/**
 * A column's networks in words, for report legends: `resnet18, seeded random weights`; with several resources
 * `teacher: pdn_small, ...; backbone: ...`; 'none' without networks; 'not recorded' for older results.
 */
export function backbonesText(m: MethodResults): string {
  if (!m.backbones) return 'not recorded';
  const entries = Object.entries(m.backbones);
  if (entries.length === 0) return 'none';
  return entries.map(([key, b]) => `${entries.length > 1 ? `${key}: ` : ''}${b.arch}, ${b.origin}`).join('; ');
}

/** Said wherever figures from random backbone weights are shown. */
export const RANDOM_WEIGHTS_NOTE = 'Random backbone weights: these figures do not predict results on real data with ImageNet weights.';

/** Mean and sample standard deviation (n - 1), ignoring NaN (undefined metrics); NaN when nothing is left. */
export function meanStd(values: readonly number[]): MeanStd {
  const v = values.filter((x) => !Number.isNaN(x));
  if (v.length === 0) return { mean: NaN, std: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, std };
}

function summarise(sets: readonly MetricSet[]): Summary {
  const out = {} as Summary;
  for (const k of METRIC_KEYS) out[k] = meanStd(sets.map((s) => s[k]));
  return out;
}

/** The metrics that need anomaly maps; NaN (null in results.json) for a method without pixel maps. */
export const PIXEL_METRIC_KEYS = ['pixelAUROC', 'aupro', 'pixelF1max', 'pixelAP'] as const satisfies readonly MetricKey[];

function withoutPixelMetrics(m: MetricSet): MetricSet {
  const out = { ...m };
  for (const k of PIXEL_METRIC_KEYS) out[k] = NaN;
  return out;
}

/** One seed's result; `pixelMaps: false` blanks the pixel metrics (the maps of such a method carry no information). */
export function seedResult(seed: number, ev: CategoryEvaluation, fitSeconds: number, finalLoss: number, pixelMaps = true): SeedResult {
  const keep = pixelMaps ? (m: MetricSet) => m : withoutPixelMetrics;
  const perSubclass = Object.fromEntries(Object.entries(ev.perSubclass).map(([k, m]) => [k, keep(m)]));
  return { seed, metrics: keep(ev.metrics), perSubclass, seconds: { fit: fitSeconds, predict: ev.seconds.predict }, finalLoss };
}

export function categoryResult(category: string, seeds: SeedResult[], trainImages: number, testImages: number): CategoryResult {
  const names = [...new Set(seeds.flatMap((s) => Object.keys(s.perSubclass)))].sort();
  const perSubclass: CategoryResult['perSubclass'] = {};
  for (const name of names) {
    const sets = seeds.map((s) => s.perSubclass[name]).filter((s): s is MetricSet => s !== undefined);
    perSubclass[name] = { ...summarise(sets), images: sets[0]?.images ?? 0, defective: sets[0]?.defective ?? 0 };
  }
  return { category, summary: summarise(seeds.map((s) => s.metrics)), perSubclass, seeds, testImages, trainImages };
}

const NUMERIC_RESULT_KEYS = new Set<string>([...METRIC_KEYS, 'finalLoss']);

/**
 * A JSON.parse reviver for files holding SeedResults (partial results, shard.json): JSON writes NaN as null, and
 * an undefined metric must come back as NaN, not null (which would count as 0 in a mean).
 */
export function reviveResultNaN(key: string, value: unknown): unknown {
  return value === null && NUMERIC_RESULT_KEYS.has(key) ? NaN : value;
}

/** Reads a SeedResult written by JSON.stringify. */
export function parseSeedResult(text: string): SeedResult {
  return JSON.parse(text, reviveResultNaN) as SeedResult;
}

/** JSON with NaN written as null (JSON has no NaN). */
export function resultsJson(r: RunResults): string {
  return JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}
