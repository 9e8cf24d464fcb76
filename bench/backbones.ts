// Backbone forward throughput at 256x256 (images/s): texad, onnxruntime-web's WebGPU EP on the same Dawn adapter in
// this process, and PyTorch on the CPU (tools/bench-backbones.py, 2 threads), on the same weights and input. Samples
// are interleaved round by round (machines of this class drift by up to 2x over minutes); speed-ups are medians of
// per-round time ratios.
//
//   texad bench --suite backbones [--backbones wide_resnet50_2,pdn_small] [--quick] [--json]
//   node dist/bench/backbones.js [--cases wide_resnet50_2,pdn_small] [--rounds 3] [--iterations 1] [--json]
// (the second form, after a build, sets rounds and passes per round; the timing loop is bench/harness.ts's).
//
// tools/export-weights.py --random-init 0 writes the safetensors file texad and PyTorch load and the ONNX graph
// onnxruntime-web runs; both are cached under .texad-cache/bench/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBackbone, type Backbone, type BackboneName } from '../src/backbones/index.ts';
import { tuneWhile } from '../src/runtime/autotune.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { deviceAdapterName, installDawnNavigator } from './peers/dawn.ts';
import { fingerprintMismatch, interleavedRounds, median, packageRoot, perRoundSpeedup } from './harness.ts';
import { fingerprintOf } from './peers/ops.ts';
import { loadOrt } from './peers/ort.ts';

const PYTHON = process.env['TEXAD_BENCH_PYTHON'] ?? '/usr/bin/python3';
const SIZE = 256;

interface Case {
  arch: BackboneName;
  taps: string[];
  /** Which baseline runs this network this far. */
  usedBy: string;
  /** Minimum texad speed-up over onnxruntime-web the project commits to. */
  floorVsOrt?: number;
}

const CASES: Case[] = [
  { arch: 'wide_resnet50_2', taps: ['layer2', 'layer3'], usedBy: 'SimpleNet, MSFlow', floorVsOrt: 2 },
  { arch: 'resnet18', taps: ['layer1'], usedBy: 'PyramidFlow' },
  { arch: 'resnet152', taps: ['layer4'], usedBy: 'Mean-Shift' },
  { arch: 'pdn_small', taps: ['out'], usedBy: 'EfficientAD-S teacher' },
  { arch: 'pdn_medium', taps: ['out'], usedBy: 'EfficientAD-M teacher' },
];

/** One contestant on one case: `sample` runs `iterations` forward passes and returns their median time in ms. */
interface Contestant {
  name: 'texad' | 'ort' | 'torch';
  /** Version and where it ran, for the report. */
  about: string;
  sample(iterations: number): Promise<number>;
  /** sum |y| and sum y^2 over every output, to check that contestants computed the same thing. */
  fingerprint: [number, number];
  dispose(): Promise<void>;
  /** One time per round, ms (filled by interleavedRounds). */
  roundsMs: number[];
}

/** The input every contestant sees: (sin(i) + 1) / 2 over the flat [1, 3, S, S] index (tools/bench-backbones.py). */
function inputData(): Float32Array {
  return Float32Array.from({ length: 3 * SIZE * SIZE }, (_, i) => (Math.sin(i) + 1) / 2);
}

async function timed(iterations: number, once: () => Promise<void>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await once();
    ms.push(performance.now() - start);
  }
  return median(ms);
}

/** The case's safetensors weights and ONNX graph, exported once by tools/export-weights.py. */
function files(root: string, c: Case): { weights: string; onnx: string } {
  const dir = join(root, '.texad-cache', 'bench');
  mkdirSync(dir, { recursive: true });
  const weights = join(dir, `${c.arch}.safetensors`);
  const onnx = join(dir, `${c.arch}-${c.taps.join('+')}-${SIZE}.onnx`);
  if (!existsSync(weights) || !existsSync(onnx)) {
    const args = [join(root, 'tools', 'export-weights.py'), c.arch, '--random-init', '0', '--out', weights,
      '--onnx', onnx, '--taps', c.taps.join(','), '--onnx-size', String(SIZE)];
    execFileSync(PYTHON, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return { weights, onnx };
}

async function texad(rt: Runtime, c: Case, weights: string, log: (l: string) => void): Promise<Contestant> {
  const bb: Backbone = await loadBackbone(rt, c.arch, { weights, taps: c.taps });
  const x = rt.tensor(inputData(), [1, 3, SIZE, SIZE]).keep();
  // Kernel variants are tuned once per adapter, as an application would; winners persist across runs.
  log(`${c.arch}: tuning kernel variants (slow only the first time on an adapter)`);
  await tuneWhile(rt, () => rt.tidy(() => void bb.forward(x)));
  const outputs = await rt.tidyAsync(async () => {
    const out = bb.forward(x);
    return Promise.all(bb.taps.map((t) => out[t]!.read()));
  });
  const fingerprint = fingerprintOf(...outputs);
  return {
    name: 'texad', roundsMs: [],
    about: rt.gpu.describe(),
    fingerprint,
    sample: (n) => timed(n, async () => {
      rt.tidy(() => void bb.forward(x));
      await rt.sync();
    }),
    async dispose() {
      bb.dispose();
      x.dispose();
    },
  };
}

/** onnxruntime-web on the same adapter as texad (`adapter`, as deviceAdapterName writes it), else an error. */
async function onnxRuntime(c: Case, onnx: string, adapter: string): Promise<Contestant> {
  const ort = await loadOrt();
  const device = await ort.env.webgpu.device;
  if (deviceAdapterName(device) !== adapter) {
    throw new Error(`onnxruntime-web runs on '${deviceAdapterName(device)}', texad on '${adapter}'`);
  }
  // Outputs are left on the GPU ('gpu-buffer'); a timed run ends by downloading them, the one way to know that
  // ONNX Runtime has submitted and finished its work (megabytes, against seconds of convolution).
  const session = await ort.InferenceSession.create(readFileSync(onnx), {
    executionProviders: ['webgpu'],
    preferredOutputLocation: 'gpu-buffer',
  });
  const feeds = { image: new ort.Tensor('float32', inputData(), [1, 3, SIZE, SIZE]) };
  const first = await session.run(feeds);
  const names = c.taps;
  const values = await Promise.all(names.map(async (n) => (await first[n]!.getData(true)) as Float32Array));
  return {
    name: 'ort', roundsMs: [],
    about: `onnxruntime-web ${ort.env.versions.web ?? '?'} WebGPU EP on ${deviceAdapterName(device)}`,
    fingerprint: fingerprintOf(...values),
    sample: (n) => timed(n, async () => {
      const out = await session.run(feeds);
      await Promise.all(Object.values(out).map((t) => t.getData(true)));
    }),
    dispose: () => session.release(),
  };
}

async function pytorch(root: string, c: Case, weights: string): Promise<Contestant> {
  const script = join(root, 'tools', 'bench-backbones.py');
  const args = [script, c.arch, weights, '--taps', c.taps.join(','), '--size', String(SIZE)];
  // As for tools/bench-torch.py: large tensors are recycled by malloc instead of mmap'd and faulted in every pass.
  const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: '1073741824' };
  const run = (iterations: number) =>
    JSON.parse(execFileSync(PYTHON, [...args, '--iterations', String(iterations)], { encoding: 'utf8', env })) as
      { ms: number[]; fingerprint: [number, number]; torch: string; threads: number };
  const probe = run(0);
  return {
    name: 'torch', roundsMs: [],
    about: `PyTorch ${probe.torch} CPU, ${probe.threads} threads`,
    fingerprint: probe.fingerprint,
    sample: async (n) => median(run(n).ms),
    dispose: async () => {},
  };
}

/** One case's figures: per contestant the median ms over rounds, images/s, and texad's per-round speed-ups. */
export interface CaseResult {
  arch: BackboneName;
  taps: string[];
  usedBy: string;
  /** Contestant -> version and device. */
  contestants: Partial<Record<Contestant['name'], string>>;
  ms: Partial<Record<Contestant['name'], number>>;
  imagesPerSecond: Partial<Record<Contestant['name'], number>>;
  speedup: { vs_ort?: number; vs_torch?: number };
  floorVsOrt?: { required: number; pass: boolean | null };
  skipped: Partial<Record<Contestant['name'], string>>;
}

async function runCase(rt: Runtime, root: string, c: Case, plan: Plan, log: (l: string) => void): Promise<CaseResult> {
  const res: CaseResult = {
    arch: c.arch, taps: c.taps, usedBy: c.usedBy, contestants: {}, ms: {}, imagesPerSecond: {}, speedup: {},
    skipped: {},
  };
  const { weights, onnx } = files(root, c);
  const contestants: Contestant[] = [await texad(rt, c, weights, log)];
  const reference = contestants[0]!.fingerprint;
  const a = rt.gpu.adapter;
  const adapter = `${a.description || a.device} (${a.vendor})`;
  const peers = [['ort', () => onnxRuntime(c, onnx, adapter)], ['torch', () => pytorch(root, c, weights)]] as const;
  for (const [name, make] of peers) {
    try {
      const peer = await make();
      const differs = fingerprintMismatch(peer.fingerprint, reference);
      if (differs) {
        res.skipped[name] = differs;
        await peer.dispose();
      } else contestants.push(peer);
    } catch (err) {
      res.skipped[name] = (err as Error).message;
    }
  }
  for (const ct of contestants) res.contestants[ct.name] = ct.about;
  try {
    await interleavedRounds(
      contestants,
      plan.rounds,
      (ct) => ct.sample(plan.iterations),
      async (ct, err) => {
        await ct.dispose();
        if (ct.name === 'texad') throw err;
        res.skipped[ct.name] = `failed while timed: ${err.message}`;
      },
      (r) => {
        const last = contestants.map((ct) => `${ct.name} ${ct.roundsMs.at(-1)!.toFixed(0)} ms`);
        log(`${c.arch} round ${r + 1}/${plan.rounds}: ${last.join(', ')}`);
      },
    );
  } finally {
    for (const ct of contestants) await ct.dispose();
  }
  const texadMs = contestants[0]!.roundsMs;
  for (const ct of contestants) {
    const m = median(ct.roundsMs);
    res.ms[ct.name] = m;
    res.imagesPerSecond[ct.name] = 1000 / m;
    if (ct.name !== 'texad') res.speedup[`vs_${ct.name}`] = perRoundSpeedup(ct.roundsMs, texadMs);
  }
  if (c.floorVsOrt !== undefined) {
    const s = res.speedup.vs_ort;
    res.floorVsOrt = { required: c.floorVsOrt, pass: s === undefined ? null : s >= c.floorVsOrt };
  }
  return res;
}

export interface BackboneBenchReport {
  date: string;
  size: number;
  rounds: number;
  iterations: number;
  cases: CaseResult[];
}

/** Rounds per case, and forward passes per contestant and round (their median is the round's sample). */
interface Plan {
  rounds: number;
  iterations: number;
}

export interface BackboneBenchOptions extends Partial<Plan> {
  /** Dawn's disable_robustness toggle for texad and onnxruntime-web alike. */
  disableRobustness?: boolean;
  /** Backbone names to run; all cases when absent or empty. */
  only?: string[];
  /** Progress lines (stderr from the command line). */
  log?: (line: string) => void;
}

/** Runs the cases and returns every figure; texad's device comes first, then the peers' navigator.gpu. */
export async function runBackboneBench(opts: BackboneBenchOptions = {}): Promise<BackboneBenchReport> {
  const log = opts.log ?? (() => {});
  const plan: Plan = { rounds: opts.rounds ?? 3, iterations: opts.iterations ?? 1 };
  const unknown = (opts.only ?? []).filter((n) => !CASES.some((c) => c.arch === n));
  if (unknown.length > 0) {
    throw new Error(`no backbone case ${unknown.join(', ')} (cases: ${CASES.map((c) => c.arch).join(', ')})`);
  }
  const cases = opts.only?.length ? CASES.filter((c) => opts.only!.includes(c.arch)) : CASES;
  const root = packageRoot();
  const rt = await Runtime.create({ disableRobustness: opts.disableRobustness ?? false });
  // onnxruntime-web takes navigator.gpu: a second Dawn instance of this process, installed after texad's device
  // with the same flags (the ones device.ts passes for disableRobustness).
  await installDawnNavigator(opts.disableRobustness ? ['enable-dawn-features=disable_robustness'] : []);
  const report: BackboneBenchReport = { date: new Date().toISOString(), size: SIZE, ...plan, cases: [] };
  try {
    for (const c of cases) report.cases.push(await runCase(rt, root, c, plan, log));
  } finally {
    await rt.destroy();
  }
  return report;
}

function fmt(v: number | undefined, digits = 3): string {
  return v === undefined ? '-' : v.toPrecision(digits);
}

/** The report as a table: images/s per contestant and texad's speed-ups. */
export function formatBackboneReport(r: BackboneBenchReport): string {
  const about = r.cases[0]?.contestants ?? {};
  const lines = [
    `backbones forward, batch 1, ${r.size}x${r.size}, ${r.date}`,
    ...Object.entries(about).map(([k, v]) => `  ${k}: ${v}`),
    `median of ${r.rounds} interleaved rounds (${r.iterations} pass(es) each); images/s`,
    'backbone           taps            texad    ort    torch   vs ort  vs torch  used by',
  ];
  for (const c of r.cases) {
    const ips = c.imagesPerSecond;
    const rates = `${fmt(ips.texad).padStart(6)} ${fmt(ips.ort).padStart(6)} ${fmt(ips.torch).padStart(7)}`;
    const ratios = `${fmt(c.speedup.vs_ort).padStart(6)}x ${fmt(c.speedup.vs_torch).padStart(7)}x`;
    lines.push(`${c.arch.padEnd(18)} ${c.taps.join(',').padEnd(15)} ${rates}  ${ratios}  ${c.usedBy}`);
    for (const [k, v] of Object.entries(c.skipped)) lines.push(`  ${k} skipped: ${v}`);
    if (c.floorVsOrt) {
      const verdict = c.floorVsOrt.pass === null ? 'not measured' : c.floorVsOrt.pass ? 'met' : 'MISSED';
      lines.push(`  floor: texad >= ${c.floorVsOrt.required}x onnxruntime-web: ${verdict}`);
    }
  }
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const report = await runBackboneBench({
    only: flag('cases')?.split(','),
    rounds: flag('rounds') ? Number(flag('rounds')) : undefined,
    iterations: flag('iterations') ? Number(flag('iterations')) : undefined,
    log: (l) => console.error(l),
  });
  console.log(args.includes('--json') ? JSON.stringify(report, null, 2) : formatBackboneReport(report));
}
