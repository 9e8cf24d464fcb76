// tools/export-weights.py round trip (PyTorch .pth -> safetensors -> texad, equal outputs) and `texad features`.
// The round trip needs Debian's python3-torch; without it those tests are skipped with the reason.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { initKey, loadBackbone, type BackboneName } from '../src/backbones/index.ts';
import { main } from '../src/cli/main.ts';
import { tapPath } from '../src/cli/features.ts';
import { loadImage } from '../src/data/loader.ts';
import { encodePng } from '../src/data/encode.ts';
import { SafetensorsReader } from '../src/io/safetensors.ts';
import { readNpy } from '../src/io/npy.ts';
import { cpuUniform } from '../src/ops/random.ts';
import { shapeSize } from '../src/runtime/tensor.ts';
import { assertClose, gpuRuntime } from './helpers/gpu.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../tools/golden/backbones.py', import.meta.url));
const SEED = 2024; // tools/golden/backbones.py SEED
const dir = mkdtempSync(join(tmpdir(), 'texad-backbones-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const torchCheck = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
const noTorch = torchCheck.status === 0 ? '' : `${PYTHON} with torch and torchvision is not available`;

/** Runs the CLI, capturing what it prints. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe.skipIf(noTorch !== '')(`tools/export-weights.py round trip${noTorch ? ` (skipped: ${noTorch})` : ''}`, () => {
  it('converts torchvision, nelson1425 and anomalib checkpoints that texad then runs like PyTorch', async () => {
    const run = spawnSync(PYTHON, [SCRIPT, 'roundtrip', dir], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const rt = await gpuRuntime();
    for (const arch of ['resnet18', 'pdn_small', 'pdn_medium'] as BackboneName[]) {
      const expected = await SafetensorsReader.open(new Uint8Array(readFileSync(join(dir, `${arch}.expected.safetensors`))));
      const size = Number(expected.metadata['size']);
      const taps = expected.metadata['taps']!.split(',');
      const bb = await loadBackbone(rt, arch, { weights: join(dir, `${arch}.safetensors`), taps });
      try {
        const shape = [1, 3, size, size];
        await rt.tidyAsync(async () => {
          const out = bb.forward(rt.tensor(cpuUniform(initKey(SEED, 'input'), 0, shapeSize(shape)), shape));
          for (const tap of taps) {
            const want = await expected.read(`tap/${tap}`);
            let sq = 0;
            for (const v of want) sq += v * v;
            assertClose(await out[tap]!.read(), want, `${arch} ${tap}`, { rtol: 1e-3, atol: 1e-3 * Math.sqrt(sq / want.length) });
          }
        });
      } finally {
        bb.dispose();
      }
    }
  });
});

describe('texad features', () => {
  const image = join(dir, 'image.png');
  writeFileSync(image, encodePng(new Uint8Array(3 * 40 * 30).map((_, i) => (i * 37) % 256), 40, 30, 3));

  it('writes one float32 .npy per tap, equal to the library forward pass', async () => {
    const out = join(dir, 'feats.npy');
    const r = await cli(['features', '--backbone', 'resnet18', '--weights', 'random', '--seed', '3', '--layers', 'layer2,stem',
      '--image', image, '--size', '48', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`${tapPath(out, 'stem')}  stem [1, 64, 12, 12]`);
    const rt = await gpuRuntime();
    const bb = await loadBackbone(rt, 'resnet18', { weights: 'random', seed: 3, taps: ['stem', 'layer2'] });
    try {
      const img = await loadImage(image, { size: 48 });
      const want = await rt.tidyAsync(async () => bb.forward(rt.tensor(img.data, [1, 3, 48, 48]))['layer2']!.read());
      const got = readNpy(new Uint8Array(readFileSync(join(dir, 'feats_layer2.npy'))));
      expect(got.shape).toEqual([1, 128, 6, 6]);
      expect(got.data).toEqual(want);
    } finally {
      bb.dispose();
    }
  });

  it('explains missing weights, unknown backbones and files that are not images', async () => {
    const empty = join(dir, 'no-weights');
    const noWeights = await cli(['features', '--backbone', 'pdn_small', '--weights-dir', empty, '--image', image, '--out', join(dir, 'x.npy')]);
    expect(noWeights.code, noWeights.err).toBe(2);
    expect(noWeights.err).toContain(`no weights for pdn_small (${empty}/pdn_small.safetensors does not exist)`);
    expect(noWeights.err).toContain('python3 tools/export-weights.py pdn_small');
    const unknown = await cli(['features', '--backbone', 'vgg16', '--image', image, '--out', join(dir, 'x.npy')]);
    expect(unknown.err).toContain("unknown backbone 'vgg16'");
    const notImage = join(dir, 'weights.png');
    writeFileSync(notImage, 'not an image at all');
    const bad = await cli(['features', '--backbone', 'resnet18', '--weights', 'random', '--image', notImage, '--out', join(dir, 'x.npy')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(notImage);
  });
});
