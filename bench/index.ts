// The benchmark harness: runs each case on texad and on same-run peers (onnxruntime-web and tfjs on the same Dawn
// adapter in this process, PyTorch on the CPU in a child process), interleaving their samples round by round
// because this class of machine drifts by up to 2x over minutes. Ratios come from samples taken side by side.
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { VERSION } from '../src/generated/meta.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { fingerprintMismatch, interleavedRounds, loadWithholdsVerdict, median, packageRoot, perRoundSpeedup } from './harness.ts';
import { formatBackboneReport, runBackboneBench, type BackboneBenchReport } from './backbones.ts';
import { draemSuite } from './draem.ts';
import { pyramidFlowSuite } from './pyramidflow.ts';
import { formatDecodeReport, runDecodeBench, type DecodeBenchReport } from './decode.ts';
import { elementwiseSuite } from './kernels-elementwise.ts';
import { gemmRelativeFloors, gemmSuite } from './kernels-gemm.ts';
import { reduceSuite } from './kernels-reduce.ts';
import { runMetricsBench, type MetricsBenchReport } from './metrics.ts';
import { installDawnNavigator, pacePeerWaits } from './peers/dawn.ts';
import { opLabel, opWork, type Metric, type OpSpec, type Runner } from './peers/ops.ts';
import { ortAdapter, ortRunner, ortVersion } from './peers/ort.ts';
import { tfjsAdapter, tfjsRunner, tfjsVersion } from './peers/tfjs.ts';
import { TorchPeer } from './peers/torch.ts';
import { ortWasmRunner } from './peers/ort-wasm.ts';
import { wasmGemmRunner, wasmThreads } from './peers/wasm-gemm.ts';

export type ContestantName = 'texad' | 'ort' | 'tfjs' | 'torch' | 'wasm' | 'ort_wasm';
/**
 * `wasm` is texad's WebAssembly SIMD GEMM prototype (assembly/gemm.ts) and `ort_wasm` onnxruntime-web's wasm EP,
 * both on the CPU with wasmThreads() threads: the measured answer on a CPU path (README "Benchmarks"). Both run
 * matmul and the batch-1 stride-1 conv2d.
 */
const PEERS = ['ort', 'tfjs', 'torch', 'wasm', 'ort_wasm'] as const;
/** Peers on the same WebGPU adapter as texad; the floors compare against the faster of these. */
const GPU_PEERS = ['ort', 'tfjs'] as const;

/** One benchmarked op: what every contestant runs, and how texad runs it. */
export interface BenchCase {
  spec: OpSpec;
  texad(rt: Runtime): Runner | Promise<Runner>;
  /** Minimum texad speed-up over the faster same-adapter WebGPU peer that the project commits to. */
  floorVsFasterPeer?: number;
}

/** A family of cases, e.g. elementwise or gemm. */
export interface Suite {
  name: string;
  /** Its cases; `quick` (`--quick`) lets a suite of whole networks keep to its cheap ones. */
  cases(quick: boolean): BenchCase[];
}

/** A floor across two texad cases, e.g. conv2d backward within 2.5x of its forward. */
export interface RelativeFloor {
  name: string;
  /** opLabel of the slower case and of the reference case. */
  slow: string;
  reference: string;
  /** slow's time may be at most this multiple of reference's time. */
  maxTimeRatio: number;
}

const SUITES: Suite[] = [elementwiseSuite, reduceSuite, gemmSuite, draemSuite, pyramidFlowSuite];
const RELATIVE_FLOORS: RelativeFloor[] = [...gemmRelativeFloors];

/** The AUROC suite of bench/metrics.ts: CPU only, with its own harness and report. */
const METRICS_SUITE = 'metrics';
/** Image decoding on the calling thread against worker threads (bench/decode.ts): CPU only, its own harness. */
const DECODE_SUITE = 'decode';

/** Every suite `--suite` accepts. */
/**
 * Backbone forward passes (bench/backbones.ts): minutes per network and PyTorch exports the weights, so it runs
 * only when named (`--suite backbones`).
 */
const BACKBONES_SUITE = 'backbones';

export function suiteNames(): string[] {
  return [...SUITES.map((s) => s.name), METRICS_SUITE, DECODE_SUITE, BACKBONES_SUITE];
}

/** Suites that run only when named: whole networks, minutes each on a CPU adapter. */
const ON_REQUEST = [BACKBONES_SUITE, draemSuite.name, pyramidFlowSuite.name];

/** The suites run when none is named: all but those of ON_REQUEST. */
function defaultSuites(): string[] {
  return suiteNames().filter((s) => !ON_REQUEST.includes(s));
}

export type BenchWaits = 'shipped' | 'paced' | 'busy';
export const BENCH_WAITS: readonly BenchWaits[] = ['shipped', 'paced', 'busy'];

/** texad's pacedPolling option for a --waits mode: off for 'busy', else the adapter's default. */
function texadPacingFor(waits: BenchWaits | undefined): false | undefined {
  return waits === 'busy' ? false : undefined;
}

export interface BenchOptions {
  /** Suite names; all but backbones, draem and pyramidflow when empty. */
  suites?: string[];
  /** The backbones suite's networks (bench/backbones.ts cases); all when absent or empty. */
  backbones?: string[];
  /** Fewer and shorter rounds: checks that everything runs; the figures are rough. */
  quick?: boolean;
  /** Dawn's disable_robustness toggle for texad and for the peers alike. */
  disableRobustness?: boolean;
  /**
   * How the contestants on the GPU wait for their device at the end of a timed batch (kernel suites; the
   * backbones suite sets texad's side only). 'shipped' (default): as each ships, texad pacing Dawn's polls on CPU
   * adapters (src/runtime/paced-polling.ts) and the peers polling busily as Dawn does; 'paced': the peers' waits
   * paced too, so that only the kernels differ; 'busy': texad polls busily too.
   */
  waits?: BenchWaits;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface ContestantResult {
  /** Median time of one op over the rounds, ms. */
  ms: number;
  /** GFLOP/s or GB/s at that median time. */
  rate: number;
  /** Ops per timed sample (batched so that one sample lasts tens of ms). */
  batch: number;
  /** Median time of one op in each round, ms, in round order. */
  roundsMs: number[];
}

export interface CaseResult {
  name: string;
  spec: OpSpec;
  metric: Metric;
  /** FLOPs or bytes of one op. */
  work: number;
  results: Partial<Record<ContestantName, ContestantResult>>;
  /** Why a contestant has no result (op not supported, peer unavailable, wrong output). */
  skipped: Partial<Record<ContestantName, string>>;
  /**
   * texad's speed-up over each peer and over the faster WebGPU peer: the median over rounds of
   * peer time / texad time within the same round. Above 1 means texad is faster.
   */
  speedup: Partial<Record<`vs_${Exclude<ContestantName, 'texad'>}` | 'vs_faster_gpu_peer', number>>;
  /**
   * The WebAssembly prototype's speed-up (medians of per-round time ratios) over texad's WGSL on this adapter and
   * over onnxruntime-web's wasm EP, when it ran.
   */
  wasmPrototype?: { vsTexadWgsl: number; vsOrtWasm?: number };
}

export interface FloorResult {
  name: string;
  required: string;
  measured: number | null;
  /** null: not measured, or withheld (see BenchReport.verdictWithheld). */
  pass: boolean | null;
}

export interface BenchReport {
  texad: string;
  date: string;
  node: string;
  /** The host: this machine class is shared and drifts, so the load around the run is part of the record. */
  machine: { cpu: string; cores: number; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  adapter: { texad: string; ort?: string; tfjs?: string };
  disableRobustness: boolean;
  /** BenchOptions.waits, and whether texad's device paced its polls in the end (only CPU adapters do by default). */
  waits: BenchWaits;
  texadPacedPolling: boolean;
  quick: boolean;
  peers: { ort?: string; tfjs?: string; torch?: string; unavailable: Record<string, string> };
  /** Threads of the two CPU wasm contestants (wasm, ort_wasm). */
  wasmThreads: number;
  method: string;
  suites: Array<{ name: string; cases: CaseResult[] }>;
  floors: FloorResult[];
  /**
   * Set when the load average at the start or the end exceeded the core count: every floor's `pass` (and the
   * metrics floors) is then null and this says why.
   */
  verdictWithheld?: string;
  /** bench/metrics.ts's report, when the metrics suite ran. */
  metrics?: MetricsBenchReport;
  /** bench/decode.ts's report, when the decode suite ran. */
  decode?: DecodeBenchReport;
  /** bench/backbones.ts's report, when the backbones suite ran. */
  backbones?: BackboneBenchReport;
}

interface Contestant {
  name: ContestantName;
  /** How progress lines name it: the contestant, or the case when texad's two cases are timed together. */
  label: string;
  runner: Runner;
  batch: number;
  roundsMs: number[];
}

interface Plan {
  rounds: number;
  sampleBudgetMs: number;
  minSamples: number;
  targetSampleMs: number;
}

/** Times to run per contestant and round; quick mode is for CI and smoke checks, not for numbers. */
function plan(quick: boolean): Plan {
  return quick
    ? { rounds: 2, sampleBudgetMs: 150, minSamples: 1, targetSampleMs: 10 }
    : { rounds: 5, sampleBudgetMs: 600, minSamples: 3, targetSampleMs: 25 };
}

/** Wall time of one run(1) in ms, or the contestant's own measurement when it reports one. */
async function timeOnce(runner: Runner): Promise<number> {
  const start = performance.now();
  const own = await runner.run(1);
  return own ? own.overriddenDuration : performance.now() - start;
}

/** One round's median time per op for one contestant, measured by tinybench. */
async function sample(c: Contestant, budgetMs: number, minSamples: number): Promise<number> {
  const bench = new Bench({ time: budgetMs, iterations: minSamples, warmup: false, throws: true });
  // An async function: tinybench calls any other function once, un-awaited, to see whether it returns a promise,
  // and a second overlapping run deadlocks onnxruntime-web (one session.run at a time).
  bench.add(c.name, async () => c.runner.run(c.batch));
  const [task] = await bench.run();
  const result = task!.result;
  if (!('latency' in result)) throw new Error(`texad bench: ${c.name} produced no samples (${result.state})`);
  return result.latency.p50 / c.batch;
}

interface Peers {
  torch: TorchPeer | null;
  unavailable: Record<string, string>;
}

async function prepareContestants(rt: Runtime, c: BenchCase, peers: Peers, res: CaseResult): Promise<Contestant[]> {
  const texad = await c.texad(rt);
  const reference = await texad.fingerprint();
  const contestants: Contestant[] = [{ name: 'texad', label: 'texad', runner: texad, batch: 1, roundsMs: [] }];
  const makers: Record<(typeof PEERS)[number], () => Promise<Runner | null>> = {
    ort: () => ortRunner(c.spec, peers.torch ? (spec) => peers.torch!.exportOnnx(spec) : undefined),
    tfjs: () => tfjsRunner(c.spec),
    torch: async () => (peers.torch ? peers.torch.runner(c.spec) : null),
    wasm: () => wasmGemmRunner(c.spec),
    ort_wasm: () => ortWasmRunner(c.spec),
  };
  for (const name of PEERS) {
    if (peers.unavailable[name]) {
      res.skipped[name] = peers.unavailable[name];
      continue;
    }
    try {
      const runner = await makers[name]();
      if (!runner) {
        // The wasm contestants exist for the GEMM cases only: elsewhere their absence is no news.
        if (name !== 'wasm' && name !== 'ort_wasm') res.skipped[name] = 'op not supported by this peer';
        continue;
      }
      const mismatch = fingerprintMismatch(await runner.fingerprint(), reference);
      if (mismatch) {
        await runner.dispose();
        res.skipped[name] = mismatch;
        continue;
      }
      contestants.push({ name, label: name, runner, batch: 1, roundsMs: [] });
    } catch (err) {
      res.skipped[name] = `failed: ${(err as Error).message}`;
    }
  }
  return contestants;
}

/**
 * Warms each contestant up and sizes its batch, then samples them round by round in rotated order (so no contestant
 * always runs right after the same neighbour). A contestant that throws is removed and handed to `dropped`, which
 * may rethrow; the others keep one time per round.
 */
async function timeInterleaved(
  contestants: Contestant[],
  p: Plan,
  dropped: (ct: Contestant, err: Error) => void,
  roundDone: (round: number) => void,
): Promise<void> {
  for (const ct of contestants) {
    await ct.runner.run(1); // pipelines, buffer pools, allocator warm-up
    ct.batch = Math.min(1000, Math.max(1, Math.round(p.targetSampleMs / Math.max(1e-3, await timeOnce(ct.runner)))));
  }
  await interleavedRounds(
    contestants,
    p.rounds,
    (ct) => sample(ct, p.sampleBudgetMs, p.minSamples),
    async (ct, err) => {
      await ct.runner.dispose();
      dropped(ct, err);
    },
    roundDone,
  );
}

function roundLine(what: string, round: number, p: Plan, contestants: Contestant[]): string {
  return `  ${what} round ${round + 1}/${p.rounds}: ` +
    contestants.map((ct) => `${ct.label} ${ct.roundsMs.at(-1)!.toPrecision(3)} ms`).join(', ');
}

async function runCase(rt: Runtime, c: BenchCase, peers: Peers, p: Plan, log: (l: string) => void): Promise<CaseResult> {
  const { metric, amount } = opWork(c.spec);
  const res: CaseResult = { name: opLabel(c.spec), spec: c.spec, metric, work: amount, results: {}, skipped: {}, speedup: {} };
  const contestants = await prepareContestants(rt, c, peers, res);
  try {
    await timeInterleaved(
      contestants,
      p,
      (ct, err) => {
        if (ct.name === 'texad') throw err;
        res.skipped[ct.name] = `failed while timed: ${err.message}`;
      },
      (round) => log(roundLine(res.name, round, p, contestants)),
    );
  } finally {
    for (const ct of contestants) await ct.runner.dispose();
  }
  for (const ct of contestants) {
    const ms = median(ct.roundsMs);
    res.results[ct.name] = { ms, rate: amount / (ms * 1e6), batch: ct.batch, roundsMs: ct.roundsMs };
  }
  const texadMs = res.results.texad!.roundsMs;
  for (const name of PEERS) {
    const peer = res.results[name];
    if (peer) res.speedup[`vs_${name}`] = perRoundSpeedup(peer.roundsMs, texadMs);
  }
  const proto = res.results.wasm;
  if (proto) {
    const ortWasm = res.results.ort_wasm;
    res.wasmPrototype = {
      vsTexadWgsl: perRoundSpeedup(texadMs, proto.roundsMs),
      ...(ortWasm ? { vsOrtWasm: perRoundSpeedup(ortWasm.roundsMs, proto.roundsMs) } : {}),
    };
  }
  const gpuPeers = GPU_PEERS.map((n) => res.results[n]).filter((r): r is ContestantResult => r !== undefined);
  if (gpuPeers.length > 0) {
    res.speedup.vs_faster_gpu_peer = median(texadMs.map((t, r) => Math.min(...gpuPeers.map((g) => g.roundsMs[r]!)) / t));
  }
  return res;
}

function peerFloors(ran: Array<{ c: BenchCase; res: CaseResult }>): FloorResult[] {
  return ran.filter(({ c }) => c.floorVsFasterPeer !== undefined).map(({ c, res }) => {
    const measured = res.speedup.vs_faster_gpu_peer ?? null;
    return {
      name: `${res.name}: texad vs the faster WebGPU peer`,
      required: `>= ${c.floorVsFasterPeer}x`,
      measured,
      pass: measured === null ? null : measured >= c.floorVsFasterPeer!,
    };
  });
}

/**
 * Times texad's two cases of a relative floor in alternation, as the peers are timed within a case, so that the
 * machine's drift cancels out of their ratio (the cases themselves ran minutes apart). Null unless both ran.
 */
async function relativeFloor(
  rt: Runtime,
  f: RelativeFloor,
  ran: Array<{ c: BenchCase; res: CaseResult }>,
  p: Plan,
  log: (l: string) => void,
): Promise<FloorResult | null> {
  const slow = ran.find(({ res }) => res.name === f.slow)?.c;
  const ref = ran.find(({ res }) => res.name === f.reference)?.c;
  if (!slow || !ref) return null;
  log(`floor: ${f.name}`);
  const pair: Contestant[] = [];
  try {
    for (const [c, label] of [[slow, f.slow], [ref, f.reference]] as const) {
      pair.push({ name: 'texad', label, runner: await c.texad(rt), batch: 1, roundsMs: [] });
    }
    const [a, b] = pair as [Contestant, Contestant];
    await timeInterleaved(pair, p, (_, err) => { throw err; }, (round) => log(roundLine(f.name, round, p, [a, b])));
    const measured = perRoundSpeedup(a.roundsMs, b.roundsMs);
    return { name: f.name, required: `time <= ${f.maxTimeRatio}x`, measured, pass: measured <= f.maxTimeRatio };
  } finally {
    for (const ct of pair) await ct.runner.dispose();
  }
}

/** Opens texad's device, then the peers' navigator.gpu with the same Dawn flags, and checks they share the adapter. */
async function startContestants(opts: BenchOptions, report: BenchReport, log: (l: string) => void): Promise<{ rt: Runtime; peers: Peers }> {
  const rt = await Runtime.create({ disableRobustness: report.disableRobustness, pacedPolling: texadPacingFor(report.waits) });
  report.texadPacedPolling = rt.gpu.pacedPolling;
  pacePeerWaits(report.waits === 'paced');
  const texadAdapter = `${rt.gpu.adapter.description || rt.gpu.adapter.device} (${rt.gpu.adapter.vendor})`;
  report.adapter = { texad: texadAdapter };
  const peers: Peers = { torch: null, unavailable: report.peers.unavailable };
  try {
    // The flag texad's device.ts passes for disableRobustness, so both Dawn instances run with the same toggles.
    await installDawnNavigator(opts.disableRobustness ? ['enable-dawn-features=disable_robustness'] : []);
    for (const [name, version, adapter] of [['ort', ortVersion, ortAdapter], ['tfjs', tfjsVersion, tfjsAdapter]] as const) {
      try {
        report.peers[name] = await version();
        report.adapter[name] = await adapter();
      } catch (err) {
        peers.unavailable[name] = `could not start: ${(err as Error).message}`;
        log(`${name} peer unavailable: ${peers.unavailable[name]}`);
        continue;
      }
      if (report.adapter[name] !== texadAdapter) {
        throw new Error(`texad bench: ${name} runs on '${report.adapter[name]}', texad on '${texadAdapter}'; ` +
          'the comparison needs one adapter (give both the same Dawn flags, e.g. adapter=...)');
      }
    }
    try {
      peers.torch = await TorchPeer.start(join(packageRoot(), 'tools', 'bench-torch.py'));
      report.peers.torch = peers.torch.version;
    } catch (err) {
      peers.unavailable.torch = `${(err as Error).message}; install python3-torch or set TEXAD_BENCH_PYTHON`;
      log(`PyTorch peer unavailable: ${peers.unavailable.torch}`);
    }
  } catch (err) {
    await rt.destroy();
    throw err;
  }
  return { rt, peers };
}

/**
 * Runs the selected suites and returns every figure. Acquires texad's device first, then gives the peers a
 * navigator.gpu on a second Dawn instance with the same flags, and refuses to run if a peer's adapter differs.
 * The metrics suite (bench/metrics.ts, CPU only) runs its own harness and is embedded as it reports.
 */
export async function runBench(opts: BenchOptions = {}): Promise<BenchReport> {
  const log = opts.log ?? (() => {});
  const quick = opts.quick ?? false;
  const wanted = opts.suites?.length ? opts.suites : defaultSuites();
  for (const name of wanted) {
    if (!suiteNames().includes(name)) throw new Error(`unknown suite '${name}' (suites: ${suiteNames().join(', ')})`);
  }
  const selected = SUITES.filter((s) => wanted.includes(s.name));
  const report: BenchReport = {
    texad: VERSION,
    date: new Date().toISOString(),
    node: process.version,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAverageAtStart: loadavg(), loadAverageAtEnd: [] },
    adapter: { texad: '-' },
    disableRobustness: opts.disableRobustness ?? false,
    waits: opts.waits ?? 'shipped',
    texadPacedPolling: false,
    quick,
    peers: { unavailable: {} },
    wasmThreads: wasmThreads(),
    method:
      'per case and round, each contestant is sampled by tinybench in turn (order rotated per round); a sample runs ' +
      'a batch of ops and waits for the device; figures are medians over rounds; speed-ups are medians of ' +
      'per-round time ratios; a floor across two texad cases times those two in alternation. Peers on the GPU keep ' +
      'inputs and outputs on the device.',
    suites: [],
    floors: [],
  };
  if (selected.length > 0) {
    const { rt, peers } = await startContestants(opts, report, log);
    const p = plan(quick);
    try {
      const ran: Array<{ c: BenchCase; res: CaseResult }> = [];
      for (const suite of selected) {
        const cases: CaseResult[] = [];
        for (const c of suite.cases(quick)) {
          log(`${suite.name}: ${opLabel(c.spec)}`);
          const res = await runCase(rt, c, peers, p, log);
          cases.push(res);
          ran.push({ c, res });
        }
        report.suites.push({ name: suite.name, cases });
      }
      report.floors = peerFloors(ran);
      for (const f of RELATIVE_FLOORS) {
        const floor = await relativeFloor(rt, f, ran, p, log);
        if (floor) report.floors.push(floor);
      }
    } finally {
      peers.torch?.close();
      await rt.destroy();
    }
  }
  if (wanted.includes(METRICS_SUITE)) {
    log('metrics: AUROC against Float32Array.sort and scikit-learn (bench/metrics.ts)');
    report.metrics = await runMetricsBench({ sizes: quick ? [1e6] : undefined, log });
  }
  if (wanted.includes(DECODE_SUITE)) {
    log('decode: 1024² PNG and JPEG on the calling thread and in worker threads (bench/decode.ts)');
    report.decode = await runDecodeBench({ ...(quick ? { images: 2, rounds: 2 } : {}), log });
  }
  if (wanted.includes(BACKBONES_SUITE)) {
    log('backbones: forward passes against onnxruntime-web and PyTorch (bench/backbones.ts)');
    report.backbones = await runBackboneBench({
      only: opts.backbones,
      rounds: quick ? 2 : 3,
      disableRobustness: opts.disableRobustness,
      pacedPolling: texadPacingFor(opts.waits),
      log,
    });
  }
  report.machine.loadAverageAtEnd = loadavg();
  const withheld = loadWithholdsVerdict(report.machine.loadAverageAtStart, report.machine.loadAverageAtEnd, report.machine.cores);
  if (withheld) {
    report.verdictWithheld = withheld;
    for (const f of report.floors) f.pass = null;
    if (report.metrics) for (const k of Object.keys(report.metrics.floors) as Array<keyof MetricsBenchReport['floors']>) report.metrics.floors[k] = null;
  }
  return report;
}

function fmt(v: number | undefined): string {
  return v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

/** bench/metrics.ts's figures: texad's exact AUROC against a Float32Array.sort AUROC and scikit-learn, by CPU time. */
function formatMetrics(m: MetricsBenchReport, withheld: boolean): string[] {
  const lines = [`metrics (AUROC by CPU time; peer: ${m.sklearn}):`, '         n  texad ms  x TS sort  x sklearn'];
  for (const row of m.auroc) {
    lines.push(`${row.n.toExponential(0).padStart(10)}  ${fmt(row.texad.cpuMs).padStart(8)}  ${fmt(row.vsTsSort).padStart(9)}` +
      `  ${fmt(row.vsSklearn ?? undefined).padStart(9)}`);
  }
  const verdict = (v: boolean | null) => (v === null ? (withheld ? 'no verdict' : 'not measured') : v ? 'pass' : 'FAIL');
  lines.push(`  metrics floors: ${Object.entries(m.floors).map(([k, v]) => `${k} ${verdict(v)}`).join(', ')}`);
  return lines;
}

/** The report as a plain-text table: rates per contestant, then texad's speed-ups, then the floors. */
export function formatReport(r: BenchReport): string {
  const lines = [
    `texad ${r.texad} bench, ${r.date}, node ${r.node}${r.quick ? ', quick' : ''}`,
    `machine: ${r.machine.cpu}, ${r.machine.cores} cores, load average ${r.machine.loadAverageAtStart.map((l) => l.toFixed(1)).join(' ')} ` +
      `at start, ${r.machine.loadAverageAtEnd.map((l) => l.toFixed(1)).join(' ')} at end`,
    `adapter: ${r.adapter.texad}${r.disableRobustness ? ', robustness disabled' : ''} (peers verified on the same adapter)`,
    `waits: ${r.waits} (texad ${r.texadPacedPolling ? 'paces' : 'does not pace'} Dawn's polls; the peers ` +
      `${r.waits === 'paced' ? 'pace theirs too' : 'poll busily, as Dawn does'})`,
    `peers: onnxruntime-web ${r.peers.ort ?? '-'} (WebGPU EP), tfjs ${r.peers.tfjs ?? '-'} (webgpu), ` +
      `PyTorch CPU ${r.peers.torch ?? '-'}; on the CPU with ${r.wasmThreads} threads: texad's wasm GEMM prototype, ` +
      `onnxruntime-web ${r.peers.ort ?? ''} wasm EP`,
    ...Object.entries(r.peers.unavailable).map(([k, v]) => `  ${k} unavailable: ${v}`),
    '',
  ];
  const header = ['case', 'unit', 'texad', 'ort', 'tfjs', 'torch', 'wasm', 'ort_wasm', 'x ort', 'x tfjs', 'x torch', 'x faster GPU peer'];
  const rows: string[][] = [];
  for (const s of r.suites) {
    for (const c of s.cases) {
      rows.push([
        `${s.name}: ${c.name}`,
        c.metric,
        ...(['texad', ...PEERS] as const).map((n) => fmt(c.results[n]?.rate)),
        ...(['vs_ort', 'vs_tfjs', 'vs_torch', 'vs_faster_gpu_peer'] as const).map((k) => fmt(c.speedup[k])),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  lines.push(line(header), ...rows.map(line));
  const notes = r.suites.flatMap((s) => s.cases.flatMap((c) =>
    Object.entries(c.skipped).map(([k, why]) => `  ${c.name}: ${k} skipped: ${why}`)));
  if (notes.length) lines.push('', ...notes);
  const protos = r.suites.flatMap((s) => s.cases.filter((c) => c.wasmPrototype).map((c) =>
    `  ${c.name}: ${fmt(c.wasmPrototype!.vsTexadWgsl)}x texad's WGSL, ${fmt(c.wasmPrototype!.vsOrtWasm)}x onnxruntime-web wasm`));
  if (protos.length) lines.push('', `texad's WebAssembly GEMM prototype (${r.wasmThreads} threads; above 1: the prototype is faster):`, ...protos);
  if (r.metrics) lines.push('', ...formatMetrics(r.metrics, r.verdictWithheld !== undefined));
  if (r.decode) lines.push('', formatDecodeReport(r.decode));
  if (r.backbones) lines.push('', formatBackboneReport(r.backbones));
  if (r.floors.length) {
    lines.push('', 'floors:');
    if (r.verdictWithheld) lines.push(`  ${r.verdictWithheld}`);
    for (const f of r.floors) {
      const verdict = r.verdictWithheld ? 'no verdict' : f.pass === null ? 'NOT MEASURED' : f.pass ? 'pass' : 'FAIL';
      lines.push(`  ${f.name}: required ${f.required}, measured ${f.measured === null ? '-' : f.measured.toFixed(2)}x: ${verdict}`);
    }
  }
  return lines.join('\n');
}
