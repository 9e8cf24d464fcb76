// report.md: the paper-layout tables of tables.ts, then each method's per-subclass breakdown, timings and heatmaps.
import { backbonesText, meanStd, type RunResults } from './results.ts';
import { cellText, floorTable, FLOOR_NOTE, paperTables, tableMarkdown, TABLE_METRICS } from './tables.ts';

export interface ReportOptions {
  /** Heatmap panel paths (relative to the run folder) per method, then per category. */
  heatmaps?: Record<string, Record<string, string[]>>;
  /** One row per subclass under each category in the metric tables. */
  breakdown?: boolean;
}

/**
 * The markdown report: one paper-layout table per metric (methods as columns), then per method and category the
 * subclass breakdown of every metric, timings and heatmaps.
 */
export function reportMarkdown(r: RunResults, opts: ReportOptions = {}): string {
  const seeds = r.methods[0]?.categories[0]?.seeds.length ?? 0;
  const withStd = seeds > 1;
  const random = r.methods.some((m) => m.weights === 'random');
  const lines = [
    `# texad ${r.methods.map((m) => m.method).join(', ')} — ${r.dataset.protocol} protocol`,
    '',
    `${seeds} seed${seeds === 1 ? '' : 's'}${withStd ? ' (mean ± std over seeds)' : ''}, all values in %. ` +
      `Adapter: ${r.adapter}. texad ${r.texad}, ${r.date}.`,
    `Data: \`${r.dataset.root}\` (${r.dataset.layout}${r.dataset.synthetic ? `, synthetic preset ${r.dataset.synthetic.preset} seed ${r.dataset.synthetic.seed}` : ''}).`,
    '',
    'Test images of a category are pooled and scored without subclass labels; the per-subclass rows are computed',
    'afterwards from the same scores. Bold: the best method of a row. –: the method gives no anomaly maps.',
    'report.html (next to this file) has the same tables with ROC and PRO curves, score histograms and the heatmaps inline.',
    ...(random ? ['', 'Columns with random weights: seeded random backbones, not ImageNet weights; these figures say nothing ' +
      'about what the method reaches on real data with pretrained weights.'] : []),
    '',
    '| Column | Preset | Backbone, weights\' origin | Weights | Pixel maps |',
    '| --- | --- | --- | --- | --- |',
    ...r.methods.map((m) => `| ${m.method} | ${m.preset} | ${backbonesText(m)} | ${m.weights === 'random' ? 'random (seeded)' : `\`${m.weights}\``} | ${m.pixelMaps ? 'yes' : 'no'} |`),
  ];
  // Each table names its columns' networks too: tables get copied out of the report one at a time.
  const caption = `Columns: ${r.methods.map((m) => `${m.method} — ${backbonesText(m)}`).join('; ')}.`;
  for (const t of paperTables(r, { breakdown: opts.breakdown ?? false })) lines.push('', `## ${t.title}`, '', ...tableMarkdown(t, withStd), '', caption);
  lines.push(...floorMarkdown(r));
  const first = r.methods[0]?.categories ?? [];
  lines.push('', '## Images', '', '| Category | Train | Test |', '| --- | ---: | ---: |',
    ...first.map((c) => `| ${c.category} | ${c.trainImages} | ${c.testImages} |`));
  for (const m of r.methods) {
    for (const c of m.categories) {
      lines.push('', `## ${m.method}: ${c.category}`, '', `| Subclass | ${TABLE_METRICS.map(([, h]) => h).join(' | ')} | Images (defective) |`,
        `| --- | ${TABLE_METRICS.map(() => '---:').join(' | ')} | ---: |`);
      for (const [name, s] of Object.entries(c.perSubclass)) {
        lines.push(`| ${name} | ${TABLE_METRICS.map(([k]) => cellText(s[k], withStd)).join(' | ')} | ${s.images} (${s.defective}) |`);
      }
      lines.push(`| **Pooled** | ${TABLE_METRICS.map(([k]) => `**${cellText(c.summary[k], withStd)}**`).join(' | ')} | ${c.testImages} |`);
      const fit = meanStd(c.seeds.map((s) => s.seconds.fit));
      const pred = meanStd(c.seeds.map((s) => s.seconds.predict));
      lines.push('', `Fit ${fit.mean.toFixed(1)} s, predict ${pred.mean.toFixed(1)} s per seed; final training loss ` +
        `${c.seeds.map((s) => s.finalLoss.toFixed(4)).join(', ')}.`);
      for (const link of opts.heatmaps?.[m.method]?.[c.category] ?? []) lines.push('', `![${m.method} ${c.category} heatmap](${link})`);
    }
  }
  lines.push('', 'n/a: undefined for that subset (e.g. a subclass with no defective test image: AUROC needs both classes).', '');
  return lines.join('\n');
}

/** The reference detectors' figures per category: the floor the tables above are read against. */
function floorMarkdown(r: RunResults): string[] {
  const t = floorTable(r);
  if (!t) return [];
  return ['', '## Reference floor', '', FLOOR_NOTE, '',
    `| Category | ${t.columns.join(' | ')} |`,
    `| --- | ${t.columns.map(() => '---:').join(' | ')} |`,
    ...t.rows.map((row) => `| ${row.category} | ${row.cells.join(' | ')} |`)];
}
