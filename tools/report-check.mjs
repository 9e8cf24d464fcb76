#!/usr/bin/env node
// Opens a run's report.html from file:// in headless Chromium (tools/smoke/chromium.mjs) and checks what a reader
// would see: no console error, no failed or external request, every curve an SVG path with points, every heatmap
// decoded. Optionally saves a screenshot of the top of the page.
//
//   node tools/report-check.mjs RUN_DIR/report.html [--screenshot OUT.png]
//
// Exit code 1 lists the problems. test/report-html.test.ts runs the same check on a report made from a fixture.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHROMIUM, CHROMIUM_FLAGS } from './smoke/chromium.mjs';

/**
 * Loads `htmlPath` and returns { problems, curves, points, histograms, images }: `points` holds each curve path's
 * vertex count; `problems` is empty when the page is as it should be.
 */
export async function checkReport(htmlPath, opts = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (tools/setup-lavapipe.sh does) or set TEXAD_CHROMIUM`);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: 120_000 });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1180, height: opts.height ?? 1180 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    page.on('request', (r) => {
      if (!/^(file|data):/.test(r.url())) problems.push(`external request: ${r.url()}`);
    });
    await page.goto(pathToFileURL(resolve(htmlPath)).href, { waitUntil: 'load' });
    const seen = await page.evaluate(() => ({
      points: [...document.querySelectorAll('svg[data-curve] path.curve')].map((p) => (p.getAttribute('d') ?? '').split(/[ML]/).filter((s) => s.trim()).length),
      histograms: document.querySelectorAll('svg[data-histogram] rect.good, svg[data-histogram] rect.defective').length,
      images: [...document.querySelectorAll('img')].map((i) => i.naturalWidth),
      tables: document.querySelectorAll('table').length,
    }));
    if (seen.points.length === 0) problems.push('no curve (svg[data-curve] path.curve) on the page');
    if (seen.points.some((n) => n < 2)) problems.push(`a curve path with fewer than 2 points: ${seen.points.join(', ')}`);
    if (seen.images.some((w) => w === 0)) problems.push('a heatmap image did not decode');
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot });
    return { problems, curves: seen.points.length, points: seen.points, histograms: seen.histograms, images: seen.images.length, tables: seen.tables };
  } finally {
    await browser.close();
  }
}

async function main(argv) {
  const at = argv.indexOf('--screenshot');
  const file = argv.find((a, k) => !a.startsWith('--') && k !== at + 1);
  if (!file) {
    console.error('usage: node tools/report-check.mjs RUN_DIR/report.html [--screenshot OUT.png]');
    return 2;
  }
  const r = await checkReport(file, at >= 0 ? { screenshot: argv[at + 1] } : {});
  console.log(`${r.curves} curves (${Math.min(...r.points)}–${Math.max(...r.points)} points), ${r.histograms} histogram bars, ` +
    `${r.images} heatmaps, ${r.tables} tables`);
  for (const p of r.problems) console.error(`problem: ${p}`);
  return r.problems.length === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    console.error(`report-check: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
