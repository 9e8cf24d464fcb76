// Backbone parity with torchvision / EfficientAD's PDN (fixtures from tools/golden/backbones.py), the trainable
// path's gradients, random-init mode, the errors for checkpoints that do not fit, the tools/export-weights.py round
// trip (PyTorch .pth -> safetensors -> texad; needs Debian's python3-torch, skipped with the reason without it) and
// `texad features`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadBackbone, randomWeights, initKey, type BackboneName } from '../src/backbones/index.ts';
import { tapPath } from '../src/cli/features.ts';
import { main } from '../src/cli/main.ts';
import { encodePng } from '../src/data/encode.ts';
import { loadImage } from '../src/data/loader.ts';
import { readNpy } from '../src/io/npy.ts';
import { SafetensorsReader, encodeSafetensors } from '../src/io/safetensors.ts';
import { conv2d } from '../src/ops/conv2d.ts';
import { cpuUniform } from '../src/ops/random.ts';
import { backward } from '../src/runtime/autograd.ts';
import { shapeSize } from '../src/runtime/tensor.ts';
import type { RandomInit } from '../src/backbones/weights.ts';
import { fixtureWeights } from './helpers/fixture-weights.ts';
import { assertClose, gpuRuntime } from './helpers/gpu.ts';

const PYTHON = '/usr/bin/python3';
const GOLDEN = fileURLToPath(new URL('../tools/golden/backbones.py', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'texad-backbones-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


async function fixture(name: string): Promise<SafetensorsReader> {
  const url = new URL(`./fixtures/backbones/${name}.safetensors`, import.meta.url);
  return SafetensorsReader.open(new Uint8Array(readFileSync(fileURLToPath(url))));
}


function input(seed: number, shape: number[]): Float32Array {
  return cpuUniform(initKey(seed, 'input'), 0, shapeSize(shape));
}

/**
 * "Within 1e-3 relative": each element within 1e-3 of its reference value, with an absolute floor of 1e-3 of the
 * tap's RMS so that ReLU zeros and near-cancellations are compared on the tap's scale.
 */
function assertTap(actual: Float32Array, expected: Float32Array, what: string): void {
  let sq = 0;
  for (const v of expected) sq += v * v;
  assertClose(actual, expected, what, { rtol: 1e-3, atol: 1e-3 * Math.sqrt(sq / expected.length) });
}

describe('backbone parity with PyTorch (same weights, same input)', () => {
  const cases = ['resnet18', 'resnet18-zeromean', 'resnet50', 'wide_resnet50_2', 'resnet152', 'pdn_small', 'pdn_small-padded', 'pdn_medium'];
  for (const name of cases) {
    it(name, async () => {
      const rt = await gpuRuntime();
      const fx = await fixture(name);
      const { seed, size, batch, taps, padding, init } = fx.metadata as Record<string, string>;
      const arch = fx.metadata['arch'] as BackboneName;
      const tapList = taps!.split(',');
      const weights = fixtureWeights(Number(seed), (init ?? 'torchvision') as RandomInit);
      const bb = await loadBackbone(rt, arch, { weights, taps: tapList, padding: padding === 'true' });
      try {
        const shape = [Number(batch), 3, Number(size), Number(size)];
        await rt.tidyAsync(async () => {
          const out = bb.forward(rt.tensor(input(Number(seed), shape), shape));
          expect(Object.keys(out)).toEqual(tapList);
          for (const tap of tapList) {
            const expected = fx.tensors.get(`tap/${tap}`)!;
            expect(out[tap]!.shape, `${arch} ${tap} shape`).toEqual(expected.shape);
            expect(bb.outputShape(tap, [Number(size), Number(size)])).toEqual(expected.shape.slice(1));
            assertTap(await out[tap]!.read(), await fx.read(`tap/${tap}`), `${arch} ${tap}`);
          }
        });
      } finally {
        bb.dispose();
      }
    });
  }

  it('resnet18 with layer3/layer4 trainable (BatchNorm in eval mode): output and gradients', async () => {
    const rt = await gpuRuntime();
    const fx = await fixture('resnet18-train');
    const seed = Number(fx.metadata['seed']);
    const size = Number(fx.metadata['size']);
    const bb = await loadBackbone(rt, 'resnet18', {
      weights: fixtureWeights(seed), taps: ['layer4'], trainable: ['layer3', 'layer4'],
    });
    try {
      const params = new Map(bb.trainable().map((t) => [t.name, t.tensor]));
      // A checkpoint of the backbone holds the trainable tensors and the running statistics of their BatchNorms.
      expect(bb.tensors().map((t) => t.name).filter((n) => n.startsWith('layer3.0.bn1'))).toEqual([
        'layer3.0.bn1.weight', 'layer3.0.bn1.bias', 'layer3.0.bn1.running_mean', 'layer3.0.bn1.running_var',
      ]);
      expect(bb.training).toBe(false);
      const expectedKeys = [...fx.tensors.keys()].filter((k) => k.includes('grad/')).map((k) => k.slice(k.indexOf('/') + 1));
      expect([...params.keys()].sort()).toEqual(expectedKeys.sort());
      await rt.tidyAsync(async () => {
        const shape = [1, 3, size, size];
        const { layer4 } = bb.forward(rt.tensor(input(seed, shape), shape));
        assertTap(await layer4!.read(), await fx.read('tap/layer4'), 'trainable layer4');
        backward(layer4!, rt.tensor(cpuUniform(initKey(seed, 'grad_output'), 0, layer4!.size, -1, 1), layer4!.shape));
        for (const [key, p] of params) {
          const grad = await p.grad!.read();
          if (fx.tensors.has(`grad/${key}`)) {
            assertTap(grad, await fx.read(`grad/${key}`), `grad ${key}`);
            continue;
          }
          const direction = cpuUniform(initKey(seed, `direction/${key}`), 0, grad.length, -1, 1);
          let dot = 0;
          for (let i = 0; i < grad.length; i++) dot += grad[i]! * direction[i]!;
          const [expected] = await fx.read(`dgrad/${key}`);
          expect(Math.abs(dot - expected!), `directional grad ${key}: ${dot} vs ${expected}`)
            .toBeLessThan(2e-3 * Math.abs(expected!) + 1e-6);
        }
      });
      for (const p of params.values()) p.grad?.dispose();
    } finally {
      bb.dispose();
    }
  });
});

describe('random-init mode', () => {
  it('is seeded, independent of early exit, and draws torchvision\'s init', async () => {
    const rt = await gpuRuntime();
    const shape = [1, 3, 32, 32];
    const x = input(1, shape);
    const run = async (seed: number, taps: string[]) => {
      const bb = await loadBackbone(rt, 'resnet18', { weights: 'random', seed, taps });
      try {
        return await rt.tidyAsync(async () => bb.forward(rt.tensor(x, shape))['layer1']!.read());
      } finally {
        bb.dispose();
      }
    };
    const a = await run(5, ['layer1']);
    expect(await run(5, ['layer1', 'layer3'])).toEqual(a);
    expect(await run(6, ['layer1'])).not.toEqual(a);

    // layer1.0.conv1 of resnet18: kaiming_normal_(fan_out) = N(0, 2 / (64 * 3 * 3)).
    const w = await rt.tidyAsync(async () => {
      const std = Math.sqrt(2 / 576);
      const t = await randomWeights(5).read(rt, { key: 'layer1.0.conv1.weight', shape: [64, 64, 3, 3], init: { kind: 'normal', std } });
      return (t as { read(): Promise<Float32Array> }).read();
    });
    let sq = 0;
    for (const v of w) sq += v * v;
    expect(Math.sqrt(sq / w.length)).toBeCloseTo(Math.sqrt(2 / 576), 3);
  });
});

describe('nn Module contract', () => {
  it('train() gives trainable BatchNorms batch statistics and moves their running statistics (momentum 0.1)', async () => {
    const rt = await gpuRuntime();
    const shape = [2, 3, 16, 16];
    const x = input(2, shape);
    const bb = await loadBackbone(rt, 'resnet18', { weights: 'random', seed: 4, taps: ['stem'], trainable: ['stem'] });
    const frozen = await loadBackbone(rt, 'resnet18', { weights: 'random', seed: 4, taps: ['stem'] });
    try {
      expect(frozen.tensors()).toEqual([]);
      expect(bb.tensors().map((t) => t.name)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var']);
      const tensor = (name: string) => bb.tensors().find((t) => t.name === name)!.tensor;
      const evalOut = await rt.tidyAsync(async () => bb.forward(rt.tensor(x, shape))['stem']!.read());
      expect(Array.from(await tensor('bn1.running_mean').read()).every((v) => v === 0)).toBe(true);
      // The batch mean of conv1's output on the ImageNet-normalised input, by the conv op alone: the running
      // mean must move 10% towards it.
      const [mean, std] = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]];
      const normalized = x.map((v, i) => (v - mean[Math.floor(i / 256) % 3]!) / std[Math.floor(i / 256) % 3]!);
      const batchMean = await rt.tidyAsync(async () => {
        const y = await rt.noGrad(() => conv2d(rt.tensor(normalized, shape), tensor('conv1.weight'), null, { stride: 2, padding: 3 })).read();
        const plane = 8 * 8;
        return Array.from({ length: 64 }, (_, c) => {
          let sum = 0;
          for (let n = 0; n < 2; n++) for (let i = 0; i < plane; i++) sum += y[(n * 64 + c) * plane + i]!;
          return sum / (2 * plane);
        });
      });
      bb.train();
      expect(bb.training).toBe(true);
      const trainOut = await rt.tidyAsync(async () => bb.forward(rt.tensor(x, shape))['stem']!.read());
      assertClose(await tensor('bn1.running_mean').read(), batchMean.map((m) => 0.1 * m), 'bn1.running_mean after one step', { atol: 1e-5 });
      expect(trainOut).not.toEqual(evalOut);
      bb.eval();
      const again = await rt.tidyAsync(async () => bb.forward(rt.tensor(x, shape))['stem']!.read());
      expect(again).not.toEqual(trainOut);
    } finally {
      bb.dispose();
      frozen.dispose();
    }
  });
});

describe('checkpoints that do not fit', () => {
  const t = (shape: number[]) => ({ shape, data: new Float32Array(shapeSize(shape)) });

  it('names mis-shaped, missing and unexpected tensors (a resnet50 file for wide_resnet50_2)', async () => {
    const rt = await gpuRuntime();
    const bytes = encodeSafetensors({
      'conv1.weight': t([64, 3, 7, 7]), 'layer1.0.conv1.weight': t([64, 64, 1, 1]), 'head.w': t([2]),
    });
    await expect(loadBackbone(rt, 'wide_resnet50_2', { weights: bytes, taps: ['layer1'] })).rejects.toThrow(
      "safetensors bytes does not fit wide_resnet50_2: 1 tensors have other shapes ('layer1.0.conv1.weight' is " +
        "[64, 64, 1, 1] in the file but [128, 64, 1, 1] in wide_resnet50_2); 53 tensors are missing ('bn1.weight', " +
        "'bn1.bias', 'bn1.running_mean' and 50 more); 1 tensors are unexpected ('head.w'). Is it a checkpoint of " +
        'another architecture?',
    );
  });

  it('refuses a file exported for another architecture, and non-float tensors', async () => {
    const rt = await gpuRuntime();
    const other = encodeSafetensors({ 'conv1.weight': t([64, 3, 7, 7]) }, { 'texad.arch': 'resnet50' });
    await expect(loadBackbone(rt, 'resnet18', { weights: other }))
      .rejects.toThrow('safetensors bytes holds resnet50 weights, not resnet18');

    const pdn = [[128, 3, 4, 4], [128], [256, 128, 4, 4], [256], [256, 256, 3, 3], [256], [384, 256, 4, 4], [384]];
    const keys = [1, 2, 3, 4].flatMap((i) => [`conv${i}.weight`, `conv${i}.bias`]);
    const good = encodeSafetensors(keys.map((k, i) => [k, t(pdn[i]!)] as const));
    // Declare conv2.bias as I32 in the header: same byte size, another dtype.
    const bad = good.slice();
    const headerEnd = 8 + new DataView(bad.buffer).getUint32(0, true);
    const header = new TextDecoder().decode(bad.subarray(8, headerEnd));
    bad.set(new TextEncoder().encode(header.replace('"conv2.bias":{"dtype":"F32"', '"conv2.bias":{"dtype":"I32"')), 8);
    await expect(loadBackbone(rt, 'pdn_small', { weights: bad }))
      .rejects.toThrow("tensor 'conv2.bias' is I32; texad reads F32, F16 or BF16");
    await expect(loadBackbone(rt, 'pdn_medium', { weights: good })).rejects.toThrow('does not fit pdn_medium');
  });

  it('checks options: taps, trainable parts, input shape', async () => {
    const rt = await gpuRuntime();
    await expect(loadBackbone(rt, 'resnet18', { weights: 'random', taps: ['layer5'] })).rejects.toThrow(
      "resnet18 has no tap 'layer5'; choose from stem, layer1, layer2, layer3, layer4",
    );
    const untrained = loadBackbone(rt, 'resnet18', { weights: 'random', taps: ['layer2'], trainable: ['layer3'] });
    await expect(untrained).rejects.toThrow(
      "trainable part 'layer3' is not built for taps layer2",
    );
    const bb = await loadBackbone(rt, 'pdn_small', { weights: 'random' });
    try {
      expect(() => rt.tidy(() => bb.forward(rt.zeros([1, 3, 32, 32])))).toThrow("smaller than the network's receptive field");
      expect(() => rt.tidy(() => bb.forward(rt.zeros([1, 1, 64, 64])))).toThrow('needs images of shape [N, 3, H, W]');
    } finally {
      bb.dispose();
    }
  });
});

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
    const run = spawnSync(PYTHON, [GOLDEN, 'roundtrip', dir], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const rt = await gpuRuntime();
    for (const arch of ['resnet18', 'pdn_small', 'pdn_medium'] as BackboneName[]) {
      const expectedFile = new Uint8Array(readFileSync(join(dir, `${arch}.expected.safetensors`)));
      const expected = await SafetensorsReader.open(expectedFile);
      const size = Number(expected.metadata['size']);
      const taps = expected.metadata['taps']!.split(',');
      const bb = await loadBackbone(rt, arch, { weights: join(dir, `${arch}.safetensors`), taps });
      try {
        const shape = [1, 3, size, size];
        await rt.tidyAsync(async () => {
          const out = bb.forward(rt.tensor(input(Number(expected.metadata['seed']), shape), shape));
          for (const tap of taps) assertTap(await out[tap]!.read(), await expected.read(`tap/${tap}`), `${arch} ${tap}`);
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
    const out = join(dir, 'x.npy');
    const noWeights = await cli(['features', '--backbone', 'pdn_small', '--weights-dir', empty, '--image', image, '--out', out]);
    expect(noWeights.code, noWeights.err).toBe(2);
    expect(noWeights.err).toContain(`no weights for pdn_small (${empty}/pdn_small.safetensors does not exist)`);
    expect(noWeights.err).toContain('python3 tools/export-weights.py pdn_small');
    const unknown = await cli(['features', '--backbone', 'vgg16', '--image', image, '--out', out]);
    expect(unknown.err).toContain("unknown backbone 'vgg16'");
    const notImage = join(dir, 'weights.png');
    writeFileSync(notImage, 'not an image at all');
    const bad = await cli(['features', '--backbone', 'resnet18', '--weights', 'random', '--image', notImage, '--out', out]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(notImage);
  });
});
