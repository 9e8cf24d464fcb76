import type { Command } from './main.ts';
import { boolFlag, parseArgs, stringFlag, UsageError } from './args.ts';

export const command: Command = {
  summary: 'benchmark texad kernels against onnxruntime-web, tfjs (same WebGPU adapter) and PyTorch (CPU)',
  help: `usage: texad bench [--json] [--suite NAME[,NAME...]] [--backbones NAME[,NAME...]] [--quick] [--disable-robustness]
                   [--waits shipped|paced|busy]

Times each suite's ops on texad and, in the same run, on onnxruntime-web's WebGPU EP and tfjs's WebGPU backend
(same Dawn adapter, same process) and on PyTorch's CPU backend (/usr/bin/python3 tools/bench-torch.py).
The gemm suite's matmul and conv2d also run on the CPU in WebAssembly: texad's SIMD GEMM prototype and
onnxruntime-web's wasm EP, one thread per core (README "Benchmarks": a CPU path or not).
Samples are interleaved round by round; speed-ups are medians of per-round time ratios. Progress goes to stderr.
  --json                print every figure, the peers' figures, the speed-ups, floors, adapter, date and version
  --suite NAME          run only these suites (comma-separated); without it every suite but 'backbones' and
                        'draem' (a DRAEM training step beside PyTorch; inference beside PyTorch and
                        onnxruntime-web, which runs PyTorch's ONNX export of the two networks) runs; suites:
                        elementwise, reduce, gemm, draem, metrics (AUROC), decode (1024² PNG/JPEG decode and
                        resize, calling thread vs worker threads), backbones, pyramidflow (one PyramidFlow
                        training step beside PyTorch; like backbones and draem, it runs only when named)
  --backbones NAMES     the backbones suite's networks (default all: wide_resnet50_2, resnet18, resnet152,
                        pdn_small, pdn_medium, efficientad_s); 'backbones' times forward passes at 256x256
                        against onnxruntime-web and PyTorch, exporting weights with tools/export-weights.py once;
                        efficientad_s is EfficientAD-S's whole inference (teacher + student + autoencoder + map,
                        tools/bench-efficientad.py exports it)
  --quick               fewer and shorter rounds, and of pyramidflow only its quick-preset case (for CI and
                        smoke checks, not for published numbers)
  --disable-robustness  turn off Dawn's bounds-check transforms for texad and the peers alike
  --waits MODE          how the GPU contestants wait for their device after a timed batch. shipped (default):
                        as each ships; texad sleeps between Dawn's polls on CPU adapters (lavapipe), the peers
                        poll busily as Dawn does, taking a core from lavapipe. paced: the peers' waits sleep too,
                        so only the kernels differ. busy: texad polls busily too (the backbones suite applies
                        this mode to texad only)`,
  async run(argv) {
    const args = parseArgs(argv);
    if (args.positional.length > 0) throw new UsageError(`unexpected argument '${args.positional[0]}'`);
    const known = new Set(['json', 'suite', 'backbones', 'quick', 'disable-robustness', 'waits']);
    for (const flag of args.flags.keys()) if (!known.has(flag)) throw new UsageError(`unknown option --${flag}`);
    // The harness lives in bench/ and pulls in the peers (onnxruntime-web, tfjs): load it only for this command.
    const { runBench, formatReport, suiteNames, BENCH_WAITS } = await import('../../bench/index.ts');
    const waits = args.flags.has('waits') ? stringFlag(args, 'waits') : 'shipped';
    if (!(BENCH_WAITS as readonly string[]).includes(waits)) {
      throw new UsageError(`--waits must be one of ${BENCH_WAITS.join(', ')}, got '${waits}'`);
    }
    const suites = args.flags.has('suite') ? stringFlag(args, 'suite').split(',').filter(Boolean) : [];
    // Naming networks implies their suite.
    if (args.flags.has('backbones') && !suites.includes('backbones')) suites.push('backbones');
    for (const s of suites) {
      if (!suiteNames().includes(s)) throw new UsageError(`unknown suite '${s}' (suites: ${suiteNames().join(', ')})`);
    }
    const report = await runBench({
      suites,
      backbones: args.flags.has('backbones') ? stringFlag(args, 'backbones').split(',').filter(Boolean) : undefined,
      quick: boolFlag(args, 'quick'),
      disableRobustness: boolFlag(args, 'disable-robustness'),
      waits: waits as (typeof BENCH_WAITS)[number],
      log: (line) => console.error(line),
    });
    console.log(boolFlag(args, 'json') ? JSON.stringify(report, null, 2) : formatReport(report));
    return 0;
  },
};
