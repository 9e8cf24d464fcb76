// DRAEM's anomaly synthesis (data_loader.py MVTecDRAEMTrainDataset.__getitem__) on the GPU, per training batch:
// the training image is rotated with probability rotate_prob; an anomaly-source texture goes through 3 distinct
// ops of the official 10; a Perlin mask (lattice 2^a x 2^b, rotated, > threshold) pastes it with opacity
// 1 - beta; with probability normal_prob the sample stays normal. Every random choice comes from the Philox
// generator (CPU twin for the per-sample scalars, GPU for the Perlin gradients), so a seed gives the same
// batches on every runtime.
import {
  add, applyLut, autocontrast, blendAnomaly, brightness, cpuUniform, equalize, gammaLut, hueSaturation, identityLut,
  invertLut, posterizeLut, randomPerlinNoise, rotate, scale, sharpen, solarizeLut, toUint8, GpuRng, type PerlinRes,
} from '../../ops/index.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { TrainingImages } from '../detector.ts';
import type { DraemConfig } from './config.ts';

/** The official augmenter list (data_loader.py self.augmenters), in its order. */
export const COLOUR_OPS = [
  'gamma', 'brightness', 'sharpness', 'hue_saturation', 'solarize', 'posterize', 'invert', 'autocontrast', 'equalize', 'rotate',
] as const;
export type ColourOp = (typeof COLOUR_OPS)[number];

/** Everything drawn for one training sample. */
export interface SampleDraw {
  /** Rotation of the training image in degrees, or null (probability 1 - rotate_prob). */
  imageRotation: number | null;
  res: PerlinRes;
  perlinRotation: number;
  /** null: a normal sample (no anomaly). */
  beta: number | null;
  ops: Array<{ op: ColourOp; values: number[] }>;
}

/** Uniform numbers a sample consumes from its Philox stream (fixed, so samples never shift each other's draws). */
const DRAWS_PER_SAMPLE = 32;

/**
 * The random choices of `count` samples of training step `step`: element k of sample b is element
 * b * 32 + k of Philox stream `step` under `seed`. Parameter ranges are imgaug's in data_loader.py.
 */
export function drawSamples(c: DraemConfig, seed: number, step: number, count: number): SampleDraw[] {
  const u = cpuUniform(seed, step, count * DRAWS_PER_SAMPLE);
  const span = c.perlin_scale - c.min_perlin_scale;
  return Array.from({ length: count }, (_, b) => {
    const r = (k: number) => u[b * DRAWS_PER_SAMPLE + k]!;
    const int = (k: number, lo: number, hi: number) => lo + Math.min(hi - lo, Math.floor(r(k) * (hi - lo + 1)));
    // Three distinct ops in drawn order (np.random.choice(10, 3, replace=False)): a partial Fisher-Yates.
    const pool: ColourOp[] = [...COLOUR_OPS];
    const ops = [0, 1, 2].map((i) => {
      const j = i + Math.min(pool.length - i - 1, Math.floor(r(7 + i) * (pool.length - i)));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      return pool[i]!;
    });
    return {
      imageRotation: r(0) < c.rotate_prob ? -90 + 180 * r(1) : null,
      res: [2 ** (c.min_perlin_scale + Math.min(span - 1, Math.floor(r(2) * span))), 2 ** (c.min_perlin_scale + Math.min(span - 1, Math.floor(r(3) * span)))],
      perlinRotation: -90 + 180 * r(4),
      beta: r(6) < c.normal_prob ? null : c.beta_max * r(5),
      ops: ops.map((op) => ({ op, values: opValues(op, (k) => r(10 + k), int) })),
    };
  });
}

/** imgaug's parameter draws of each op (values from 22 uniforms reserved per sample). */
function opValues(op: ColourOp, r: (k: number) => number, int: (k: number, lo: number, hi: number) => number): number[] {
  switch (op) {
    case 'gamma': return [0.5 + 1.5 * r(0), 0.5 + 1.5 * r(1), 0.5 + 1.5 * r(2)]; // GammaContrast((0.5, 2.0), per_channel=True)
    case 'brightness': return [0.8 + 0.4 * r(3), int(14, -30, 30)]; // MultiplyAndAddToBrightness(mul=(0.8, 1.2), add=(-30, 30))
    case 'sharpness': return [2 * r(5)]; // pillike.EnhanceSharpness(): factor (0, 2)
    case 'hue_saturation': return [int(16, -50, 50), int(17, -50, 50)]; // AddToHueAndSaturation((-50, 50), per_channel=True)
    case 'solarize': return r(8) < 0.5 ? [32 + 96 * r(9)] : []; // Solarize(0.5, threshold=(32, 128))
    case 'posterize': return [int(20, 1, 8)]; // Posterize(): nb_bits (1, 8)
    case 'invert': return [];
    case 'autocontrast': return [int(21, 0, 20)]; // pillike.Autocontrast(): cutoff (0, 20)
    case 'equalize': return [];
    case 'rotate': return [-45 + 90 * r(11)]; // Affine(rotate=(-45, 45))
  }
}

/** Applies one op to the samples whose draw lists it at position `slot`; the others pass through. */
function applyOp(x: Tensor, op: ColourOp, draws: SampleDraw[], slot: number): Tensor {
  const pick = (b: number) => (draws[b]!.ops[slot]!.op === op ? draws[b]!.ops[slot]!.values : null);
  const per = draws.map((_, b) => pick(b));
  switch (op) {
    case 'gamma':
    case 'solarize':
    case 'posterize':
    case 'invert': {
      const tables = new Float32Array(draws.length * 3 * 256);
      per.forEach((v, b) => {
        for (let c = 0; c < 3; c++) {
          let t = identityLut();
          if (v && op === 'gamma') t = gammaLut(v[c]!);
          else if (v && op === 'solarize' && v.length > 0) t = solarizeLut(v[0]!);
          else if (v && op === 'posterize') t = posterizeLut(v[0]!);
          else if (v && op === 'invert') t = invertLut();
          tables.set(t, (b * 3 + c) * 256);
        }
      });
      return applyLut(x, tables);
    }
    case 'brightness': return brightness(x, per.map((v) => (v ? { mul: v[0]!, add: v[1]! } : null)));
    case 'sharpness': return sharpen(x, per.map((v) => (v ? v[0]! : null)));
    case 'hue_saturation': return hueSaturation(x, per.map((v) => (v ? { hue: v[0]!, saturation: v[1]! } : null)));
    case 'autocontrast': return autocontrast(x, per.map((v) => (v ? v[0]! : null)));
    case 'equalize': return equalize(x, per.map((v) => v !== null));
    case 'rotate': return rotate(x, per.map((v) => (v ? v[0]! : null)), { round: true });
  }
}

/** The drawn ops of every sample, slot by slot, each op dispatched once per slot for the samples that drew it. */
export function augmentSource(source: Tensor, draws: SampleDraw[]): Tensor {
  let x = source;
  for (let slot = 0; slot < 3; slot++) {
    for (const op of new Set(draws.map((d) => d.ops[slot]!.op))) {
      const y = applyOp(x, op, draws, slot);
      if (x !== source) x.dispose();
      x = y;
    }
  }
  return x;
}

/**
 * A supply of anomaly-source textures: [count, 3, size, size] 0..255 integer planes on the GPU. `first` is the
 * absolute index of the first texture (training step x batch size), so a resumed fit gets the same textures.
 */
export interface AnomalySource {
  readonly name: string;
  next(count: number, size: number, first: number): Promise<Tensor>;
}

/**
 * The built-in source for machines without DTD: seeded coloured fractal Perlin textures. Per sample and channel,
 * 4 octaves of Perlin noise from a random base lattice (1, 2 or 4 cells), amplitudes halving, mapped to 0..255
 * with a random gain and offset, so textures range from smooth colour fields to fine grain.
 */
export class ProceduralSource implements AnomalySource {
  readonly name = 'procedural (coloured fractal Perlin)';

  constructor(private readonly rt: Runtime, private readonly seed: number) {}

  async next(count: number, size: number, first: number): Promise<Tensor> {
    // Keyed by the first texture's index: the same textures after a resume.
    const u = cpuUniform([(this.seed ^ 0xa5a5a5a5) >>> 0, 1], first, count * 16);
    const rng = new GpuRng(this.rt, [(this.seed ^ 0x5eed5eed) >>> 0, first]);
    const planes = count * 3;
    let acc: Tensor | null = null;
    for (let octave = 0; octave < 4; octave++) {
      const res: PerlinRes[] = Array.from({ length: planes }, (_, p) => {
        const b = Math.floor(p / 3);
        const base = Math.floor(u[b * 16]! * 3);
        // At most 32 cells: 32 divides every img_size (a multiple of 32).
        return [Math.min(32, 2 ** (base + octave)), Math.min(32, 2 ** (base + octave + Math.floor(u[b * 16 + 1]! * 2)))] as const;
      });
      const n = scale(randomPerlinNoise(rng, res, [size, size]), 0.5 ** octave);
      acc = acc ? add(acc, n) : n;
    }
    const params = Array.from({ length: count }, (_, b) => ({
      gain: [0, 1, 2].map((c) => 100 + 250 * u[b * 16 + 2 + c]!),
      offset: [0, 1, 2].map((c) => 30 + 195 * u[b * 16 + 5 + c]!),
    }));
    return toUint8(acc!.reshape([count, 3, size, size]), params);
  }
}

/**
 * Anomaly textures from a folder (`--anomaly-source DIR`): the data layer decodes and resizes the images
 * (grey and RGBA converted to RGB) and delivers them as TrainingImages; this cycles through them in a seeded
 * shuffled order, a fresh order per pass, like drawing a random DTD image per sample.
 */
export class FolderSource implements AnomalySource {
  readonly name: string;
  private iterator: AsyncIterator<{ images: Float32Array; count: number }> | null = null;
  private pass = 0;
  private queue: Float32Array[] = [];
  /** Absolute index of the next texture the queue yields. */
  private cursor = 0;

  constructor(private readonly rt: Runtime, private readonly images: TrainingImages, private readonly seed: number, label: string) {
    this.name = `folder ${label} (${images.count} images)`;
  }

  async next(count: number, size: number, first: number): Promise<Tensor> {
    const plane = 3 * size * size;
    if (first !== this.cursor) {
      // A resumed (or restarted) fit: replay pass floor(first / N) up to the texture `first`.
      this.iterator = null;
      this.queue = [];
      this.pass = Math.floor(first / this.images.count);
      this.cursor = first - (first % this.images.count);
      let skip = first % this.images.count;
      while (skip > 0) {
        const r = await this.pull(size, plane);
        const drop = Math.min(skip, r);
        this.queue.splice(0, drop);
        this.cursor += drop;
        skip -= drop;
      }
    }
    while (this.queue.length < count) await this.pull(size, plane);
    this.cursor += count;
    const picked = this.queue.splice(0, count);
    const data = new Float32Array(count * plane);
    picked.forEach((p, i) => data.set(p, i * plane));
    const x = this.rt.tensor(data, [count, 3, size, size]);
    const y = toUint8(x, picked.map(() => ({ gain: [255, 255, 255], offset: [0, 0, 0] })));
    x.dispose();
    return y;
  }

  /** Appends the next decoded batch of the current pass (starting the next pass at the end); returns its size. */
  private async pull(size: number, plane: number): Promise<number> {
    for (;;) {
      this.iterator ??= this.images.batches({ batchSize: 8, size, shuffleSeed: this.seed * 7919 + this.pass })[Symbol.asyncIterator]();
      const r = await this.iterator.next();
      if (r.done) {
        this.iterator = null;
        this.pass++;
        continue;
      }
      for (let i = 0; i < r.value.count; i++) this.queue.push(r.value.images.subarray(i * plane, (i + 1) * plane));
      return r.value.count;
    }
  }
}

/** One synthesised training batch: the (maybe rotated) images, their augmented versions and the masks. */
export interface SynthBatch {
  image: Tensor;
  augmented: Tensor;
  mask: Tensor;
}

/** Synthesises the batch of training step `step` from images [B, 3, S, S] in [0, 1]. */
export async function synthesize(
  rt: Runtime,
  c: DraemConfig,
  images: Tensor,
  source: AnomalySource,
  perlin: GpuRng,
  step: number,
): Promise<SynthBatch> {
  const count = images.shape[0]!;
  const size = c.img_size;
  const draws = drawSamples(c, c.seed, step, count);
  const textures = await source.next(count, size, step * c.bs);
  return rt.tidy(() => {
    const image = draws.some((d) => d.imageRotation !== null) ? rotate(images, draws.map((d) => d.imageRotation)) : rt.clone(images);
    const augmentedSource = augmentSource(textures, draws);
    const noise = rotate(randomPerlinNoise(perlin, draws.map((d) => d.res), [size, size]), draws.map((d) => d.perlinRotation));
    const { augmented, mask } = blendAnomaly(image, augmentedSource, noise, draws.map((d) => d.beta), c.threshold);
    textures.dispose();
    return { image, augmented, mask };
  });
}
