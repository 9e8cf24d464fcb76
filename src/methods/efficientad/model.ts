// EfficientAD's networks (Batzner et al., WACV 2024, §3): the frozen PDN teacher and the trainable PDN student come
// from src/backbones/pdn.ts; this file holds the autoencoder and the teacher's output normalisation.
import type { Backbone } from '../../backbones/index.ts';
import { add, affine, mul, square, sub } from '../../ops/elementwise.ts';
import { pad2d } from '../../ops/layout.ts';
import { mean } from '../../ops/reduce.ts';
import { resizeBilinear } from '../../ops/resize.ts';
import type { GpuRng } from '../../ops/random.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { Conv2d, Dropout, Initializer, ReLU, Sequential, Upsample, type Layer } from '../../nn/layers.ts';
import { checkImageSize } from './config.ts';

/**
 * The autoencoder sizes of anomalib's EfficientAD (torch_model.py Decoder), as functions of the image size: the
 * six bilinear resizes before the 4x4 convs and the final resize to the PDN's output grid (image_size / 4 - 8).
 * At 256 px: 3, 8, 15, 32, 63, 127 and 56, the official values. Below 128 px the first (image_size / 64 - 1) would
 * be 0 and is raised to 1.
 */
export function decoderSizes(imageSize: number): { resizes: number[]; output: number } {
  checkImageSize(imageSize);
  const s = imageSize;
  const resizes = [s / 64 - 1, s / 32, s / 16 - 1, s / 8, s / 4 - 1, s / 2 - 1].map((v) => Math.max(1, Math.floor(v)));
  return { resizes, output: s / 4 - 8 };
}

/**
 * The autoencoder (anomalib names `encoder.enconv1..6`, `decoder.deconv1..8`): five 4x4 stride-2 convs with ReLU
 * halve the image to image_size / 32, an image_size/32-wide conv (8x8 at 256 px) reduces it to a 64-d code; the
 * decoder alternates bilinear resizes (align_corners=False) with 4x4 convs (padding 2) + ReLU + Dropout, then resizes
 * to the PDN grid and ends in 3x3 convs (ReLU between) to `outChannels`. PyTorch's default initialisation.
 */
export class Autoencoder extends Sequential {
  private readonly dropouts: Dropout[];

  constructor(rt: Runtime, imageSize: number, outChannels: number, dropoutP: number, rng: GpuRng, init: Initializer) {
    const { resizes, output } = decoderSizes(imageSize);
    const conv = (name: string, cin: number, cout: number, k: number, stride: number, padding: number) =>
      new Conv2d(rt, name, cin, cout, k, init, { stride, padding });
    const layers: Layer[] = [];
    const encoder: Array<[number, number]> = [[3, 32], [32, 32], [32, 64], [64, 64], [64, 64]];
    encoder.forEach(([cin, cout], i) => layers.push(conv(`encoder.enconv${i + 1}`, cin, cout, 4, 2, 1), new ReLU()));
    layers.push(conv('encoder.enconv6', 64, 64, imageSize / 32, 1, 0));
    const dropouts: Dropout[] = [];
    resizes.forEach((size, i) => {
      const drop = new Dropout(dropoutP, rng);
      dropouts.push(drop);
      layers.push(new Upsample({ size: [size, size], mode: 'bilinear' }), conv(`decoder.deconv${i + 1}`, 64, 64, 4, 1, 2),
        new ReLU(), drop);
    });
    layers.push(new Upsample({ size: [output, output], mode: 'bilinear' }), conv('decoder.deconv7', 64, 64, 3, 1, 1),
      new ReLU(), conv('decoder.deconv8', 64, outChannels, 3, 1, 1));
    super(layers);
    this.dropouts = dropouts;
  }

  /** Gives every Dropout the generator `rng`: one per training step, so a resumed fit draws the same masks. */
  set rng(rng: GpuRng) {
    for (const d of this.dropouts) d.rng = rng;
  }
}

/**
 * The teacher's per-channel output statistics over the training images, nelson1425's `teacher_normalization`:
 * mean = mean over images of the per-image channel means; std = sqrt(mean over images of the per-image mean squared
 * deviation from that mean) (two passes; anomalib's one-pass sum / sum-of-squares gives the same in exact arithmetic).
 * Applied as t_norm = (t - mean) / std = t * (1 / std) + (-mean / std).
 */
export class TeacherNormalization {
  constructor(readonly mean: Float32Array, readonly std: Float32Array) {
    if (mean.length !== std.length) throw new Error(`texad: EfficientAD teacher normalisation: ${mean.length} means, ${std.length} stds`);
  }

  apply(t: Tensor): Tensor {
    const c = this.mean.length;
    if (t.shape[1] !== c) throw new Error(`texad: EfficientAD teacher normalisation has ${c} channels, the teacher output has ${t.shape[1]}`);
    const scale = t.rt.tensor(this.std.map((s) => 1 / s), [1, c, 1, 1]);
    const shift = t.rt.tensor(this.mean.map((m, i) => -m / this.std[i]!), [1, c, 1, 1]);
    return add(mul(t, scale), shift);
  }
}

/**
 * nelson1425's teacher_normalization over `images` (each [1, 3, H, W], ImageNet-normalised; produced twice, once
 * per pass): per-channel means of the teacher outputs averaged over the images, then the per-channel mean squared
 * deviations from them, averaged the same way.
 */
export async function teacherNormalization(teacher: Backbone, channels: number,
  images: () => AsyncIterable<Tensor>): Promise<TeacherNormalization> {
  const pass = async (center: Float32Array | null): Promise<Float32Array> => {
    const total = new Float64Array(channels);
    let count = 0;
    for await (const x of images()) {
      const rt = x.rt;
      const m = await rt.tidyAsync(async () => rt.noGrad(() => {
        let t = teacher.forward(x)['out']!;
        if (center) t = square(sub(t, rt.tensor(center, [1, channels, 1, 1])));
        return mean(t, [0, 2, 3]);
      }).read());
      x.dispose();
      for (let i = 0; i < channels; i++) total[i]! += m[i]!;
      count++;
    }
    if (count === 0) throw new Error('texad: EfficientAD teacher normalisation: no training images');
    return Float32Array.from(total, (v) => v / count);
  };
  const channelMean = await pass(null);
  const std = (await pass(channelMean)).map(Math.sqrt);
  return new TeacherNormalization(channelMean, std);
}

/** Quantiles of the raw validation maps: 0.5 * 0.1 * (map - low) / (high - low) per branch. */
export interface MapQuantiles {
  stLow: number;
  stHigh: number;
  aeLow: number;
  aeHigh: number;
}

/**
 * The test map from raw maps st and ae [B, 1, h, w]: 0.5 * 0.1 * (st - qa) / (qb - qa) + 0.5 * 0.1 * (ae - qa') /
 * (qb' - qa') as one affine per branch and an add, zero-padded by `pad` px per side and bilinearly upsampled
 * (align_corners=False) to `size`.
 */
export function combineMaps(st: Tensor, ae: Tensor, q: MapQuantiles, pad: number, size: [number, number]): Tensor {
  const sa = 0.05 / (q.stHigh - q.stLow);
  const aa = 0.05 / (q.aeHigh - q.aeLow);
  const combined = add(affine(st, sa, -q.stLow * sa), affine(ae, aa, -q.aeLow * aa));
  return resizeBilinear(pad > 0 ? pad2d(combined, [pad, pad, pad, pad]) : combined, size, { alignCorners: false });
}
