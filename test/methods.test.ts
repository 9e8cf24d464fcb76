// The conformance test every registered method passes by registering (issue 9): tiny fit → predict is finite with
// maps of the input size; state() → restore() predicts identically; a seed is reproducible; an aborted fit raises
// AbortError; a fit resumed from a checkpoint (through encode/decodeDetectorState) equals an uninterrupted one.
// Plus the registry's configuration parser and the CLI's resource planning (no GPU).
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHODS, defineMethod, type RegisteredMethod } from '../src/methods/index.ts';
import { AbortError, imagesInMemory, type Detector, type ImageBatch, type Prediction } from '../src/methods/detector.ts';
import { decodeDetectorState, encodeDetectorState } from '../src/methods/checkpoint.ts';
import { imagesOf } from '../src/methods/resources.ts';
import { anomalyMap, imageScores } from '../src/methods/components/anomaly-map.ts';
import { loadResources, planResources, weightsOrigins } from '../src/cli/resources.ts';
import { encodeSafetensors } from '../src/io/safetensors.ts';
import { backbonesText, type MethodResults } from '../src/report/results.ts';
import { main } from '../src/cli/main.ts';
import { encodePng } from '../src/data/encode.ts';
import { expectDetects } from './helpers/detection.ts';
import { gpuRuntime } from './helpers/gpu.ts';

/** A seeded striped texture with mild noise, CHW RGB in [0, 1]: a defect-free training image. */
function texture(side: number, seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(3 * side * side);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const x = i % side;
    out[i] = 0.5 + 0.15 * Math.sin(x * 0.8 + Math.floor(i / (side * side))) + 0.05 * (s / 2 ** 32);
  }
  return out;
}

function testBatch(side: number): ImageBatch {
  const images = new Float32Array(2 * 3 * side * side);
  images.set(texture(side, 100), 0);
  const defect = texture(side, 101);
  for (let y = side / 4; y < side / 2; y++) for (let x = side / 4; x < side / 2; x++) defect[y * side + x] = 1;
  images.set(defect, 3 * side * side);
  return { images, count: 2, height: side, width: side };
}

/**
 * Per method, overrides of its tinyConfig for the detection check: the least training with which the method finds
 * the planted defect, so the suite stays fast. Every registered method needs an entry: a configuration, or `pending`
 * with what was measured when no test-sized fit is known yet to find it (the check is then skipped, its reason
 * in the test name, until the method's owner supplies a configuration).
 */
const DETECTS: Record<string, Record<string, unknown> | { pending: string }> = {
  // 192/192/256 widths at 64 px and 8 passes, as test/simplenet-detection.test.ts (tinyConfig's 32-d features and
  // 2 passes, and the 128-wide quick widths, do not find it).
  simplenet: { pretrain_embed_dimension: 192, target_embed_dimension: 192, dsc_hidden: 256, meta_epochs: 2, gan_epochs: 4 },
  draem: { pending: 'tinyConfig (2 epochs, width 2) scores every image alike (0.4381)' },
  pyramidflow: {},
  efficientad: { pending: 'tinyConfig (2 steps) scores 5 of 6 images 0' },
  msflow: {},
  meanshift: { pending: 'tinyConfig and 64 px with 4 epochs rank one defective image below a normal one' },
};

for (const [name, method] of Object.entries(METHODS)) {
  describe(`method ${name}: conformance (tiny configuration)`, () => {
    const config = method.tinyConfig;
    const create = async (seed = 0): Promise<Detector> =>
      method.create(await gpuRuntime(), { preset: 'quick', seed, config });
    let side = 0;
    let train: ReturnType<typeof imagesInMemory>;
    let validation: ReturnType<typeof imagesInMemory>;
    let reference: { det: Detector; pred: Prediction; length: number };

    const fitOpts = () => (method.validation ? { validation } : {});
    /** `det` predicts exactly what the reference fit predicts. */
    const expectReference = async (det: Detector) => {
      const pred = await det.predict(testBatch(side));
      expect(pred.scores).toEqual(reference.pred.scores);
      expect(pred.maps).toEqual(reference.pred.maps);
    };

    beforeAll(async () => {
      const det = await create();
      side = det.inputSize;
      train = imagesInMemory(Array.from({ length: 6 }, (_, i) => texture(side, i)), side);
      validation = imagesInMemory(Array.from({ length: 2 }, (_, i) => texture(side, 50 + i)), side);
      const report = await det.fit(train, fitOpts());
      expect(report.unit).toBe(method.unit);
      expect(Number.isFinite(report.finalLoss)).toBe(true);
      reference = { det, pred: await det.predict(testBatch(side)), length: report.length };
    }, 300_000);
    afterAll(() => reference?.det.dispose());

    it('predicts finite scores and maps of the input size', () => {
      const { pred } = reference;
      expect(reference.det.trainingUnit).toBe(method.unit);
      expect(pred.scores.length).toBe(2);
      expect([pred.height, pred.width]).toEqual([side, side]);
      expect(pred.maps.length).toBe(2 * side * side);
      expect([...pred.scores, ...pred.maps].every(Number.isFinite)).toBe(true);
    });

    it('predicts identically after state() → safetensors → restore() into a fresh detector', async () => {
      const saved = await reference.det.state();
      expect(saved.method).toBe(name);
      // config holds hyper-parameters only: the preset's keys, nothing measured or counted.
      expect(Object.keys(saved.config).sort()).toEqual(Object.keys(method.config('quick', config)).sort());
      const fresh = await create();
      try {
        await fresh.restore(await decodeDetectorState(encodeDetectorState(saved)));
        await expectReference(fresh);
      } finally {
        fresh.dispose();
      }
    });

    it('gives identical predictions for the same seed', async () => {
      const again = await create();
      try {
        await again.fit(train, fitOpts());
        await expectReference(again);
      } finally {
        again.dispose();
      }
    });

    it('raises AbortError from an aborted fit', async () => {
      const det = await create();
      const ctl = new AbortController();
      try {
        await expect(det.fit(train, { ...fitOpts(), signal: ctl.signal, onProgress: () => ctl.abort() }))
          .rejects.toBeInstanceOf(AbortError);
      } finally {
        det.dispose();
      }
    });

    it('resumed from a checkpoint, equals the uninterrupted fit', async () => {
      expect(reference.length, 'tinyConfig must train at least two checkpoint intervals').toBeGreaterThanOrEqual(2);
      const first = await create();
      let checkpoint: { bytes: Uint8Array; done: number } | null = null;
      const ctl = new AbortController();
      try {
        // Interrupted right after its first checkpoint, like a killed `texad run`.
        await expect(first.fit(train, {
          ...fitOpts(),
          signal: ctl.signal,
          onCheckpoint: async (done) => {
            checkpoint ??= { bytes: encodeDetectorState(await first.state(), { done }), done };
            ctl.abort();
          },
        })).rejects.toBeInstanceOf(AbortError);
      } finally {
        first.dispose();
      }
      expect(checkpoint).not.toBeNull();
      const { bytes, done } = checkpoint!;
      expect(done).toBeLessThan(reference.length);
      const resumed = await create();
      try {
        const saved = await decodeDetectorState(bytes);
        expect(saved.extra['done']).toBe(done);
        await resumed.restore(saved);
        await resumed.fit(train, { ...fitOpts(), start: done });
        await expectReference(resumed);
      } finally {
        resumed.dispose();
      }
    });

    // Issue 15: the method detects. A planted, obvious defect (test/helpers/detection.ts) scores above every normal
    // image and, for methods with pixel maps, the map peaks inside it; a flipped score sign or a transposed or
    // mis-registered map fails here.
    const detect = DETECTS[name];
    const pending = detect && 'pending' in detect ? String(detect['pending']) : null;
    it.skipIf(pending !== null)(`detects a planted defect: defective images score above every normal one, maps peak inside the defect${
      pending ? ` (pending: ${pending})` : ''}`, async () => {
      expect(detect, `${name}: add its detection configuration to DETECTS`).toBeDefined();
      const rt = await gpuRuntime();
      await expectDetects(() => method.create(rt, { preset: 'quick', seed: 0, config: { ...config, ...detect } }),
        { maps: method.pixelMaps, validation: method.validation ? 2 : 0 });
    }, 300_000);
  });
}

describe('shared method components', () => {
  it('reduces image scores by max and by the mean of the top k, and names bad arguments', () => {
    const values = Float32Array.from([1, 5, 3, 2, /* image 2 */ -1, -4, -2, -3]);
    expect(Array.from(imageScores(values, 2, { kind: 'max' }))).toEqual([5, -1]);
    expect(Array.from(imageScores(values, 2, { kind: 'top-k-mean', k: 2 }))).toEqual([4, -1.5]);
    expect(Array.from(imageScores(values, 2, { kind: 'top-k-mean', k: 4 }))).toEqual([2.75, -2.5]);
    expect(() => imageScores(values, 3, { kind: 'max' })).toThrow('8 values do not split into 3 images');
    expect(() => imageScores(values, 2, { kind: 'top-k-mean', k: 5 })).toThrow('k must be an integer in [1, 4]');
  });

  it('turns a score grid into a map of the input size (bilinear, then Gaussian blur)', async () => {
    const rt = await gpuRuntime();
    const grid = rt.tensor(Float32Array.from([0, 0, 0, 4]), [1, 1, 2, 2]);
    const sharp = await anomalyMap(grid, [8, 8], 0).read();
    const smooth = await anomalyMap(grid, [8, 8], 1).read();
    expect(sharp.length).toBe(64);
    expect(sharp[63]).toBe(4); // the corner keeps the cell value (align_corners=False clamps)
    expect(smooth[63]!).toBeLessThan(4); // blurred towards its zero neighbours
    expect(() => anomalyMap(rt.tensor(new Float32Array(4), [1, 4]), [8, 8], 1)).toThrow('wants a score grid [B, 1, h, w], got [1, 4]');
    grid.dispose();
  });
});

describe('method registry', () => {
  it('names unknown presets, unknown hyper-parameters and wrong types', () => {
    const m = METHODS['simplenet']!;
    expect(() => m.config('fast')).toThrow("method 'simplenet' has no preset 'fast'; available: paper, quick");
    expect(() => m.config('quick', { noise_sdt: 1, meta_epoch: 2 })).toThrow(
      /simplenet has no hyper-parameter 'noise_sdt', 'meta_epoch'; known: backbone, layers/);
    expect(() => m.config('quick', { dsc_lr: '1e-3' })).toThrow('dsc_lr must be number (like 0.001), got "1e-3"');
    expect(m.config('quick', { dsc_lr: 0.5 })['dsc_lr']).toBe(0.5);
  });
});

describe('resource planning (texad run)', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'texad-resources-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // A method with two networks and an image folder, like EfficientAD (teacher, student backbone, penalty images).
  const twoNets: RegisteredMethod = defineMethod('twonets', {
    description: 'test', presets: { quick: { size: 1 } }, unit: 'iterations', validation: true, pixelMaps: true,
    resources: () => ({
      teacher: { kind: 'weights', name: 'pdn_small', purpose: 'the distilled teacher' },
      backbone: { kind: 'weights', name: 'wide_resnet50_2', purpose: 'the feature extractor', howTo: 'download it' },
      penalty: { kind: 'images', name: 'imagenet', purpose: 'penalty images', howTo: 'see the README' },
    }),
    create: () => Promise.reject(new Error('not built in this test')),
    tinyConfig: {},
  });

  it('reports every missing resource at once, with how to get it', async () => {
    const err = await planResources(twoNets, 'quick', {}, { weightsDir: dir }).catch((e: Error) => e);
    expect((err as Error).message).toContain('twonets (preset quick) cannot start; 3 resource(s) missing:');
    expect((err as Error).message).toContain(`teacher: the distilled teacher: no file ${join(dir, 'pdn_small.safetensors')} ` +
      '(--weights-dir); get it: python3 tools/export-weights.py pdn_small');
    expect((err as Error).message).toContain('backbone: the feature extractor: no file');
    expect((err as Error).message).toContain(`penalty: penalty images: no images in ${join(dir, 'imagenet')}; get them: see the README`);
  });

  it('finds files and folders under --weights-dir; random only when asked or when nothing is configured', async () => {
    await writeFile(join(dir, 'pdn_small.safetensors'), '');
    await writeFile(join(dir, 'wide_resnet50_2.safetensors'), '');
    await mkdir(join(dir, 'imagenet', 'a'), { recursive: true });
    await writeFile(join(dir, 'imagenet', 'a', 'x.png'), encodePng(new Uint8Array(4 * 4 * 3).fill(9), 4, 4, 3));
    const plan = await planResources(twoNets, 'quick', {}, { weightsDir: dir });
    expect(plan.where).toEqual({
      teacher: join(dir, 'pdn_small.safetensors'), backbone: join(dir, 'wide_resnet50_2.safetensors'),
      penalty: join(dir, 'imagenet'),
    });
    // Image folders reach the method as pixels, resized like training images.
    const loaded = await loadResources(twoNets, 'quick', {}, plan);
    expect(loaded['teacher']).toBe(join(dir, 'pdn_small.safetensors'));
    const penalty = imagesOf(loaded, 'penalty', { kind: 'images', name: 'imagenet', purpose: 'penalty images', howTo: '' })!;
    const batches = [];
    for await (const b of penalty.batches({ batchSize: 2, size: 8, crop: 6 })) batches.push(b);
    expect(batches.map((b) => [b.count, b.height, b.images.length])).toEqual([[1, 6, 3 * 6 * 6]]);
    expect(batches[0]!.images[0]).toBeCloseTo(9 / 255, 6);
    const random = await planResources(twoNets, 'quick', {}, { weights: 'random', weightsDir: dir });
    expect(random.where['teacher']).toBe('random');
    expect(random.notes[0]).toMatch(/^teacher: seeded random pdn_small weights \(--weights random;/);
    await expect(planResources(twoNets, 'quick', {}, { weights: join(dir, 'pdn_small.safetensors') }))
      .rejects.toThrow('--weights names one file, but twonets (quick) needs 2 weights (teacher, backbone); ' +
        'put them in a folder as <name>.safetensors and pass --weights-dir DIR');
    expect(() => imagesOf({}, 'penalty', { kind: 'images', name: 'imagenet', purpose: 'penalty images', howTo: 'see the README' }))
      .toThrow("resource 'penalty' (penalty images) is missing: see the README");
  });

  it("names each network and its weights' origin from the files' metadata, for results.json and the report", async () => {
    const tensor = { shape: [1], data: new Float32Array(1) };
    const odir = join(dir, 'origins');
    await mkdir(join(odir, 'imagenet'), { recursive: true });
    await writeFile(join(odir, 'imagenet', 'x.png'), encodePng(new Uint8Array(4 * 4 * 3), 4, 4, 3));
    // As `texad weights import nsfwjs` writes it (texad.origin), and as tools/export-weights.py does (texad.source).
    await writeFile(join(odir, 'pdn_small.safetensors'), encodeSafetensors({ w: tensor }, {
      'texad.arch': 'mobilenet_v2', 'texad.origin': 'ImageNet-initialised Keras MobileNetV2, 8-bit, from nsfwjs 4.4.0',
    }));
    await writeFile(join(odir, 'wide_resnet50_2.safetensors'), encodeSafetensors({ w: tensor }, {
      'texad.arch': 'wide_resnet50_2', 'texad.source': 'torchvision IMAGENET1K_V1 file wide_resnet50_2-95faca4d.pth',
    }));
    const origins = await weightsOrigins(twoNets, 'quick', {}, await planResources(twoNets, 'quick', {}, { weightsDir: odir }));
    expect(origins).toEqual({
      teacher: { arch: 'mobilenet_v2', origin: 'ImageNet-initialised Keras MobileNetV2, 8-bit, from nsfwjs 4.4.0' },
      backbone: { arch: 'wide_resnet50_2', origin: 'from torchvision IMAGENET1K_V1 file wide_resnet50_2-95faca4d.pth' },
    });
    const column = (backbones?: MethodResults['backbones']): MethodResults =>
      ({ method: 'twonets', preset: 'quick', weights: 'x', pixelMaps: true, config: {}, categories: [], ...(backbones ? { backbones } : {}) });
    expect(backbonesText(column(origins))).toBe('teacher: mobilenet_v2, ImageNet-initialised Keras MobileNetV2, 8-bit, from nsfwjs 4.4.0; ' +
      'backbone: wide_resnet50_2, from torchvision IMAGENET1K_V1 file wide_resnet50_2-95faca4d.pth');
    // A file without either key is said to be of unknown origin, naming it; random weights are named as such.
    await writeFile(join(odir, 'pdn_small.safetensors'), encodeSafetensors({ w: tensor }));
    const bare = await weightsOrigins(twoNets, 'quick', {}, await planResources(twoNets, 'quick', {}, { weightsDir: odir }));
    expect(bare['teacher']).toEqual({ arch: 'pdn_small', origin: `unknown (${join(odir, 'pdn_small.safetensors')} records no origin)` });
    const random = await weightsOrigins(twoNets, 'quick', {}, await planResources(twoNets, 'quick', {}, { weights: 'random', weightsDir: odir }));
    expect(random).toEqual({ teacher: { arch: 'pdn_small', origin: 'seeded random weights' }, backbone: { arch: 'wide_resnet50_2', origin: 'seeded random weights' } });
    expect(backbonesText(column({}))).toBe('none');
    expect(backbonesText(column())).toBe('not recorded');
  });

  it('texad run refuses, before any work, missing resources, a flag of the wrong training unit, unknown keys', async () => {
    const errors: string[] = [];
    const original = console.error;
    console.error = (...m: unknown[]) => errors.push(m.join(' '));
    const out = join(dir, 'never-created');
    const run = (...extra: string[]) => main(['run', '--data', 'synthetic', '--out', out, '--preset', 'quick', ...extra]);
    try {
      expect(await run('--weights-dir', join(dir, 'empty'))).toBe(1);
      expect(errors.pop()).toContain(`simplenet (preset quick) cannot start; 1 resource(s) missing:\n  - backbone: ` +
        `SimpleNet's frozen resnet18 feature extractor: no file ${join(dir, 'empty', 'resnet18.safetensors')} (--weights-dir)`);
      expect(await run('--iterations', '5')).toBe(2);
      expect(errors.pop()).toContain('simplenet trains in epochs; use --epochs instead of --iterations');
      expect(await run('--config', '{"noise_sdt": 1}')).toBe(2);
      expect(errors.pop()).toContain("simplenet has no hyper-parameter 'noise_sdt'; known: backbone");
    } finally {
      console.error = original;
    }
    expect(existsSync(out)).toBe(false);
  });
});
