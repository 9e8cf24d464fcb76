// results.json (the machine-readable record of a run) and report.md (tables laid out like the Texture-AD
// paper's Tables 2–4: one row per subclass plus the pooled category, I-AUROC / P-AUROC and our extra metrics).
import {
  METRIC_KEYS, METRIC_LABELS, PIXEL_METRICS, withoutPixelMetrics, type CategoryEvaluation, type MetricKey, type MetricSet,
} from '../eval/evaluate.ts';

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
  /** Whether the method produces anomaly maps; false: its pixel metrics are null and shown as "–". */
  pixelMaps: boolean;
  config: Record<string, unknown>;
  adapter: string;
  runtime: string;
  date: string;
  dataset: { root: string; layout: string; protocol: string; synthetic?: { preset: string; seed: number } };
  categories: CategoryResult[];
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

/** JSON with NaN written as null (JSON has no NaN). */
export function resultsJson(r: RunResults): string {
  return JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}

function cell(m: MeanStd, withStd: boolean): string {
  if (Number.isNaN(m.mean)) return 'n/a';
  const v = (100 * m.mean).toFixed(1);
  return withStd ? `${v} ± ${(100 * m.std).toFixed(1)}` : v;
}

const COLUMNS: Array<[MetricKey, string]> = (['imageAUROC', 'pixelAUROC', 'aupro', 'imageF1max', 'pixelF1max'] as const)
  .map((k) => [k, METRIC_LABELS[k]]);

/** The markdown report: a summary over categories, then one table per category (subclass rows + pooled). */
export function reportMarkdown(r: RunResults, heatmapLinks: Record<string, string[]> = {}): string {
  const withStd = r.categories.some((c) => c.seeds.length > 1);
  const pct = (m: MeanStd, withStd: boolean, k: MetricKey) => (!r.pixelMaps && PIXEL_METRICS.includes(k) ? '–' : cell(m, withStd));
  const seeds = r.categories[0]?.seeds.length ?? 0;
  const lines = [
    `# texad ${r.method} — ${r.dataset.protocol} protocol`,
    '',
    `Preset \`${r.preset}\`, ${seeds} seed${seeds === 1 ? '' : 's'}${withStd ? ' (mean ± std)' : ''}, all values in %. ` +
      `Adapter: ${r.adapter}. texad ${r.texad}, ${r.date}.`,
    `Data: \`${r.dataset.root}\` (${r.dataset.layout}${r.dataset.synthetic ? `, synthetic preset ${r.dataset.synthetic.preset} seed ${r.dataset.synthetic.seed}` : ''}).`,
    '',
    'Test images of a category are pooled and scored without subclass labels; the per-subclass rows are computed',
    'afterwards from the same scores.',
    '',
    `| Category | ${COLUMNS.map(([, h]) => h).join(' | ')} | Train | Test |`,
    `| --- | ${COLUMNS.map(() => '---:').join(' | ')} | ---: | ---: |`,
    ...r.categories.map((c) => `| ${c.category} | ${COLUMNS.map(([k]) => pct(c.summary[k], withStd, k)).join(' | ')} | ${c.trainImages} | ${c.testImages} |`),
  ];
  if (r.categories.length > 1) {
    const mean = (k: MetricKey) => meanStd(r.categories.map((c) => c.summary[k].mean));
    lines.push(`| **Mean** | ${COLUMNS.map(([k]) => pct({ mean: mean(k).mean, std: 0 }, false, k)).join(' | ')} | | |`);
  }
  for (const c of r.categories) {
    lines.push('', `## ${c.category}`, '', `| Subclass | ${COLUMNS.map(([, h]) => h).join(' | ')} | Images (defective) |`,
      `| --- | ${COLUMNS.map(() => '---:').join(' | ')} | ---: |`);
    for (const [name, s] of Object.entries(c.perSubclass)) {
      lines.push(`| ${name} | ${COLUMNS.map(([k]) => pct(s[k], withStd, k)).join(' | ')} | ${s.images} (${s.defective}) |`);
    }
    lines.push(`| **Pooled** | ${COLUMNS.map(([k]) => `**${pct(c.summary[k], withStd, k)}**`).join(' | ')} | ${c.testImages} |`);
    const fit = meanStd(c.seeds.map((s) => s.seconds.fit));
    const pred = meanStd(c.seeds.map((s) => s.seconds.predict));
    lines.push('', `Fit ${fit.mean.toFixed(1)} s, predict ${pred.mean.toFixed(1)} s per seed; final training loss ` +
      `${c.seeds.map((s) => s.finalLoss.toFixed(4)).join(', ')}.`);
    for (const link of heatmapLinks[c.category] ?? []) lines.push('', `![${c.category} heatmap](${link})`);
  }
  lines.push('', 'n/a: undefined for that subset (e.g. a subclass with no defective test image: AUROC needs both classes).');
  if (!r.pixelMaps) {
    lines.push('', `–: ${r.method} is an image-level method: it produces no anomaly map, so pixel metrics (P-AUROC, AUPRO, ` +
      'P-F1max, P-AP) are not defined for it.');
  }
  lines.push('');
  return lines.join('\n');
}
