// Benchmarks texad's exact AUROC against (a) a plain TypeScript AUROC built on Float32Array.prototype.sort and
// (b) scikit-learn's roc_auc_score (timed by tools/metrics-sklearn-bench.py on the same arrays, in the same run), and
// optionally streams 1e9 synthetic pixel scores through the pixel metrics.
//
//   node dist/bench/metrics.js [--json] [--sizes 1e6,1e7,1e8] [--no-peer] [--huge] [--huge-scores N]
import { Bench } from 'tinybench';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPixelMetrics, imageMetrics, type PixelMetricsResult } from '../src/metrics/index.ts';
import { writeNpy } from '../src/io/npy.ts';

export interface MetricsBenchOptions {
  /** Score counts for the AUROC comparison (default 1e6, 1e7, 1e8). */
  sizes?: number[];
  /** Time scikit-learn too (default true); skipped with a reason when /usr/bin/python3 or sklearn is missing. */
  peer?: boolean;
  /** Stream synthetic pixel scores through createPixelMetrics() (default false). */
  huge?: boolean;
  /** Pixel scores for the streaming run (default 1e9, in 256 x 256 images). */
  hugeScores?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** Median milliseconds per call: CPU time of the process, and wall-clock time. */
export interface Timing {
  cpuMs: number;
  wallMs: number;
}

export interface AurocRow {
  n: number;
  texad: Timing;
  tsSort: Timing;
  sklearn: Timing | null;
  /** Scores per second for texad, by CPU time. */
  scoresPerSecond: number;
  /** How many times faster texad is than each peer, by CPU time (the wall-clock ratios follow). */
  vsTsSort: number;
  vsSklearn: number | null;
  vsTsSortWall: number;
  vsSklearnWall: number | null;
  auroc: number;
  /** |texad - peer| AUROC. */
  diffTsSort: number;
  diffSklearn: number | null;
}

export interface HugeRun {
  scores: number;
  images: string;
  /** Wall-clock seconds inside add() and compute() (the synthetic generation excluded). */
  metricSeconds: number;
  /** CPU seconds of the process inside add() and compute(). */
  metricCpuSeconds: number;
  /** Seconds for the whole run, generation included. */
  wallSeconds: number;
  scoresPerSecond: number;
  /** Peak resident memory of the process that ran it. */
  peakRssMiB: number;
  result: PixelMetricsResult;
}

export interface MetricsBenchReport {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; loadAverageAtStart: number[]; runtime: string };
  auroc: AurocRow[];
  sklearn: string;
  floors: { vsTsSortAt1e7: boolean | null; vsSklearnAt1e7: boolean | null; hugeUnder2Min: boolean | null; hugeUnder2GiB: boolean | null };
  huge?: HugeRun;
}

const PYTHON = '/usr/bin/python3';

/** Uniform scores, 30% positives shifted up by 0.3: an AUROC near 0.8 with almost all scores distinct. */
function syntheticScores(n: number, seed: number): { scores: Float32Array; labels: Uint8Array } {
  const scores = new Float32Array(n);
  const labels = new Uint8Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    const y = a < 0.3 * 4294967296 ? 1 : 0;
    labels[i] = y;
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    scores[i] = a / 4294967296 + 0.3 * y;
  }
  return { scores, labels };
}

/** The plain TypeScript AUROC: split by class, Float32Array.prototype.sort each, merge-count with tie credit. */
export function tsSortAuroc(scores: Float32Array, labels: Uint8Array): number {
  let np = 0;
  for (let i = 0; i < labels.length; i++) np += labels[i]!;
  const pos = new Float32Array(np);
  const neg = new Float32Array(labels.length - np);
  let a = 0;
  let b = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) pos[a++] = scores[i]!;
    else neg[b++] = scores[i]!;
  }
  pos.sort();
  neg.sort();
  let u = 0;
  let below = 0;
  let upTo = 0;
  for (let i = 0; i < np; i++) {
    const v = pos[i]!;
    while (below < neg.length && neg[below]! < v) below++;
    upTo = Math.max(upTo, below);
    while (upTo < neg.length && neg[upTo]! === v) upTo++;
    u += below + 0.5 * (upTo - below);
  }
  return u / (np * neg.length);
}

function toolsScript(): string | undefined {
  // Compiled: dist/bench/metrics.js; unbuilt: bench/metrics.ts. Walk up to the package root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, 'tools', 'metrics-sklearn-bench.py');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return undefined;
}

/** CPU milliseconds of this process (all threads): on a shared machine it tracks the work done, wall time does not. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function timeTask(n: number, fn: () => unknown): Promise<Timing> {
  const wall: number[] = [];
  const iterations = n >= 1e8 ? 1 : n >= 1e7 ? 5 : 20;
  const bench = new Bench({
    iterations,
    time: 0,
    warmup: n < 1e8,
    warmupIterations: 1,
    warmupTime: 0,
    now: cpuNow,
  });
  bench.add('task', () => {
    const t = performance.now();
    fn();
    wall.push(performance.now() - t);
  });
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r.state !== 'completed') throw new Error(`benchmark task did not complete (${r.state})`);
  // Warmup calls also landed in `wall`; with no time budget the last `iterations` calls are the measured ones.
  const measured = wall.slice(-iterations).sort((a, b) => a - b);
  return { cpuMs: r.latency.p50, wallMs: measured[Math.floor((measured.length - 1) / 2)]! };
}

function sklearnTimes(
  data: { scores: Float32Array; labels: Uint8Array }[],
  log: (l: string) => void,
): { timing: (Timing | null)[]; auroc: (number | null)[]; note: string } {
  const none = { timing: data.map(() => null), auroc: data.map(() => null) };
  const script = toolsScript();
  if (!script) return { ...none, note: 'skipped: tools/metrics-sklearn-bench.py not found next to this bench' };
  if (!existsSync(PYTHON)) return { ...none, note: `skipped: ${PYTHON} not found` };
  const dir = mkdtempSync(join(tmpdir(), 'texad-bench-'));
  try {
    const args = [script, '3'];
    data.forEach((d, i) => {
      writeFileSync(join(dir, `s${i}.npy`), writeNpy(d.scores, [d.scores.length]));
      writeFileSync(join(dir, `l${i}.npy`), writeNpy(d.labels, [d.labels.length]));
      args.push(join(dir, `s${i}.npy`), join(dir, `l${i}.npy`));
    });
    log('timing scikit-learn roc_auc_score ...');
    const r = spawnSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status === 3) return { ...none, note: `skipped: ${r.stderr.trim()}` };
    if (r.status !== 0) return { ...none, note: `skipped: ${PYTHON} failed: ${(r.stderr || String(r.error)).trim()}` };
    const rows = JSON.parse(r.stdout) as { median: number; cpuMedian: number; auroc: number; sklearn: string }[];
    return {
      timing: rows.map((x) => ({ cpuMs: x.cpuMedian * 1000, wallMs: x.median * 1000 })),
      auroc: rows.map((x) => x.auroc),
      note: `scikit-learn ${rows[0]?.sklearn}`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Streams `total` synthetic pixel scores (256 x 256 maps, defects in 30% of images) through the pixel metrics. */
export function streamSyntheticPixels(total: number, log: (l: string) => void = () => {}): HugeRun {
  const h = 256;
  const w = 256;
  const px = h * w;
  const images = Math.ceil(total / px);
  const scores = new Float32Array(px);
  const mask = new Uint8Array(px);
  const acc = createPixelMetrics({ chunkSize: 1 << 24 });
  let a = 0x9e3779b9;
  const next = (): number => {
    a ^= a << 13;
    a ^= a >>> 17;
    a ^= a << 5;
    return (a >>> 0) / 4294967296;
  };
  const t0 = performance.now();
  let inMetrics = 0;
  let cpuInMetrics = 0;
  for (let img = 0; img < images; img++) {
    mask.fill(0);
    if (next() < 0.3) {
      const blobs = 1 + Math.floor(next() * 3);
      for (let b = 0; b < blobs; b++) {
        const cy = next() * h;
        const cx = next() * w;
        const ry = 4 + next() * 36;
        const rx = 4 + next() * 36;
        for (let y = Math.max(0, Math.floor(cy - ry)); y < Math.min(h, cy + ry); y++) {
          for (let x = Math.max(0, Math.floor(cx - rx)); x < Math.min(w, cx + rx); x++) {
            if (((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1) mask[y * w + x] = 1;
          }
        }
      }
    }
    for (let i = 0; i < px; i++) scores[i] = 0.2 + 0.25 * (next() + next()) + 0.3 * mask[i]!;
    const t = performance.now();
    const c = cpuNow();
    acc.add(scores, mask, h, w);
    cpuInMetrics += cpuNow() - c;
    inMetrics += performance.now() - t;
    if (img % 2000 === 1999) log(`  ${((img + 1) * px / 1e9).toFixed(2)}e9 scores streamed`);
  }
  const t = performance.now();
  const c = cpuNow();
  const result = acc.compute();
  cpuInMetrics += cpuNow() - c;
  inMetrics += performance.now() - t;
  const wall = (performance.now() - t0) / 1000;
  return {
    scores: images * px,
    images: `${images} x ${h} x ${w}`,
    metricSeconds: inMetrics / 1000,
    metricCpuSeconds: cpuInMetrics / 1000,
    wallSeconds: wall,
    scoresPerSecond: (images * px) / (inMetrics / 1000),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    result,
  };
}

function hugeInChild(total: number, log: (l: string) => void): HugeRun {
  // A fresh process, so the peak memory is this run's alone. Under other runtimes, run in-process.
  if (!process.execPath.endsWith('node') || !import.meta.url.endsWith('.js')) return streamSyntheticPixels(total, log);
  log(`streaming ${total.toExponential(0)} synthetic pixel scores in a child process ...`);
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--huge-child', String(total)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`the streaming run failed (exit ${r.status})`);
  return JSON.parse(r.stdout) as HugeRun;
}

export async function runMetricsBench(opts: MetricsBenchOptions = {}): Promise<MetricsBenchReport> {
  const log = opts.log ?? (() => {});
  const sizes = opts.sizes ?? [1e6, 1e7, 1e8];
  const load = loadavg();
  const data = sizes.map((n, i) => syntheticScores(n, 1234 + i));
  const rows: AurocRow[] = [];
  for (const [i, n] of sizes.entries()) {
    const { scores, labels } = data[i]!;
    log(`n = ${n.toExponential(0)}: texad ...`);
    const auroc = imageMetrics(scores, labels).auroc;
    const texad = await timeTask(n, () => imageMetrics(scores, labels));
    log(`n = ${n.toExponential(0)}: Float32Array.prototype.sort AUROC ...`);
    const tsValue = tsSortAuroc(scores, labels);
    const tsSort = await timeTask(n, () => tsSortAuroc(scores, labels));
    rows.push({
      n,
      texad,
      tsSort,
      sklearn: null,
      scoresPerSecond: n / (texad.cpuMs / 1000),
      vsTsSort: tsSort.cpuMs / texad.cpuMs,
      vsSklearn: null,
      vsTsSortWall: tsSort.wallMs / texad.wallMs,
      vsSklearnWall: null,
      auroc,
      diffTsSort: Math.abs(auroc - tsValue),
      diffSklearn: null,
    });
  }
  let sklearn = 'skipped: disabled';
  if (opts.peer ?? true) {
    const peer = sklearnTimes(data, log);
    sklearn = peer.note;
    rows.forEach((r, i) => {
      const t = peer.timing[i];
      const value = peer.auroc[i];
      if (!t || value == null) return;
      r.sklearn = t;
      r.vsSklearn = t.cpuMs / r.texad.cpuMs;
      r.vsSklearnWall = t.wallMs / r.texad.wallMs;
      r.diffSklearn = Math.abs(r.auroc - value);
    });
  }
  const at1e7 = rows.find((r) => r.n === 1e7);
  const report: MetricsBenchReport = {
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadAverageAtStart: load.map((l) => Math.round(l * 100) / 100),
      runtime: `node ${process.versions.node}`,
    },
    auroc: rows,
    sklearn,
    floors: {
      vsTsSortAt1e7: at1e7 ? at1e7.vsTsSort >= 5 : null,
      vsSklearnAt1e7: at1e7?.vsSklearn != null ? at1e7.vsSklearn >= 10 : null,
      hugeUnder2Min: null,
      hugeUnder2GiB: null,
    },
  };
  if (opts.huge) {
    const huge = hugeInChild(opts.hugeScores ?? 1e9, log);
    report.huge = huge;
    // The floors are stated for 1e9 scores; smaller runs are reported without a verdict.
    if (huge.scores >= 1e9) {
      report.floors.hugeUnder2Min = huge.metricSeconds < 120;
      report.floors.hugeUnder2GiB = huge.peakRssMiB < 2048;
    }
  }
  return report;
}

function printReport(r: MetricsBenchReport): void {
  const m = r.machine;
  console.log(`texad metrics bench, ${r.date}`);
  console.log(`${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.runtime}, load average at start ${m.loadAverageAtStart.join(' ')}`);
  console.log(`peer: ${r.sklearn}\n`);
  console.log('Median ms per call, CPU time (wall-clock time); "x" = how many times faster texad is, by CPU time (wall).');
  console.log('       n              texad     scores/s       TS Float32Array.sort      x             scikit-learn       x   |dAUROC|');
  const t = (x: Timing | null): string => (x ? `${x.cpuMs.toFixed(1)} (${x.wallMs.toFixed(1)})` : 'skipped');
  const ratio = (cpu: number | null, wall: number | null): string => (cpu === null ? '-' : `${cpu.toFixed(1)} (${wall!.toFixed(1)})`);
  for (const row of r.auroc) {
    const diff = Math.max(row.diffTsSort, row.diffSklearn ?? 0);
    console.log(
      `${row.n.toExponential(0).padStart(8)} ${t(row.texad).padStart(18)} ${row.scoresPerSecond.toExponential(2).padStart(12)}` +
        ` ${t(row.tsSort).padStart(26)} ${ratio(row.vsTsSort, row.vsTsSortWall).padStart(12)}` +
        ` ${t(row.sklearn).padStart(24)} ${ratio(row.vsSklearn, row.vsSklearnWall).padStart(11)} ${diff.toExponential(1).padStart(10)}`,
    );
  }
  if (r.huge) {
    const h = r.huge;
    console.log(
      `\nstreamed ${h.scores.toExponential(3)} pixel scores (${h.images}): ${h.metricSeconds.toFixed(1)} s in the metrics` +
        ` (${h.metricCpuSeconds.toFixed(1)} s CPU, ${h.scoresPerSecond.toExponential(2)} scores/s), ${h.wallSeconds.toFixed(1)} s with` +
        ` generation, peak RSS ${h.peakRssMiB.toFixed(0)} MiB`,
    );
    console.log(`  pixel AUROC ${h.result.auroc}, AUPRO ${h.result.aupro}, AP ${h.result.ap}, F1-max ${h.result.f1max}, ${h.result.regions} regions`);
  }
  const f = r.floors;
  const mark = (v: boolean | null): string => (v === null ? 'not measured' : v ? 'met' : 'NOT met');
  console.log(`\nfloors (CPU time): >= 5x TS sort at 1e7 ${mark(f.vsTsSortAt1e7)}; >= 10x scikit-learn at 1e7 ${mark(f.vsSklearnAt1e7)};` +
    ` 1e9 streamed < 2 min ${mark(f.hugeUnder2Min)}, < 2 GiB ${mark(f.hugeUnder2GiB)}`);
}

async function cli(argv: string[]): Promise<void> {
  const child = argv.indexOf('--huge-child');
  if (child >= 0) {
    console.log(JSON.stringify(streamSyntheticPixels(Number(argv[child + 1]), (l) => console.error(l))));
    return;
  }
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const json = argv.includes('--json');
  const sizes = flag('--sizes')?.split(',').map(Number);
  if (sizes && sizes.some((n) => !Number.isSafeInteger(n) || n < 2)) throw new Error('--sizes takes comma-separated counts, e.g. 1e6,1e7');
  const hugeScores = flag('--huge-scores') === undefined ? undefined : Number(flag('--huge-scores'));
  const report = await runMetricsBench({
    sizes,
    peer: !argv.includes('--no-peer'),
    huge: argv.includes('--huge') || hugeScores !== undefined,
    hugeScores,
    log: json ? undefined : (l) => console.error(l),
  });
  if (json) console.log(JSON.stringify(report, null, 2));
  else printReport(report);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await cli(process.argv.slice(2));
}
