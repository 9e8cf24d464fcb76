// Network forward throughput at 256x256, batch 1 (images/s): texad, onnxruntime-web's WebGPU EP on the same Dawn
// adapter in this process, and PyTorch on the CPU (2 threads), on the same weights and input. Samples are
// interleaved round by round (machines of this class drift by up to 2x over minutes); speed-ups are medians of
// per-round time ratios. The cases are the baselines' backbones and EfficientAD-S's whole inference
// (`efficientad_s`: teacher + student + autoencoder + the normalised, padded, upsampled map).
//
//   texad bench --suite backbones [--backbones wide_resnet50_2,pdn_small,efficientad_s] [--quick] [--json]
//   node dist/bench/backbones.js [--cases efficientad_s] [--rounds 3] [--iterations 1] [--size 256] [--json]
//   node dist/bench/backbones.js --prepare-only [--cases ...] [--size 256]
// (the second form, after a build, sets rounds, passes per round and, for smoke checks only, a smaller image; the
// timing loop is bench/harness.ts's. The third writes the cases' files, times nothing and prints their paths
// relative to the package root, one a line: tools/gpu-bench.sh prepare ships them).
//
// Backbones: tools/export-weights.py --random-init 0 writes the safetensors file texad and PyTorch load and the ONNX
// graph onnxruntime-web runs. efficientad_s: texad writes a seeded EfficientAD-S state (random pdn_small teacher,
// student, autoencoder, fixed normalisation and map quantiles) and tools/bench-efficientad.py builds the same
// network in PyTorch, exports its ONNX graph and times it. Everything is cached under .texad-cache/bench/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBackbone, type Backbone, type BackboneName } from '../src/backbones/index.ts';
import { decodeDetectorState, encodeDetectorState } from '../src/methods/checkpoint.ts';
import type { DetectorState } from '../src/methods/detector.ts';
import { EfficientAd } from '../src/methods/efficientad/index.ts';
import { tuneWhile } from '../src/runtime/autotune.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { deviceAdapterName, installDawnNavigator } from './peers/dawn.ts';
import { fingerprintMismatch, interleavedRounds, median, packageRoot, perRoundSpeedup } from './harness.ts';
import { fingerprintOf } from './peers/ops.ts';
import { loadOrt } from './peers/ort.ts';
import { torchPeerEnv } from './peers/torch.ts';

const PYTHON = process.env['TEXAD_BENCH_PYTHON'] ?? '/usr/bin/python3';
/** The image size of the published figures (the papers' 256 x 256); `--size` changes it for smoke checks. */
const SIZE = 256;

/** What a case's contestants load, written once under .texad-cache/bench/. */
interface CaseFiles {
  /** texad's weights: a backbone's safetensors, or EfficientAD's detector state. */
  weights: string;
  onnx: string;
  /** The PyTorch timing command (a script and its arguments; `--iterations N` is appended). */
  torch: string[];
  /**
   * efficientad_s: the teacher's weights, from the cache (the state records the path it was written with, which a
   * cache copied to another machine by tools/gpu-bench.sh no longer has).
   */
  teacher?: string;
}

interface Case {
  /** A backbone name, or `efficientad_s`. */
  name: string;
  /** The outputs, as the ONNX graph names them. */
  taps: string[];
  /** Which baseline runs this network this far. */
  usedBy: string;
  /** Minimum texad speed-up over onnxruntime-web the project commits to. */
  floorVsOrt?: number;
  files(root: string, rt: Runtime, size: number): Promise<CaseFiles>;
  /** texad's run: `once` computes the outputs (on the device, or read back when the API returns them on the CPU). */
  texad(rt: Runtime, files: CaseFiles, input: Float32Array, size: number): Promise<TexadRun>;
}

interface TexadRun {
  /** One forward pass, finished on the device. */
  once(): Promise<void>;
  /** The outputs of one pass, read back (for the fingerprint). */
  outputs(): Promise<Float32Array[]>;
  dispose(): void;
}

function backboneCase(arch: BackboneName, taps: string[], usedBy: string, floorVsOrt?: number): Case {
  return {
    name: arch, taps, usedBy, ...(floorVsOrt !== undefined ? { floorVsOrt } : {}),
    files: async (root, _rt, size) => backboneFiles(root, arch, taps, size),
    async texad(rt, files, input, size) {
      const bb: Backbone = await loadBackbone(rt, arch, { weights: files.weights, taps });
      const x = rt.tensor(input, [1, 3, size, size]).keep();
      return {
        async once() {
          rt.tidy(() => void bb.forward(x));
          await rt.sync();
        },
        outputs: () => rt.tidyAsync(async () => {
          const out = bb.forward(x);
          return Promise.all(bb.taps.map((t) => out[t]!.read()));
        }),
        dispose() {
          bb.dispose();
          x.dispose();
        },
      };
    },
  };
}

const CASES: Case[] = [
  backboneCase('wide_resnet50_2', ['layer2', 'layer3'], 'SimpleNet, MSFlow', 2),
  backboneCase('resnet18', ['layer1'], 'PyramidFlow'),
  backboneCase('resnet152', ['layer4'], 'Mean-Shift'),
  backboneCase('pdn_small', ['out'], 'EfficientAD-S teacher'),
  backboneCase('pdn_medium', ['out'], 'EfficientAD-M teacher'),
  efficientAdCase(),
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
function inputData(size: number): Float32Array {
  return Float32Array.from({ length: 3 * size * size }, (_, i) => (Math.sin(i) + 1) / 2);
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

function cacheDir(root: string): string {
  const dir = join(root, '.texad-cache', 'bench');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A backbone's safetensors weights and ONNX graph, exported once by tools/export-weights.py. */
function backboneFiles(root: string, arch: BackboneName, taps: string[], size: number): CaseFiles {
  const dir = cacheDir(root);
  const weights = join(dir, `${arch}.safetensors`);
  const onnx = join(dir, `${arch}-${taps.join('+')}-${size}.onnx`);
  if (!existsSync(weights) || !existsSync(onnx)) {
    const args = [join(root, 'tools', 'export-weights.py'), arch, '--random-init', '0', '--out', weights,
      '--onnx', onnx, '--taps', taps.join(','), '--onnx-size', String(size)];
    execFileSync(PYTHON, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return { weights, onnx, torch: [join(root, 'tools', 'bench-backbones.py'), arch, weights, '--taps', taps.join(','), '--size', String(size)] };
}

/** The map quantiles of the benchmarked EfficientAD state: fixed values of the raw maps' order of magnitude. */
const BENCH_QUANTILES = { stLow: 0.5, stHigh: 2, aeLow: 0.05, aeHigh: 0.5 };

/**
 * EfficientAD-S inference as texad's EfficientAd.predict runs it (teacher + student + autoencoder, the map
 * arithmetic, padding, upsampling, read back with the image score), against the same network exported by
 * tools/bench-efficientad.py. The state is the paper preset with a seeded random pdn_small teacher (the backbone
 * case's file), seeded student and autoencoder, and a fixed teacher normalisation and map quantiles: speed does
 * not depend on the values.
 */
function efficientAdCase(): Case {
  const restored = async (rt: Runtime, teacher: string, size: number, state?: DetectorState) => {
    const det = await EfficientAd.create(rt, { preset: 'paper', teacher, config: { image_size: size } });
    const s = state ?? await det.state();
    if (!state) {
      const c = det.config.out_channels;
      s.tensors['teacher_mean'] = { shape: [c], data: Float32Array.from({ length: c }, (_, i) => Math.sin(i)) };
      s.tensors['teacher_std'] = { shape: [c], data: Float32Array.from({ length: c }, (_, i) => 1 + 0.5 * Math.cos(i)) };
      s.training['map_quantiles'] = BENCH_QUANTILES;
    }
    await det.restore(s);
    return { det, state: s };
  };
  return {
    name: 'efficientad_s', taps: ['map'], usedBy: 'EfficientAD-S inference (T + S + AE + map)', floorVsOrt: 2,
    async files(root, rt, size) {
      const teacher = backboneFiles(root, 'pdn_small', ['out'], size).weights;
      const dir = cacheDir(root);
      const weights = join(dir, `efficientad_s-${size}.safetensors`);
      const onnx = join(dir, `efficientad_s-${size}.onnx`);
      if (!existsSync(weights)) {
        const { det, state } = await restored(rt, teacher, size);
        det.dispose();
        writeFileSync(weights, encodeDetectorState(state, { teacher }));
      }
      const script = join(root, 'tools', 'bench-efficientad.py');
      if (!existsSync(onnx)) execFileSync(PYTHON, [script, teacher, weights, '--onnx', onnx], { stdio: ['ignore', 'ignore', 'inherit'] });
      return { weights, onnx, torch: [script, teacher, weights], teacher };
    },
    async texad(rt, files, input, size) {
      const state = await decodeDetectorState(readFileSync(files.weights), files.weights);
      const { det } = await restored(rt, files.teacher!, size, state);
      const batch = { images: input, count: 1, height: size, width: size };
      return {
        once: async () => void await det.predict(batch),
        outputs: async () => [(await det.predict(batch)).maps!],
        dispose: () => det.dispose(),
      };
    },
  };
}

async function texad(rt: Runtime, c: Case, files: CaseFiles, size: number, log: (l: string) => void): Promise<Contestant> {
  const run = await c.texad(rt, files, inputData(size), size);
  // Kernel variants are tuned once per adapter, as an application would; winners persist across runs.
  log(`${c.name}: tuning kernel variants (slow only the first time on an adapter)`);
  await tuneWhile(rt, () => run.once());
  const fingerprint = fingerprintOf(...await run.outputs());
  return {
    name: 'texad', roundsMs: [],
    about: rt.gpu.describe(),
    fingerprint,
    sample: (n) => timed(n, () => run.once()),
    dispose: async () => run.dispose(),
  };
}

/** onnxruntime-web on the same adapter as texad (`adapter`, as deviceAdapterName writes it), else an error. */
async function onnxRuntime(c: Case, onnx: string, adapter: string, size: number): Promise<Contestant> {
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
  const feeds = { image: new ort.Tensor('float32', inputData(size), [1, 3, size, size]) };
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

async function pytorch(args: string[]): Promise<Contestant> {
  // As for tools/bench-torch.py: large tensors are recycled by malloc instead of mmap'd and faulted in every pass.
  const env = torchPeerEnv();
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
  name: string;
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
    name: c.name, taps: c.taps, usedBy: c.usedBy, contestants: {}, ms: {}, imagesPerSecond: {}, speedup: {},
    skipped: {},
  };
  const files = await c.files(root, rt, plan.size);
  const contestants: Contestant[] = [await texad(rt, c, files, plan.size, log)];
  const reference = contestants[0]!.fingerprint;
  const a = rt.gpu.adapter;
  const adapter = `${a.description || a.device} (${a.vendor})`;
  const peers = [['ort', () => onnxRuntime(c, files.onnx, adapter, plan.size)], ['torch', () => pytorch(files.torch)]] as const;
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
        log(`${c.name} round ${r + 1}/${plan.rounds}: ${last.join(', ')}`);
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
  /** Image side, 256 unless a smoke check asks for less (EfficientAD needs a multiple of 32, at least 64). */
  size: number;
}

export interface BackboneBenchOptions extends Partial<Plan> {
  /** Dawn's disable_robustness toggle for texad and onnxruntime-web alike. */
  disableRobustness?: boolean;
  /** GpuOptions.pacedPolling for texad's device; false: it polls busily like the peers (bench --waits busy). */
  pacedPolling?: boolean;
  /** Backbone names to run; all cases when absent or empty. */
  only?: string[];
  /** Progress lines (stderr from the command line). */
  log?: (line: string) => void;
}

/** The cases named in `only` (all when absent or empty); an unknown name throws with the list. */
function selectCases(only: string[] | undefined): Case[] {
  const unknown = (only ?? []).filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(`no backbone case ${unknown.join(', ')} (cases: ${CASES.map((c) => c.name).join(', ')})`);
  }
  return only?.length ? CASES.filter((c) => only.includes(c.name)) : CASES;
}

/**
 * Writes every file the selected cases load (weights, ONNX graphs) under .texad-cache/bench/, timing nothing, and
 * returns their paths relative to the package root. tools/gpu-bench.sh ships them to a GPU machine that may lack
 * PyTorch (which exports them); texad's own device is needed for efficientad_s's state.
 */
export async function prepareBackboneFiles(opts: Pick<BackboneBenchOptions, 'only' | 'size'> = {}): Promise<string[]> {
  const root = packageRoot();
  const rt = await Runtime.create();
  const paths = new Set<string>();
  try {
    for (const c of selectCases(opts.only)) {
      const f = await c.files(root, rt, opts.size ?? SIZE);
      for (const p of [f.weights, f.onnx, ...(f.teacher ? [f.teacher] : [])]) paths.add(relative(root, p));
    }
  } finally {
    await rt.destroy();
  }
  return [...paths];
}

/** Runs the cases and returns every figure; texad's device comes first, then the peers' navigator.gpu. */
export async function runBackboneBench(opts: BackboneBenchOptions = {}): Promise<BackboneBenchReport> {
  const log = opts.log ?? (() => {});
  const plan: Plan = { rounds: opts.rounds ?? 3, iterations: opts.iterations ?? 1, size: opts.size ?? SIZE };
  const cases = selectCases(opts.only);
  const root = packageRoot();
  const rt = await Runtime.create({ disableRobustness: opts.disableRobustness ?? false, pacedPolling: opts.pacedPolling });
  // onnxruntime-web takes navigator.gpu: a second Dawn instance of this process, installed after texad's device
  // with the same flags (the ones device.ts passes for disableRobustness).
  await installDawnNavigator(opts.disableRobustness ? ['enable-dawn-features=disable_robustness'] : []);
  const report: BackboneBenchReport = { date: new Date().toISOString(), ...plan, cases: [] };
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
    lines.push(`${c.name.padEnd(18)} ${c.taps.join(',').padEnd(15)} ${rates}  ${ratios}  ${c.usedBy}`);
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
  const only = flag('cases')?.split(',');
  const size = flag('size') ? Number(flag('size')) : undefined;
  if (args.includes('--prepare-only')) {
    console.log((await prepareBackboneFiles({ only, size })).join('\n'));
  } else {
    const report = await runBackboneBench({
      only,
      rounds: flag('rounds') ? Number(flag('rounds')) : undefined,
      iterations: flag('iterations') ? Number(flag('iterations')) : undefined,
      size,
      log: (l) => console.error(l),
    });
    console.log(args.includes('--json') ? JSON.stringify(report, null, 2) : formatBackboneReport(report));
  }
}
