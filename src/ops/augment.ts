// DRAEM's anomaly-synthesis image ops on the GPU (shaders/augment.wgsl): rotation, the ten imgaug/PIL colour
// ops on 0..255 integer-valued RGB planes, and the Perlin-mask blend. Forward only (data side, no gradients).
// Each op takes one entry per sample; `null` leaves that sample unchanged, so one dispatch serves a batch whose
// samples drew different ops.
import { Params } from '../runtime/runtime.ts';
import { formatShape, type Tensor } from '../runtime/tensor.ts';

const WG = 256;

function checkBatch(x: Tensor, count: number, op: string, rgb: boolean): [number, number, number, number] {
  x.assertAlive(op);
  if (x.rank !== 4 || x.shape[0] !== count || (rgb && x.shape[1] !== 3)) {
    throw new Error(`texad: ${op} x${formatShape(x.shape)}: expected [${count}, ${rgb ? 3 : 'C'}, H, W] (one per-sample argument per image)`);
  }
  return x.shape as [number, number, number, number];
}

/** args[8b .. 8b + 7] = [1, ...values] for samples with values (up to 7), zeros (unchanged) for null. */
function argsTensor(x: Tensor, values: ReadonlyArray<readonly number[] | null>): Tensor {
  const a = new Float32Array(8 * values.length);
  values.forEach((v, b) => {
    if (v) a.set([1, ...v], 8 * b);
  });
  return x.rt.tensor(a, [values.length, 8]);
}

/** The per-image entries of shaders/augment.wgsl (one input, per-sample args, one output). */
type AugEntry = 'rotate' | 'apply_lut' | 'histogram_lut' | 'colour' | 'sharpen' | 'to_uint8';

function run(entry: AugEntry, x: Tensor, args: Tensor, n: number, spec: Record<string, number | boolean>, what: string, workgroups?: [number, number]): Tensor {
  const rt = x.rt;
  const [, c, h, w] = x.shape as [number, number, number, number];
  const y = rt.empty(x.shape, entry);
  rt.dispatch({
    family: 'augment',
    entry,
    spec,
    params: new Params().u32(n, c, h, w),
    inputs: [x, args],
    outputs: [y],
    workgroups: workgroups ?? rt.grid(n, WG),
    what,
  });
  args.dispose();
  return y;
}

/**
 * Rotates each sample by `degrees[b]` about the image centre ((W-1)/2, (H-1)/2), bilinear, zero outside, like
 * imgaug's Affine(rotate) with order 1 and cval 0 (positive = clockwise on screen, y pointing down). `round`
 * rounds to integers (uint8 images); OpenCV additionally snaps sample positions to 1/32 pixel, texad does not.
 */
export function rotate(x: Tensor, degrees: ReadonlyArray<number | null>, opts: { round?: boolean } = {}): Tensor {
  checkBatch(x, degrees.length, 'rotate', false);
  const args = argsTensor(x, degrees.map((d) => (d === null ? null : [Math.cos((d * Math.PI) / 180), Math.sin((d * Math.PI) / 180)])));
  return run('rotate', x, args, x.size, { WG, ROUND: opts.round ?? false }, `rotate x${formatShape(x.shape)}`);
}

/** y = tables[b][c][x] for 0..255 values: `tables` holds B x C x 256 entries (see the *Lut builders). */
export function applyLut(x: Tensor, tables: Float32Array): Tensor {
  const [n, c] = checkBatch(x, x.shape[0] ?? 0, 'applyLut', false);
  if (tables.length !== n * c * 256) {
    throw new Error(`texad: applyLut x${formatShape(x.shape)}: ${tables.length} table entries, need ${n} x ${c} x 256`);
  }
  const t = x.rt.tensor(tables, [n * c, 256]);
  return run('apply_lut', x, t, x.size, { WG }, `applyLut x${formatShape(x.shape)}`);
}

/** The identity table (for samples and channels an op leaves alone). */
export function identityLut(): Float32Array {
  return Float32Array.from({ length: 256 }, (_, v) => v);
}

/** imgaug GammaContrast for uint8: floor(255 * (v / 255)^gamma) in float32 like its lookup table. */
export function gammaLut(gamma: number): Float32Array {
  const g = Math.fround(gamma);
  return Float32Array.from({ length: 256 }, (_, v) => Math.min(255, Math.floor(Math.fround(Math.fround(Math.fround(v / 255) ** g) * 255))));
}

/** PIL ImageOps.solarize / imgaug Solarize: values >= threshold are inverted. */
export function solarizeLut(threshold: number): Float32Array {
  return Float32Array.from({ length: 256 }, (_, v) => (v >= threshold ? 255 - v : v));
}

/** PIL ImageOps.posterize / imgaug Posterize: keep the top `bits` bits. */
export function posterizeLut(bits: number): Float32Array {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new Error(`texad: posterizeLut: bits must be an integer in 1..8, got ${bits}`);
  const mask = (0xff << (8 - bits)) & 0xff;
  return Float32Array.from({ length: 256 }, (_, v) => v & mask);
}

/** imgaug Invert / PIL ImageOps.invert: 255 - v. */
export function invertLut(): Float32Array {
  return Float32Array.from({ length: 256 }, (_, v) => 255 - v);
}

function histogramLut(x: Tensor, values: ReadonlyArray<readonly number[] | null>, mode: number, op: string): Tensor {
  const [n, c] = checkBatch(x, values.length, op, false);
  const planes = n * c;
  return run('histogram_lut', x, argsTensor(x, values), planes, { MODE: mode }, `${op} x${formatShape(x.shape)}`, [planes, 1]);
}

/** PIL ImageOps.autocontrast(image, cutoff[b]) per channel (imgaug pillike.Autocontrast); cutoff in percent. */
export function autocontrast(x: Tensor, cutoff: ReadonlyArray<number | null>): Tensor {
  cutoff.forEach((v, b) => {
    if (v !== null && !(Number.isInteger(v) && v >= 0 && v < 50)) {
      throw new Error(`texad: autocontrast: sample ${b} has cutoff ${v}; need an integer percent in [0, 50)`);
    }
  });
  return histogramLut(x, cutoff.map((v) => (v === null ? null : [v])), 0, 'autocontrast');
}

/** PIL ImageOps.equalize per channel (imgaug pillike.Equalize) for samples with on[b]. */
export function equalize(x: Tensor, on: readonly boolean[]): Tensor {
  return histogramLut(x, on.map((v) => (v ? [] : null)), 1, 'equalize');
}

/** imgaug MultiplyAndAddToBrightness via YCrCb: Y' = clip(round(Y mul) + add). */
export function brightness(x: Tensor, params: ReadonlyArray<{ mul: number; add: number } | null>): Tensor {
  const [n, , h, w] = checkBatch(x, params.length, 'brightness', true);
  const args = argsTensor(x, params.map((p) => (p ? [p.mul, p.add] : null)));
  return run('colour', x, args, n * h * w, { WG, MODE: 0 }, `brightness x${formatShape(x.shape)}`);
}

/**
 * imgaug AddToHueAndSaturation via OpenCV's 8-bit HSV: `hue` and `saturation` are imgaug's values in
 * [-255, 255]; the hue shift is projected to OpenCV's [0, 180) range as int32(float32(hue / 255) * 180) like
 * imgaug (truncation toward zero).
 */
export function hueSaturation(x: Tensor, params: ReadonlyArray<{ hue: number; saturation: number } | null>): Tensor {
  const [n, , h, w] = checkBatch(x, params.length, 'hueSaturation', true);
  const args = argsTensor(x, params.map((p) => (p ? [Math.trunc(Math.fround(Math.fround(p.hue / 255) * 180)), p.saturation] : null)));
  return run('colour', x, args, n * h * w, { WG, MODE: 1 }, `hueSaturation x${formatShape(x.shape)}`);
}

/** PIL ImageEnhance.Sharpness(factor) (imgaug pillike.EnhanceSharpness). */
export function sharpen(x: Tensor, factor: ReadonlyArray<number | null>): Tensor {
  checkBatch(x, factor.length, 'sharpen', false);
  const args = argsTensor(x, factor.map((f) => (f === null ? null : [f])));
  return run('sharpen', x, args, x.size, { WG }, `sharpen x${formatShape(x.shape)}`);
}

/**
 * y = round(clamp(gain[b][c] * x + offset[b][c], 0, 255)) for 3-channel x: turns [0, 1] images (gain 255) or
 * noise planes (procedural textures) into the 0..255 integer planes the colour ops expect.
 */
export function toUint8(x: Tensor, params: ReadonlyArray<{ gain: readonly number[]; offset: readonly number[] }>): Tensor {
  checkBatch(x, params.length, 'toUint8', true);
  const args = argsTensor(x, params.map((p) => [...p.gain, ...p.offset]));
  return run('to_uint8', x, args, x.size, { WG }, `toUint8 x${formatShape(x.shape)}`);
}

/**
 * DRAEM's blend: mask M = noise > threshold; augmented = I (1 - M) + (1 - beta) A M / 255 + beta I M for samples
 * with a beta, I and an all-zero mask for normal samples (null). image [B, C, H, W] in [0, 1], source the same
 * shape in 0..255, noise [B, 1, H, W]. Returns the augmented images and the masks [B, 1, H, W].
 */
export function blendAnomaly(
  image: Tensor,
  source: Tensor,
  noise: Tensor,
  beta: ReadonlyArray<number | null>,
  threshold = 0.5,
): { augmented: Tensor; mask: Tensor } {
  const [n, c, h, w] = checkBatch(image, beta.length, 'blendAnomaly', false);
  const what = `blendAnomaly image${formatShape(image.shape)} source${formatShape(source.shape)} noise${formatShape(noise.shape)}`;
  if (source.shape.join() !== image.shape.join() || noise.shape.join() !== [n, 1, h, w].join()) {
    throw new Error(`texad: ${what}: source must match the image and noise be [${n}, 1, ${h}, ${w}]`);
  }
  const rt = image.rt;
  const args = argsTensor(image, beta.map((b) => (b === null ? null : [b, threshold])));
  const augmented = rt.empty(image.shape, 'augmented');
  const mask = rt.empty([n, 1, h, w], 'anomaly mask');
  rt.dispatch({
    family: 'augment',
    entry: 'blend',
    spec: { WG },
    params: new Params().u32(image.size, c, h, w),
    inputs: [image, source, noise, args],
    outputs: [augmented, mask],
    workgroups: rt.grid(image.size, WG),
    what,
  });
  args.dispose();
  return { augmented, mask };
}
