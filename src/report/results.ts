// results.json (the machine-readable record of a run) and report.md (tables laid out like the Texture-AD
// paper's Tables 2–4: one row per subclass plus the pooled category, I-AUROC / P-AUROC and our extra metrics).
import type { CategoryEvaluation, MetricSet } from '../eval/evaluate.ts';

export const METRIC_KEYS = ['imageAUROC', 'pixelAUROC', 'aupro', 'imageF1max', 'pixelF1max', 'imageAP', 'pixelAP'] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];

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

export interface RunResults {
  texad: string;
  method: string;
  preset: string;
  config: Record<string, unknown>;
  adapter: string;
  runtime: string;
  date: string;
  dataset: { root: string; layout: string; protocol: string; synthetic?: { preset: string; seed: number } };
  /** Backbone weights: 'random' (seeded initialisation) or the weights file. */
  weights: string;
  categories: CategoryResult[];
  /**
   * Per category, the reference detectors (src/eval/reference.ts) on the same data: the floor a method's
   * figures are read against.
   */
  referenceFloor?: Record<string, Record<string, MetricSet>>;
}

/** Said wherever figures from random backbone weights are shown. */
export const RANDOM_WEIGHTS_NOTE = 'Random backbone weights: these figures do not predict results on real data with ImageNet weights.';

/** What a figure is: method, preset, weights and data, in one line. */
export function runLabel(r: Pick<RunResults, 'method' | 'preset' | 'weights' | 'dataset'>): string {
  const data = r.dataset.synthetic ? `synthetic ${r.dataset.synthetic.preset} seed ${r.dataset.synthetic.seed}` : r.dataset.root;
  return `${r.method} ${r.preset}, ${r.weights === 'random' ? 'random weights' : `weights ${r.weights}`}, data ${data}`;
}

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

export function seedResult(seed: number, ev: CategoryEvaluation, fitSeconds: number, finalLoss: number): SeedResult {
  return { seed, metrics: ev.metrics, perSubclass: ev.perSubclass, seconds: { fit: fitSeconds, predict: ev.seconds.predict }, finalLoss };
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

/** JSON with NaN written as null (JSON has no NaN). */
export function resultsJson(r: RunResults): string {
  return JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}

function pct(m: MeanStd, withStd: boolean): string {
  if (Number.isNaN(m.mean)) return 'n/a';
  const v = (100 * m.mean).toFixed(1);
  return withStd ? `${v} ± ${(100 * m.std).toFixed(1)}` : v;
}

const COLUMNS: Array<[MetricKey, string]> = [
  ['imageAUROC', 'I-AUROC'], ['pixelAUROC', 'P-AUROC'], ['aupro', 'AUPRO'], ['imageF1max', 'I-F1max'], ['pixelF1max', 'P-F1max'],
];

/** The markdown report: a summary over categories, then one table per category (subclass rows + pooled). */
export function reportMarkdown(r: RunResults, heatmapLinks: Record<string, string[]> = {}): string {
  const withStd = r.categories.some((c) => c.seeds.length > 1);
  const seeds = r.categories[0]?.seeds.length ?? 0;
  const lines = [
    `# texad ${r.method} — ${r.dataset.protocol} protocol`,
    '',
    `Preset \`${r.preset}\`, ${seeds} seed${seeds === 1 ? '' : 's'}${withStd ? ' (mean ± std)' : ''}, all values in %. ` +
      `Adapter: ${r.adapter}. texad ${r.texad}, ${r.date}.`,
    `Data: \`${r.dataset.root}\` (${r.dataset.layout}${r.dataset.synthetic ? `, synthetic preset ${r.dataset.synthetic.preset} seed ${r.dataset.synthetic.seed}` : ''}).`,
    `Backbone weights: ${r.weights}.${r.weights === 'random' ? ` **${RANDOM_WEIGHTS_NOTE}**` : ''}`,
    '',
    'Test images of a category are pooled and scored without subclass labels; the per-subclass rows are computed',
    'afterwards from the same scores.',
    '',
    `| Category | ${COLUMNS.map(([, h]) => h).join(' | ')} | Train | Test |`,
    `| --- | ${COLUMNS.map(() => '---:').join(' | ')} | ---: | ---: |`,
    ...r.categories.map((c) => `| ${c.category} | ${COLUMNS.map(([k]) => pct(c.summary[k], withStd)).join(' | ')} | ${c.trainImages} | ${c.testImages} |`),
  ];
  if (r.categories.length > 1) {
    const mean = (k: MetricKey) => meanStd(r.categories.map((c) => c.summary[k].mean));
    lines.push(`| **Mean** | ${COLUMNS.map(([k]) => pct({ mean: mean(k).mean, std: 0 }, false)).join(' | ')} | | |`);
  }
  const floor = r.referenceFloor ?? {};
  const floorNames = [...new Set(Object.values(floor).flatMap((f) => Object.keys(f)))];
  if (floorNames.length > 0) {
    lines.push('', 'Floor: the reference detectors (trivial patch-statistics and colour-histogram detectors, ' +
      'src/eval/reference.ts) on the same data. A method that does not clear them has not shown it detects anomalies.', '',
    `| Category | ${floorNames.map((n) => `${n} I-AUROC | ${n} P-AUROC`).join(' | ')} |`,
    `| --- | ${floorNames.map(() => '---: | ---:').join(' | ')} |`);
    for (const [category, f] of Object.entries(floor)) {
      const cell = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(1));
      lines.push(`| ${category} | ${floorNames.map((n) => `${cell(f[n]?.imageAUROC)} | ${cell(f[n]?.pixelAUROC)}`).join(' | ')} |`);
    }
  }
  for (const c of r.categories) {
    lines.push('', `## ${c.category}`, '', `| Subclass | ${COLUMNS.map(([, h]) => h).join(' | ')} | Images (defective) |`,
      `| --- | ${COLUMNS.map(() => '---:').join(' | ')} | ---: |`);
    for (const [name, s] of Object.entries(c.perSubclass)) {
      lines.push(`| ${name} | ${COLUMNS.map(([k]) => pct(s[k], withStd)).join(' | ')} | ${s.images} (${s.defective}) |`);
    }
    lines.push(`| **Pooled** | ${COLUMNS.map(([k]) => `**${pct(c.summary[k], withStd)}**`).join(' | ')} | ${c.testImages} |`);
    const fit = meanStd(c.seeds.map((s) => s.seconds.fit));
    const pred = meanStd(c.seeds.map((s) => s.seconds.predict));
    lines.push('', `Fit ${fit.mean.toFixed(1)} s, predict ${pred.mean.toFixed(1)} s per seed; final training loss ` +
      `${c.seeds.map((s) => s.finalLoss.toFixed(4)).join(', ')}.`);
    for (const link of heatmapLinks[c.category] ?? []) lines.push('', `![${c.category} heatmap](${link})`);
  }
  lines.push('', 'n/a: undefined for that subset (e.g. a subclass with no defective test image: AUROC needs both classes).', '');
  return lines.join('\n');
}
