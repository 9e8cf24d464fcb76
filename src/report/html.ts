// report.html: one self-contained page (inline SVG and PNG data URLs, no script, no external URL) with the paper
// tables of tables.ts, and per category the ROC and PRO curves of every method and seed, histograms of good and
// defective image scores per subclass, and the heatmap panels.
import { METRIC_LABELS } from '../eval/evaluate.ts';
import type { CurveJson, UnitCurves } from './curves.ts';
import { backbonesText, meanStd, type MethodResults, type RunResults } from './results.ts';
import { bestCells, cellText, floorTable, FLOOR_NOTE, paperTables } from './tables.ts';

export interface HtmlReportInput {
  /** Per method, per category: the heatmap panels as PNG data URLs with their file names (captions). */
  heatmaps?: Record<string, Record<string, Array<{ name: string; dataUrl: string }>>>;
  /** Per method, per category, per seed (as in results): the unit's curves, or undefined when not recorded. */
  curves?: Record<string, Record<string, Record<number, UnitCurves>>>;
  breakdown?: boolean;
}

/** One colour per method column (Tableau 10), cycling beyond ten. */
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
const GOOD = '#1f77b4';
const DEFECTIVE = '#d62728';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const pct = (v: number): string => (Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(1));
const px = (v: number): string => (Math.round(v * 10) / 10).toString();

// Plot geometry, in SVG user units.
const W = 260;
const H = 220;
const M = { left: 38, right: 16, top: 8, bottom: 32 };

function axes(xMax: number, xLabel: string, yLabel: string, xTicks: number[], yTicks: number[], yMax = 1): string {
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const parts = [`<rect x="${M.left}" y="${M.top}" width="${iw}" height="${ih}" class="frame"/>`];
  for (const t of xTicks) {
    const x = M.left + (t / xMax) * iw;
    parts.push(`<line x1="${px(x)}" y1="${M.top}" x2="${px(x)}" y2="${M.top + ih}" class="grid"/>`,
      `<text x="${px(x)}" y="${M.top + ih + 12}" class="tick" text-anchor="middle">${+t.toFixed(2)}</text>`);
  }
  for (const t of yTicks) {
    const y = M.top + ih - (t / yMax) * ih;
    parts.push(`<line x1="${M.left}" y1="${px(y)}" x2="${M.left + iw}" y2="${px(y)}" class="grid"/>`,
      `<text x="${M.left - 4}" y="${px(y + 3)}" class="tick" text-anchor="end">${+t.toFixed(2)}</text>`);
  }
  parts.push(`<text x="${M.left + iw / 2}" y="${H - 4}" class="label" text-anchor="middle">${escapeHtml(xLabel)}</text>`,
    `<text x="10" y="${M.top + ih / 2}" class="label" text-anchor="middle" transform="rotate(-90 10 ${M.top + ih / 2})">${escapeHtml(yLabel)}</text>`);
  return parts.join('');
}

/** SVG path data of a curve's vertices (all of them: they were already thinned within CURVE_TOLERANCE). */
export function curvePath(c: CurveJson, xMax: number): string {
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  return c.x.map((x, k) => `${k === 0 ? 'M' : 'L'}${px(M.left + (x / xMax) * iw)} ${px(M.top + ih - c.y[k]! * ih)}`).join('');
}

interface Series {
  method: string;
  color: string;
  seed: number;
  curve: CurveJson;
  /** The metric this curve integrates to, for the tooltip. */
  value: number;
}

function curvePlot(title: string, series: Series[], kind: 'roc' | 'pro', metricLabel: string): string {
  const xMax = kind === 'pro' ? 0.3 : 1;
  const ticks = kind === 'pro' ? [0, 0.1, 0.2, 0.3] : [0, 0.25, 0.5, 0.75, 1];
  const body = series.length === 0
    ? `<text x="${W / 2}" y="${H / 2}" class="empty" text-anchor="middle">no curve: no anomaly maps, or undefined for this data</text>`
    : series.map((s) => `<path d="${curvePath(s.curve, xMax)}" stroke="${s.color}" class="curve" data-method="${escapeHtml(s.method)}">` +
        `<title>${escapeHtml(s.method)} seed ${s.seed}: ${metricLabel} ${pct(s.value)}</title></path>`).join('');
  const diagonal = kind === 'roc' ? `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${M.top}" class="chance"/>` : '';
  // The legend: each method's colour and its area (mean over the seeds drawn).
  const methods = [...new Set(series.map((s) => s.method))];
  const legend = methods.map((m) => {
    const of = series.filter((s) => s.method === m);
    return `<i style="background:${of[0]!.color}"></i>${escapeHtml(m)} ${pct(meanStd(of.map((s) => s.value)).mean)}`;
  }).join(' ');
  return `<figure class="plot"><figcaption>${escapeHtml(title)} <span class="key">${legend}</span></figcaption>` +
    `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}" data-curve="${kind}">` +
    axes(xMax, kind === 'pro' ? 'FPR (up to 0.3)' : 'FPR', kind === 'pro' ? 'PRO' : 'TPR', ticks, [0, 0.25, 0.5, 0.75, 1]) +
    diagonal + body + '</svg></figure>';
}

/** Bins shared by every subclass of a category (so their histograms compare), over the scores' range. */
function binEdges(all: number[], bins: number): { lo: number; width: number } {
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  return { lo, width: hi > lo ? (hi - lo) / bins : 1 };
}

const BINS = 20;

/** Good vs defective image scores of one subclass as two overlaid histograms, each normalised to its own count. */
function histogram(title: string, s: { good: number[]; defective: number[] }, edges: { lo: number; width: number }): string {
  const count = (v: number[]): number[] => {
    const h = new Array<number>(BINS).fill(0);
    for (const x of v) h[Math.min(BINS - 1, Math.max(0, Math.floor((x - edges.lo) / edges.width)))]!++;
    return h.map((n) => n / Math.max(1, v.length));
  };
  const good = count(s.good);
  const bad = count(s.defective);
  const top = Math.max(0.05, ...good, ...bad);
  const yMax = Math.ceil(top * 10) / 10;
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const bw = iw / BINS;
  const bars = (h: number[], color: string, cls: string) => h.map((f, k) => f === 0 ? '' :
    `<rect x="${px(M.left + k * bw)}" y="${px(M.top + ih - (f / yMax) * ih)}" width="${px(bw)}" height="${px((f / yMax) * ih)}" fill="${color}" class="${cls}"/>`).join('');
  const xTicks = [0, BINS / 2, BINS].map((k) => edges.lo + k * edges.width);
  const xLabels = xTicks.map((v, k) => `<text x="${px(M.left + (k * iw) / 2)}" y="${M.top + ih + 12}" class="tick" text-anchor="middle">${v.toPrecision(3)}</text>`).join('');
  const frame = axes(1, 'image score', 'fraction of images', [], [0, yMax / 2, yMax], yMax);
  return `<figure class="plot"><figcaption>${escapeHtml(title)} <span class="key"><i style="background:${GOOD}"></i>good ${s.good.length}` +
    ` <i style="background:${DEFECTIVE}"></i>defective ${s.defective.length}</span></figcaption>` +
    `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}" data-histogram="">` +
    frame + xLabels + bars(good, GOOD, 'good') + bars(bad, DEFECTIVE, 'defective') + '</svg></figure>';
}

function table(t: ReturnType<typeof paperTables>[number], withStd: boolean): string {
  const head = `<tr><th>Category</th>${t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const rows = t.rows.map((row) => {
    const best = bestCells(row);
    const label = row.subclass !== null ? `<td class="sub">${escapeHtml(`${row.category}/${row.subclass}`)}</td>`
      : row.category === 'Mean' ? '<td><b>Mean</b></td>' : `<td>${escapeHtml(row.category)}</td>`;
    const cells = row.cells.map((c, k) => `<td>${best[k] ? `<b>${cellText(c, withStd)}</b>` : cellText(c, withStd)}</td>`).join('');
    return `<tr${row.category === 'Mean' ? ' class="mean"' : ''}>${label}${cells}</tr>`;
  });
  return `<table><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

function methodLegend(r: RunResults): string {
  return '<table class="legend"><thead><tr><th></th><th>Column</th><th>Preset</th><th>Backbone, weights\' origin</th><th>Weights</th><th>Pixel maps</th></tr></thead><tbody>' +
    r.methods.map((m, k) => `<tr><td><i style="background:${PALETTE[k % PALETTE.length]}"></i></td><td>${escapeHtml(m.method)}</td>` +
      `<td>${escapeHtml(m.preset)}</td><td>${escapeHtml(backbonesText(m))}</td><td>${m.weights === 'random' ? 'random (seeded)' : `<code>${escapeHtml(m.weights)}</code>`}</td>` +
      `<td>${m.pixelMaps ? 'yes' : 'no'}</td></tr>`).join('') + '</tbody></table>';
}

function categorySection(r: RunResults, name: string, opts: HtmlReportInput): string {
  const parts = [`<section class="category" id="${escapeHtml(`cat-${name}`)}"><h2>${escapeHtml(name)}</h2>`];
  const collect = (pick: (c: UnitCurves) => CurveJson | null, metric: 'imageAUROC' | 'pixelAUROC' | 'aupro'): Series[] =>
    r.methods.flatMap((m, k) => {
      const cat = m.categories.find((c) => c.category === name);
      return (cat?.seeds ?? []).flatMap((s) => {
        const curve = opts.curves?.[m.method]?.[name]?.[s.seed];
        const c = curve ? pick(curve) : null;
        return c ? [{ method: m.method, color: PALETTE[k % PALETTE.length]!, seed: s.seed, curve: c, value: s.metrics[metric] }] : [];
      });
    });
  const recorded = r.methods.some((m) => Object.keys(opts.curves?.[m.method]?.[name] ?? {}).length > 0);
  if (!recorded) {
    parts.push('<p class="note">No curves recorded for this category (a run folder written before texad recorded them).</p>');
  } else {
    parts.push('<div class="plots">',
      curvePlot('Image ROC', collect((c) => c.imageROC, 'imageAUROC'), 'roc', METRIC_LABELS.imageAUROC),
      curvePlot('Pixel ROC', collect((c) => c.pixelROC, 'pixelAUROC'), 'roc', METRIC_LABELS.pixelAUROC),
      curvePlot('PRO (FPR ≤ 0.3)', collect((c) => c.pro, 'aupro'), 'pro', METRIC_LABELS.aupro),
      '</div>');
    parts.push(`<p class="note">${seedNote(r)} Hover a curve for its method, seed and area.</p>`);
    for (const m of r.methods) {
      const cat = m.categories.find((c) => c.category === name);
      const first = cat?.seeds[0];
      const scores = first ? opts.curves?.[m.method]?.[name]?.[first.seed]?.scores : undefined;
      if (!scores) continue;
      const all = Object.values(scores).flatMap((s) => [...s.good, ...s.defective]);
      if (all.length === 0) continue;
      const edges = binEdges(all, BINS);
      parts.push(`<h3>${escapeHtml(m.method)}: image scores per subclass (seed ${first!.seed})</h3><div class="plots">`,
        ...Object.keys(scores).sort().map((sub) => histogram(sub, scores[sub]!, edges)), '</div>');
    }
  }
  for (const m of r.methods) {
    const panels = opts.heatmaps?.[m.method]?.[name] ?? [];
    if (panels.length === 0) continue;
    parts.push(`<h3>${escapeHtml(m.method)}: heatmaps (image | ground truth | anomaly map, one colour scale per category)</h3><div class="gallery">`,
      ...panels.map((p) => `<figure><img src="${p.dataUrl}" alt="${escapeHtml(`${m.method} ${name} ${p.name}`)}"><figcaption>${escapeHtml(p.name)}</figcaption></figure>`),
      '</div>');
  }
  parts.push('</section>');
  return parts.join('\n');
}

/** The reference detectors' figures on the same data, under the method tables (as in report.md). */
function floorSection(r: RunResults): string {
  const t = floorTable(r);
  if (!t) return '';
  return `<h2>Reference floor</h2><p class="note">${escapeHtml(FLOOR_NOTE)}</p><table><thead><tr><th>Category</th>` +
    t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('') + '</tr></thead><tbody>' +
    t.rows.map((row) => `<tr><td>${escapeHtml(row.category)}</td>${row.cells.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('') +
    '</tbody></table>';
}

function seedNote(r: RunResults): string {
  const seeds = r.methods[0]?.categories[0]?.seeds.length ?? 0;
  return seeds > 1 ? `One line per method and seed (${seeds} seeds), one colour per method.` : 'One line per method, one colour per method.';
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:right}
th:first-child,td:first-child{text-align:left}td.sub{padding-left:24px;color:#555}tr.mean td{border-top:2px solid #999}
.legend td,.legend th{text-align:left}i{display:inline-block;width:12px;height:12px;vertical-align:middle;margin:0 3px}
.tables{display:flex;flex-wrap:wrap;gap:8px 32px}.plots{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0}.plot{width:260px}figcaption{font-weight:600;font-size:13px}.key{font-weight:400;color:#444}
.frame{fill:none;stroke:#888}.grid{stroke:#eee}.tick{font-size:9px;fill:#555}.label{font-size:10px;fill:#333}
.curve{fill:none;stroke-width:1.6;stroke-linejoin:round}.curve:hover{stroke-width:3}.chance{stroke:#bbb;stroke-dasharray:4 3}
.empty{font-size:11px;fill:#888}.good{opacity:.55}.defective{opacity:.55}.note{color:#555;font-size:13px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}.gallery img{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}
.gallery figcaption{font-weight:400;font-size:11px;color:#555;max-width:380px;overflow-wrap:anywhere}
.warn{background:#fff4e5;border-left:4px solid #f0a030;padding:6px 10px}`;

/** The whole page. Everything is inline: it opens from file:// or an e-mail attachment alike. */
export function reportHtml(r: RunResults, opts: HtmlReportInput = {}): string {
  const seeds = r.methods[0]?.categories[0]?.seeds.length ?? 0;
  const withStd = seeds > 1;
  const random = r.methods.some((m) => m.weights === 'random');
  const categories = [...new Set(r.methods.flatMap((m: MethodResults) => m.categories.map((c) => c.category)))];
  const title = `texad ${r.methods.map((m) => m.method).join(', ')} — ${r.dataset.protocol} protocol`;
  const synthetic = r.dataset.synthetic ? `, synthetic preset ${r.dataset.synthetic.preset} seed ${r.dataset.synthetic.seed}` : '';
  const timing = r.methods.map((m) => {
    const fit = meanStd(m.categories.flatMap((c) => c.seeds.map((s) => s.seconds.fit))).mean;
    return `${escapeHtml(m.method)} fit ${fit.toFixed(1)} s per category and seed`;
  }).join('; ');
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p>${seeds} seed${seeds === 1 ? '' : 's'}${withStd ? ' (mean ± std over seeds)' : ''}, all values in %. Adapter: ${escapeHtml(r.adapter)}. ` +
      `texad ${escapeHtml(r.texad)}, ${escapeHtml(r.date)}.<br>Data: <code>${escapeHtml(r.dataset.root)}</code> (${escapeHtml(r.dataset.layout)}${escapeHtml(synthetic)}). ${timing}.</p>`,
    random ? '<p class="warn">Columns with random weights: seeded random backbones, not ImageNet weights; these figures say nothing about what the method reaches on real data with pretrained weights.</p>' : '',
    '<p class="note">Test images of a category are pooled and scored without subclass labels; per-subclass figures are computed afterwards from the same scores. Bold: the best method of a row. –: the method gives no anomaly maps. n/a: undefined for that subset. Curves are the exact ones of the metric state (one vertex per distinct score, thinned to stay within 0.1% of an axis of it), so their areas are the tabled AUROC and AUPRO.</p>',
    methodLegend(r),
    `<nav>Categories: ${categories.map((c) => `<a href="#${escapeHtml(`cat-${c}`)}">${escapeHtml(c)}</a>`).join(' · ')}</nav>`,
    '<h2>Tables</h2><div class="tables">',
    ...paperTables(r, { breakdown: opts.breakdown ?? false }).map((t) => `<div><h3>${escapeHtml(t.title)}</h3>${table(t, withStd)}</div>`),
    '</div>',
    floorSection(r),
    ...categories.map((c) => categorySection(r, c, opts)),
  ];
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>\n${body.filter(Boolean).join('\n')}\n</body></html>\n`;
}
