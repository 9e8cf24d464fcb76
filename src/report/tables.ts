// The paper's table layout (Texture-AD, Tables 2–4): one table per metric, rows = categories (optionally with
// their subclasses), columns = methods, cells mean ± std over seeds, the best cell of each row in bold. Rendered
// as markdown for report.md and as CSV (results.csv) from one model, so both always agree.
import { METRIC_LABELS, type MetricKey } from '../eval/evaluate.ts';
import { meanStd, PIXEL_METRIC_KEYS, type MeanStd, type MethodResults, type RunResults } from './results.ts';

/** The metrics that get a table, with their column headings. */
export const TABLE_METRICS: ReadonlyArray<readonly [MetricKey, string]> =
  (['imageAUROC', 'pixelAUROC', 'aupro', 'imageF1max', 'pixelF1max'] as const).map((k) => [k, METRIC_LABELS[k]] as const);

export interface TableRow {
  /** 'Mean' for the last row (mean over categories, ± std over seeds of that mean). */
  category: string;
  /** Set on --breakdown rows: the subclass of `category`, scored from the pooled run. */
  subclass: string | null;
  /** One cell per column; null = that method has no pixel maps. NaN mean = undefined for that subset. */
  cells: Array<MeanStd | null>;
}

export interface PaperTable {
  metric: MetricKey;
  title: string;
  /** Method names, in the run's order. */
  columns: string[];
  rows: TableRow[];
}

const PIXEL = new Set<MetricKey>(PIXEL_METRIC_KEYS);

/** Mean over categories per seed, then mean ± std of those over seeds (the paper's "Mean" row). */
function meanRow(m: MethodResults, metric: MetricKey): MeanStd {
  const seeds = Math.min(...m.categories.map((c) => c.seeds.length));
  const perSeed = Array.from({ length: seeds }, (_, s) => meanStd(m.categories.map((c) => c.seeds[s]!.metrics[metric])).mean);
  return meanStd(perSeed);
}

/** The tables of a run; `breakdown` adds one row per subclass under each category. */
export function paperTables(r: RunResults, opts: { breakdown?: boolean } = {}): PaperTable[] {
  const categories = [...new Set(r.methods.flatMap((m) => m.categories.map((c) => c.category)))];
  const nan: MeanStd = { mean: NaN, std: NaN };
  return TABLE_METRICS.map(([metric, title]) => {
    const cell = (m: MethodResults, pick: () => MeanStd | undefined): MeanStd | null =>
      (PIXEL.has(metric) && !m.pixelMaps ? null : pick() ?? nan);
    const rows: TableRow[] = [];
    for (const name of categories) {
      const of = (m: MethodResults) => m.categories.find((c) => c.category === name);
      rows.push({ category: name, subclass: null, cells: r.methods.map((m) => cell(m, () => of(m)?.summary[metric])) });
      if (!opts.breakdown) continue;
      const subclasses = [...new Set(r.methods.flatMap((m) => Object.keys(of(m)?.perSubclass ?? {})))].sort();
      for (const sub of subclasses) {
        rows.push({ category: name, subclass: sub, cells: r.methods.map((m) => cell(m, () => of(m)?.perSubclass[sub]?.[metric])) });
      }
    }
    if (categories.length > 1) rows.push({ category: 'Mean', subclass: null, cells: r.methods.map((m) => cell(m, () => meanRow(m, metric))) });
    return { metric, title, columns: r.methods.map((m) => m.method), rows };
  });
}

function pct(v: number): string {
  return (100 * v).toFixed(1);
}

/** A cell in %: `81.3 ± 1.2` (or `81.3` with one seed), `–` for null (no pixel maps), `n/a` for an undefined metric. */
export function cellText(c: MeanStd | null, withStd: boolean): string {
  if (c === null) return '–';
  if (Number.isNaN(c.mean)) return 'n/a';
  return withStd ? `${pct(c.mean)} ± ${pct(c.std)}` : pct(c.mean);
}

/** Which cells of a row hold its best mean at the printed precision (ties included; none with one defined cell). */
export function bestCells(row: TableRow): boolean[] {
  const shown = row.cells.map((c) => (c === null || Number.isNaN(c.mean) ? null : pct(c.mean)));
  const defined = shown.filter((v): v is string => v !== null);
  const best = defined.length > 1 ? Math.max(...defined.map(Number)) : NaN;
  return shown.map((v) => v !== null && Number(v) === best);
}

/** One markdown table: the best mean of a row (at the printed precision, ties included) in bold. */
export function tableMarkdown(t: PaperTable, withStd: boolean): string[] {
  const lines = [`| Category | ${t.columns.join(' | ')} |`, `| --- | ${t.columns.map(() => '---:').join(' | ')} |`];
  for (const row of t.rows) {
    const best = bestCells(row);
    const cells = row.cells.map((c, k) => (best[k] ? `**${cellText(c, withStd)}**` : cellText(c, withStd)));
    const label = row.subclass !== null ? `&nbsp;&nbsp;${row.category}/${row.subclass}` : row.category === 'Mean' ? '**Mean**' : row.category;
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return lines;
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvNumber(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '' : (100 * v).toFixed(4);
}

/**
 * results.csv: the tables stacked, one line per (metric, row): `metric,category,subclass`, then `<method>_mean`
 * and `<method>_std` per method, in %, 4 decimals. Empty = no pixel maps or undefined for that subset.
 */
export function resultsCsv(tables: readonly PaperTable[]): string {
  const methods = tables[0]?.columns ?? [];
  const lines = [['metric', 'category', 'subclass', ...methods.flatMap((m) => [`${m}_mean`, `${m}_std`])].map(csvField).join(',')];
  for (const t of tables) {
    for (const row of t.rows) {
      const cells = row.cells.flatMap((c) => [csvNumber(c?.mean), csvNumber(c?.std)]);
      lines.push([t.title, row.category, row.subclass ?? ''].map(csvField).concat(cells).join(','));
    }
  }
  return lines.join('\n') + '\n';
}

/** What the reference floor is, in words shared by report.md and report.html. */
export const FLOOR_NOTE = 'Two trivial detectors (src/eval/reference.ts: nearest-neighbour distance of 6×6 patch statistics, and the ' +
  'distance of joint RGB histograms) fitted and evaluated on the same images, resized to a square. A method ' +
  'that does not clear them has not shown that it detects anomalies on this data.';

/** The reference detectors that appear in a run's floor, in first-seen order: the floor's columns everywhere. */
export function floorDetectors(r: RunResults): string[] {
  return [...new Set(Object.values(r.referenceFloor).flatMap((f) => Object.keys(f)))];
}

/** The reference floor as a table: per category, each reference detector's image and pixel AUROC in % ('n/a' when undefined). */
export function floorTable(r: RunResults): { columns: string[]; rows: Array<{ category: string; cells: string[] }> } | null {
  const names = floorDetectors(r);
  if (names.length === 0) return null;
  const cell = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : pct(v));
  return {
    columns: names.flatMap((n) => [`${n} I-AUROC`, `${n} P-AUROC`]),
    rows: Object.entries(r.referenceFloor).map(([category, f]) =>
      ({ category, cells: names.flatMap((n) => [cell(f[n]?.imageAUROC), cell(f[n]?.pixelAUROC)]) })),
  };
}
