// DRAEM suite: one training step of both networks and one inference pass at a small CPU shape (batch 8, 64 px,
// widths 4/4: the quick preset's batch and size at half its widths), and inference at the paper's 256 px with a quarter of
// its widths, from the seeded hash weights every contestant rebuilds (bench/peers/draem-weights.ts,
// tools/draem_torch.py). Peers: PyTorch on the CPU (tools/bench-torch.py) for both; for inference also
// onnxruntime-web's WebGPU EP running the two networks as PyTorch exports them to ONNX (TorchPeer.exportOnnx), on
// texad's adapter. tfjs runs no whole networks here. Run only when named: `texad bench --suite draem`.
import { Initializer } from '../src/nn/layers.ts';
import { backward } from '../src/runtime/autograd.ts';
import { Adam } from '../src/runtime/optim.ts';
import type { Runtime } from '../src/runtime/runtime.ts';
import { DiscriminativeSubNetwork, ReconstructiveSubNetwork } from '../src/methods/draem/model.ts';
import { draemInference, draemLoss } from '../src/methods/draem/train.ts';
import type { BenchCase, Suite } from './index.ts';
import { draemHashInit } from './peers/draem-weights.ts';
import { fingerprintOf, opInputs, type DraemSpec, type Runner } from './peers/ops.ts';

/** train_DRAEM.py's learning rate. */
const LR = 1e-4;

function draemRunner(rt: Runtime, spec: DraemSpec): Runner {
  const init = new Initializer(0);
  const rec = new ReconstructiveSubNetwork(rt, spec.base_width, init);
  const seg = new DiscriminativeSubNetwork(rt, spec.base_channels, init);
  draemHashInit('reconstructive', rec);
  draemHashInit('discriminative', seg);
  const inputs = opInputs(spec);
  const shape = [spec.n, 3, spec.size, spec.size];
  // Images in [0, 1] as DRAEM reads them: (v + 1) / 2 of the shared inputs in [-1, 1].
  const image = (name: string) => rt.tensor(inputs[name]!.data.map((v) => (v + 1) / 2), shape).keep();
  const x = image('x');
  const training = spec.op === 'draem_step';
  const a = training ? image('a') : null;
  const m = training ? rt.tensor(inputs['m']!.data.map((v) => (v > 0 ? 1 : 0)), [spec.n, 1, spec.size, spec.size]).keep() : null;
  const optimizer = training ? new Adam([...rec.trainable(), ...seg.trainable()], { lr: LR }) : null;
  rec.train(training);
  seg.train(training);
  // One step (returns the total loss) or one inference pass (returns map and scores).
  const once = () => {
    if (!training) return rt.noGrad(() => Object.values(draemInference(rec, seg, x, spec.pool)));
    const { total } = draemLoss(rec, seg, x, a!, m!, 2);
    backward(total);
    optimizer!.step();
    optimizer!.zeroGrad();
    return [total];
  };
  return {
    async run(iterations) {
      for (let i = 0; i < iterations; i++) rt.tidy(() => void once());
      await rt.sync();
    },
    // A step's fingerprint is its loss from the current weights: taken first, before any timed step, by texad and
    // by the peer alike, it is the loss of the shared initial weights.
    fingerprint: () => rt.tidyAsync(async () => fingerprintOf(...(await Promise.all(once().map((t) => t.read()))))),
    dispose() {
      optimizer?.dispose();
      for (const t of [x, a, m]) t?.dispose();
      rec.dispose();
      seg.dispose();
    },
  };
}

function draemCase(spec: DraemSpec): BenchCase {
  return { spec, texad: (rt) => draemRunner(rt, spec) };
}

/**
 * The quick preset's batch (8), size (64 px) and score pooling (5) at half its widths (4/4; the preset trains
 * 8/8 since 2026-12-03): the shape the README's figures were measured at.
 */
const QUICK_SHAPE = { n: 8, size: 64, base_width: 4, base_channels: 4, pool: 5 };
/**
 * Inference as test_DRAEM.py runs it (one image of 256 px, score pooling 21) at a quarter of the paper's widths
 * (32/16 instead of 128/64): 1/16 of the paper's conv FLOPs, 25 GFLOP per image (396 at full width), so a sample takes seconds on
 * a CPU adapter rather than a minute. The floor, inference at least 2x onnxruntime-web, is read here.
 */
const PAPER_QUARTER_WIDTH = { n: 1, size: 256, base_width: 32, base_channels: 16, pool: 21 };

export const draemSuite: Suite = {
  name: 'draem',
  cases: () => [
    draemCase({ op: 'draem_step', ...QUICK_SHAPE }),
    draemCase({ op: 'draem_predict', ...QUICK_SHAPE }),
    { ...draemCase({ op: 'draem_predict', ...PAPER_QUARTER_WIDTH }), floorVsFasterPeer: 2 },
  ],
};
