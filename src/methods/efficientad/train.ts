// EfficientAD's training step (Batzner et al., WACV 2024, §3.2-3.4; nelson1425/EfficientAD efficientad.py): the
// hard-feature student-teacher loss, the autoencoder loss and the student-autoencoder loss on a colour-augmented
// copy of the image, and the optional penalty on an auxiliary (ImageNet) image.
import type { Backbone } from '../../backbones/index.ts';
import { add, div, greaterEqual, mul, square, sub } from '../../ops/elementwise.ts';
import { slice } from '../../ops/layout.ts';
import { mean, sqDiffChannelMean, sum } from '../../ops/reduce.ts';
import { quantileTensor } from '../../ops/select.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { Autoencoder, TeacherNormalization } from './model.ts';

export interface EfficientAdNets {
  teacher: Backbone;
  student: Backbone;
  autoencoder: Autoencoder;
  normalization: TeacherNormalization;
  /** Teacher outputs; the student has twice as many. */
  outChannels: number;
}

export interface StepImages {
  /** The training image [1, 3, H, W], ImageNet-normalised. */
  image: Tensor;
  /** The colour-augmented copy (colorJitter), ImageNet-normalised. */
  imageAe: Tensor;
  /** An auxiliary image for the penalty loss, ImageNet-normalised; absent = no penalty (nelson1425's default). */
  penalty?: Tensor;
}

export interface StepLosses {
  total: Tensor;
  hard: Tensor;
  ae: Tensor;
  stae: Tensor;
  penalty: Tensor | null;
  /** The hard-feature threshold [1]: the `hardQuantile` quantile of the squared student-teacher distance. */
  dHard: Tensor;
}

/**
 * Forward pass of one training step; call backward(total) after it, inside rt.tidy. Nothing is read back: the
 * exact quantile, the mask and its count stay on the device, so a step queues behind the previous one.
 * - loss_hard: mean of the squared distances (T_norm(x) - S(x)[:C])^2 at or above their `hardQuantile` quantile
 *   (torch.quantile, linear interpolation in float32 like torch: quantileTensor); the others get no gradient.
 * - loss_ae = mean (T_norm(x_ae) - A(x_ae))^2; loss_stae = mean (A(x_ae) - S(x_ae)[C:])^2 (A not detached).
 * - loss_penalty = mean S(p)[:C]^2 when a penalty image is given.
 */
export function efficientAdLoss(nets: EfficientAdNets, images: StepImages, hardQuantile: number): StepLosses {
  const { teacher, student, autoencoder, normalization, outChannels: c } = nets;
  const rt = images.image.rt;
  const teach = (x: Tensor) => rt.noGrad(() => normalization.apply(teacher.forward(x)['out']!));

  const distance = square(sub(teach(images.image), slice(student.forward(images.image)['out']!, 1, 0, c)));
  // A host-side threshold would read back every step (the distances, or the radix histograms), draining the
  // queue between steps; quantileTensor's radix passes pick their digits on the device instead.
  const dHard = rt.noGrad(() => quantileTensor(distance, hardQuantile));
  const mask = greaterEqual(distance, dHard);
  const hard = div(sum(mul(distance, mask)), sum(mask));

  const aeOut = autoencoder.forward(images.imageAe);
  const ae = mean(square(sub(teach(images.imageAe), aeOut)));
  const stae = mean(square(sub(aeOut, slice(student.forward(images.imageAe)['out']!, 1, c, 2 * c))));
  const penalty = images.penalty ? mean(square(slice(student.forward(images.penalty)['out']!, 1, 0, c))) : null;

  let total = add(add(hard, ae), stae);
  if (penalty) total = add(total, penalty);
  return { total, hard, ae, stae, penalty, dHard };
}

/** The three colour augmentations nelson1425 and anomalib choose from for the autoencoder's input. */
export const JITTERS = ['brightness', 'contrast', 'saturation'] as const;
export type Jitter = (typeof JITTERS)[number];

/**
 * torchvision's adjust_brightness / adjust_contrast / adjust_saturation on a float CHW RGB image in [0, 1] (the
 * tensor formulas anomalib runs): blend with black, with the image's mean grey level, or with each pixel's grey
 * level (0.2989 R + 0.587 G + 0.114 B), by `factor`, clamped to [0, 1].
 */
export function colorJitter(image: Float32Array, kind: Jitter, factor: number): Float32Array {
  const plane = image.length / 3;
  if (!Number.isInteger(plane)) throw new Error(`texad: colorJitter: ${image.length} values are not 3 colour planes`);
  const grey = new Float32Array(plane);
  for (let i = 0; i < plane; i++) grey[i] = 0.2989 * image[i]! + 0.587 * image[plane + i]! + 0.114 * image[2 * plane + i]!;
  let meanGrey = 0;
  if (kind === 'contrast') {
    for (const g of grey) meanGrey += g;
    meanGrey /= plane;
  }
  const out = new Float32Array(image.length);
  for (let i = 0; i < image.length; i++) {
    const other = kind === 'brightness' ? 0 : kind === 'contrast' ? meanGrey : grey[i % plane]!;
    out[i] = Math.min(1, Math.max(0, factor * image[i]! + (1 - factor) * other));
  }
  return out;
}

/**
 * Raw anomaly maps [B, 1, h, w] of ImageNet-normalised images x: map_st = channel mean of (T_norm(x) - S(x)[:C])^2,
 * map_ae = channel mean of (A(x) - S(x)[C:])^2. Call under noGrad with the student and autoencoder in eval mode.
 */
export function rawMaps(nets: EfficientAdNets, x: Tensor): { st: Tensor; ae: Tensor } {
  const c = nets.outChannels;
  const t = nets.normalization.apply(nets.teacher.forward(x)['out']!);
  const s = nets.student.forward(x)['out']!;
  const a = nets.autoencoder.forward(x);
  return { st: sqDiffChannelMean(t, s, 0), ae: sqDiffChannelMean(a, s, c) };
}
