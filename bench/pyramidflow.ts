// PyramidFlow suite: one training step of the encoder-free flow (src/methods/pyramidflow, the method's own Flow,
// trainStep and optimizer) beside PyTorch on the CPU (tools/bench-torch.py, which runs the parity golden's model,
// tools/golden/pyramidflow.py bench_step), from seeded hash weights both sides rebuild. onnxruntime-web and tfjs do
// not train whole networks here. Run only when named: `texad bench --suite pyramidflow`.
import { Initializer, type Module } from '../src/nn/layers.ts';
import { PAPER, QUICK } from '../src/methods/pyramidflow/config.ts';
import { Flow, SemiInvertibleConv } from '../src/methods/pyramidflow/model.ts';
import { flowOptimizer, trainStep } from '../src/methods/pyramidflow/train.ts';
import type { Runtime } from '../src/runtime/runtime.ts';
import { formatShape } from '../src/runtime/tensor.ts';
import type { BenchCase, Suite } from './index.ts';
import { hashUniform } from './peers/draem-weights.ts';
import { fingerprintOf, opInputs, type PyramidFlowSpec, type Runner } from './peers/ops.ts';

/**
 * tools/golden/pyramidflow.py hashed_weights, tensor by tensor from its official name, with u = 2 hashUniform(name) - 1
 * in [-1, 1) (the name-keyed hash of the DRAEM case, tools/draem_torch.py hash_uniform in Python): affine conv.0
 * u / sqrt(fan_in) (PyTorch's default bound), conv.2 0.02 u (officially zero-initialised; non-zero here so that every
 * gradient path runs), LU w_l, w_u and w_s 0.1 u, w_p the identity, s_sign sign(u), inconv sqrt(3 / C) u (columns of
 * unit norm on average, as the official orthogonal init), VolumeNorm running means 0.
 */
export function pyramidFlowHashInit(...modules: Module[]): void {
  for (const m of modules) {
    for (const { name, tensor } of m.tensors()) {
      const [d0, d1, d2, d3] = tensor.shape as [number, number, number, number];
      const hashed = (scale: number) => Float32Array.from(hashUniform(name, tensor.size), (v) => scale * (2 * v - 1));
      let values: Float32Array;
      if (name.endsWith('.affineParams.conv.0.weight')) values = hashed(1 / Math.sqrt(d1 * d2 * d3));
      else if (name.endsWith('.affineParams.conv.2.weight')) values = hashed(0.02);
      else if (/\.conv1x1\.w_[lus]$/.test(name)) values = hashed(0.1);
      else if (name.endsWith('.conv1x1.w_p')) values = Float32Array.from({ length: tensor.size }, (_, i) => (i % (d0 + 1) === 0 ? 1 : 0));
      else if (name.endsWith('.conv1x1.s_sign')) values = hashed(1).map(Math.sign);
      else if (name.endsWith('.norm.running_mean')) values = new Float32Array(tensor.size);
      else if (name === 'inconv.weight') values = hashed(Math.sqrt(3 / d0));
      else {
        throw new Error(`bench/pyramidflow.ts: no hash rule for ${name} ${formatShape(tensor.shape)}; ` +
          'add one here and in tools/golden/pyramidflow.py hashed_weights');
      }
      tensor.rt.write(tensor, values);
    }
  }
}

/**
 * The case's runner: the flow and the frozen 1x1 conv from RGB under the hash weights, the method's optimizer with
 * the official settings (PAPER: lr 2e-4, betas (0.5, 0.9), eps 1e-4, weight decay 1e-5; clip 1) whatever the shape,
 * as the PyTorch side takes them from official train.py.
 */
export function pyramidFlowRunner(rt: Runtime, spec: PyramidFlowSpec): Runner {
  const init = new Initializer(0);
  const flow = new Flow(rt, spec.numChannel, spec.x_size, spec.numLayer, spec.numStack, spec.kernelSize, spec.volumeNorm, init);
  const inconv = new SemiInvertibleConv(rt, spec.numChannel, init);
  pyramidFlowHashInit(flow, inconv);
  // Images in [0, 1] as the method reads them: (v + 1) / 2 of the shared inputs in [-1, 1].
  const x = rt.tensor(opInputs(spec)['x']!.data.map((v) => (v + 1) / 2), [spec.n, 3, spec.x_size, spec.x_size]).keep();
  const params = flow.trainable();
  const adam = flowOptimizer(params, PAPER);
  flow.train();
  // One step as fit() takes it: features, pyramid, flow, then the loss, backward, clip and Adam. Returns the loss.
  const once = () => trainStep(flow.forwardFeatures(inconv.forward(x)), params, adam, PAPER.max_norm);
  return {
    async run(iterations) {
      for (let i = 0; i < iterations; i++) rt.tidy(() => void once());
      await rt.sync();
    },
    // The loss of the current weights: taken first, before any timed step, by texad and by the peer alike, it is
    // the loss of the shared initial weights.
    fingerprint: () => rt.tidyAsync(async () => fingerprintOf(await once().read())),
    dispose() {
      adam.dispose();
      x.dispose();
      flow.dispose();
      inconv.dispose();
    },
  };
}

function pyramidFlowCase(spec: PyramidFlowSpec): BenchCase {
  return { spec, texad: (rt) => pyramidFlowRunner(rt, spec) };
}

/**
 * The official encoder-free configuration (numLayer 4, kernelSize 7, numChannel 16, CVN) at a sixteenth of its step:
 * one of its four stacks ([FB2(0), down(2), up(0), FB2(1)]: every block kind, the official channel widths and
 * kernels) on 128 px instead of 256, 22 GFLOP a step against the official 351. The official step is too long for
 * rounds of samples on a CPU adapter: one stack at 256 px (88 GFLOP) took 44-66 s a texad step on lavapipe here,
 * one at 128 px 12-17 s (2026-12-03, load average 4-6). The four stacks repeat the same blocks and every conv scales
 * with the pixels, so the official step costs about 16x this one on either side.
 */
const PAPER_FRACTION: PyramidFlowSpec = {
  op: 'pyramidflow_step', n: 2, x_size: 128, numLayer: PAPER.numLayer, numStack: 1, kernelSize: PAPER.kernelSize,
  numChannel: PAPER.numChannel, volumeNorm: PAPER.volumeNorm,
};

/**
 * The quick preset's flow (64 px, 4 levels, 1 stack, k5, 3 channels, SVN): what `texad run --preset quick` trains
 * (its input normalisation, a blur and a per-plane standardisation of each image, is not part of the timed step).
 */
const QUICK_SHAPE: PyramidFlowSpec = {
  op: 'pyramidflow_step', n: 2, x_size: QUICK.x_size, numLayer: QUICK.numLayer, numStack: QUICK.numStack,
  kernelSize: QUICK.kernelSize, numChannel: QUICK.numChannel, volumeNorm: QUICK.volumeNorm,
};

export const pyramidFlowSuite: Suite = {
  name: 'pyramidflow',
  // --quick checks that the suite runs: the quick preset's shape only, a fraction of a second a step.
  cases: (quick) => (quick ? [QUICK_SHAPE] : [PAPER_FRACTION, QUICK_SHAPE]).map(pyramidFlowCase),
};
