// MSFlow against a PyTorch reference of the official blocks (tools/golden/msflow.py): latents, log-dets, loss,
// gradients, the clipped gradient norm and one Adam step on a tiny three-scale instance.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MSFlowModel, nllLoss, positionalEncoding2d } from '../src/methods/msflow/model.ts';
import { backward } from '../src/runtime/autograd.ts';
import { Adam, clipGradNorm } from '../src/runtime/optim.ts';
import { writeModule } from '../src/nn/layers.ts';
import { assertClose, gpuRuntime, type GoldenArray } from './helpers/gpu.ts';

interface Fixture {
  dims: { channels: number[]; grids: number[]; conds: number[]; blocks: number[]; clamp: number; seed: number; batch: number;
    lr: number; maxNorm: number };
  feats: GoldenArray[]; conds: GoldenArray[]; latents: GoldenArray[]; logdet: GoldenArray; loss: number; gradNorm: number;
  initial: Record<string, GoldenArray>; grads: Record<string, GoldenArray>;
  torchFloat32GradError: Record<string, number>; updated: Record<string, GoldenArray>;
}

const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/golden/msflow.json', import.meta.url)), 'utf8')) as Fixture;
const d = fixture.dims;
const asValues = (o: Record<string, GoldenArray>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }]));

describe('MSFlow against the official blocks (PyTorch reference)', () => {
  it('positional encoding equals utils.positionalencoding2d', () => {
    for (const [i, c] of fixture.conds.entries()) {
      const one = c.data.slice(0, c.data.length / d.batch);
      assertClose(positionalEncoding2d(d.conds[i]!, d.grids[i]!, d.grids[i]!), one, `condition ${i}`, { rtol: 1e-5, atol: 1e-6 });
    }
  });

  it('forward, log-det, loss, gradients, clipped norm and one Adam step match within 1e-4', async () => {
    const rt = await gpuRuntime();
    const model = new MSFlowModel(rt, d.channels, { condChannels: d.conds, blocks: d.blocks, clampAlpha: d.clamp, seed: d.seed });
    try {
      writeModule(model, asValues(fixture.initial), 'msflow parity');
      const params = model.trainable();
      expect(params.map((p) => p.name).sort()).toEqual(Object.keys(fixture.initial).sort());
      const opt = new Adam(params, { lr: d.lr });
      await rt.tidyAsync(async () => {
        const feats = fixture.feats.map((f) => rt.tensor(f.data, f.shape));
        const conds = fixture.conds.map((c) => rt.tensor(c.data, c.shape));
        const { out, logdet } = model.forward(feats, conds);
        for (const [i, z] of out.entries()) assertClose(await z.read(), fixture.latents[i]!.data, `latent ${i}`);
        assertClose(await logdet.read(), fixture.logdet.data, 'log-det');
        const loss = nllLoss(out, logdet);
        assertClose(await loss.read(), [fixture.loss], 'loss');
        backward(loss);
        for (const { name, tensor } of params) {
          const expected = fixture.grads[name]!.data;
          // 1e-4, or twice PyTorch's own float32 error on this gradient where that is larger: the fusion nets' first
          // conv sits under a LayerNorm over only 5 channels whose backward amplifies float32 rounding (PyTorch float32
          // vs float64: 1.0e-4 of the tensor's largest value; texad measured 1.1e-4; every other gradient <= 2e-5).
          const allowed = Math.max(1e-4, 2 * fixture.torchFloat32GradError[name]!);
          const tol = allowed > 1e-4 ? { rtol: allowed, atol: allowed * Math.max(...expected.map(Math.abs)) } : {};
          assertClose(await tensor.grad!.read(), expected, `grad ${name}`, tol);
        }
        const norm = clipGradNorm(params, d.maxNorm);
        assertClose(await norm.read(), [fixture.gradNorm], 'gradient norm');
        opt.step();
        for (const { name, tensor } of params) assertClose(await tensor.read(), fixture.updated[name]!.data, `after Adam ${name}`);
      });
      opt.dispose();
    } finally {
      model.dispose();
    }
  });
});
