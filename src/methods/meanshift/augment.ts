// Mean-Shift's training views (the official MoCo v2 pipeline of utils.py) on the GPU. Every random parameter is
// drawn on the CPU from Philox (cpuUniform: the same numbers in every runtime), so a (seed, stream) pair names one
// augmented batch exactly; the pixel work runs as GPU ops (slice, bilinear resize, matmul, elementwise, hue,
// Gaussian blur, channel gather). Forward only: views are inputs, no gradient flows into them.
import { adjustHue } from '../../ops/color.ts';
import { concat, gatherChannels, permute, slice } from '../../ops/layout.ts';
import { add, clamp, expand, scale } from '../../ops/elementwise.ts';
import { pilGaussianBlur } from '../../ops/filter.ts';
import { matmul } from '../../ops/matmul.ts';
import { mean } from '../../ops/reduce.ts';
import { cpuUniform } from '../../ops/random.ts';
import { resizeBilinear } from '../../ops/resize.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { MeanShiftConfig } from './config.ts';

/** torchvision's rgb_to_grayscale weights (ITU-R 601-2 luma). */
export const LUMA = [0.2989, 0.587, 0.114] as const;

export type JitterOp = 'brightness' | 'contrast' | 'saturation' | 'hue';

/** Everything random about one view of one image. */
export interface ViewParams {
  /** Crop box in the source image: top, left, height, width (torchvision RandomResizedCrop.get_params). */
  crop: [number, number, number, number];
  /** Colour jitter ops in application order with their factors (hue: shift), or [] when jitter was not drawn. */
  jitter: Array<[JitterOp, number]>;
  grayscale: boolean;
  /** PIL GaussianBlur radius (the official `sigma`), or 0 for no blur. */
  blur: number;
  flip: boolean;
}

/** Uniforms drawn per image view: 10 crop tries x 4, then jitter, order, grayscale, blur and flip. */
const DRAWS = 64;

/**
 * The parameters of `count` views of `side` x `side` images from Philox (seed, stream): torchvision's sampling
 * rules (RandomResizedCrop with ratio 3/4..4/3 and its 10 tries then centre fallback, ColorJitter's random op order
 * and factor ranges, RandomApply / RandomGrayscale / RandomHorizontalFlip probabilities), with Philox uniforms in
 * place of torch's generator.
 */
export function drawViews(cfg: MeanShiftConfig, side: number, count: number, seed: number, stream: number): ViewParams[] {
  const u = cpuUniform(seed, stream, count * DRAWS);
  const ratio = [Math.log(3 / 4), Math.log(4 / 3)] as const;
  const [lo, hi] = cfg.crop_scale;
  return Array.from({ length: count }, (_, n) => {
    const r = (k: number) => u[n * DRAWS + k]!;
    const area = side * side;
    let crop: ViewParams['crop'] | null = null;
    for (let t = 0; t < 10 && !crop; t++) {
      const target = area * (lo + (hi - lo) * r(4 * t));
      const aspect = Math.exp(ratio[0] + (ratio[1] - ratio[0]) * r(4 * t + 1));
      const w = Math.round(Math.sqrt(target * aspect));
      const h = Math.round(Math.sqrt(target / aspect));
      if (w > 0 && w <= side && h > 0 && h <= side) {
        // randint(0, side - h + 1): an integer in [0, side - h].
        crop = [Math.floor(r(4 * t + 2) * (side - h + 1)), Math.floor(r(4 * t + 3) * (side - w + 1)), h, w];
      }
    }
    // Square images always fall back to the whole image (in_ratio 1 lies inside 3/4..4/3).
    crop ??= [0, 0, side, side];
    const jitter: ViewParams['jitter'] = [];
    if (r(40) < cfg.jitter_p) {
      const order: JitterOp[] = ['brightness', 'contrast', 'saturation', 'hue'];
      for (let i = 3; i > 0; i--) {
        const j = Math.floor(r(41 + (3 - i)) * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const ranges: Record<JitterOp, [number, number]> = {
        brightness: [Math.max(0, 1 - cfg.jitter[0]), 1 + cfg.jitter[0]],
        contrast: [Math.max(0, 1 - cfg.jitter[1]), 1 + cfg.jitter[1]],
        saturation: [Math.max(0, 1 - cfg.jitter[2]), 1 + cfg.jitter[2]],
        hue: [-cfg.jitter[3], cfg.jitter[3]],
      };
      order.forEach((op, k) => {
        const [a, b] = ranges[op];
        jitter.push([op, a + (b - a) * r(44 + k)]);
      });
    }
    const blur = r(49) < cfg.blur_p ? cfg.blur_sigma[0] + (cfg.blur_sigma[1] - cfg.blur_sigma[0]) * r(50) : 0;
    return { crop, jitter, grayscale: r(48) < cfg.grayscale_p, blur, flip: r(51) < 0.5 };
  });
}

/** rgb_to_grayscale of one image [3, H, W] -> [1, H, W]. */
export function grayscale(x: Tensor): Tensor {
  const [c, h, w] = x.shape as [number, number, number];
  if (c !== 3) throw new Error(`texad: Mean-Shift grayscale needs an RGB image [3, H, W], got [${x.shape.join(', ')}]`);
  const weights = x.rt.tensor(Float32Array.from(LUMA), [1, 3]);
  return matmul(weights, x.reshape([3, h * w])).reshape([1, h, w]);
}

/** torchvision's _blend: clamp(ratio * x + (1 - ratio) * other, 0, 1), `other` broadcasting against x. */
function blend(x: Tensor, other: Tensor, ratio: number): Tensor {
  return clamp(add(scale(x, ratio), scale(other, 1 - ratio)), 0, 1);
}

/** torchvision.transforms.functional.adjust_{brightness,contrast,saturation,hue} of one image [3, H, W] in [0, 1]. */
export function adjust(x: Tensor, op: JitterOp, factor: number): Tensor {
  if (op === 'hue') return adjustHue(x, factor);
  if (op === 'brightness') return clamp(scale(x, factor), 0, 1);
  const gray = grayscale(x);
  if (op === 'saturation') return blend(x, gray, factor);
  return blend(x, mean(gray).reshape([1, 1, 1]), factor);
}

/** torchvision's hflip of one image [C, H, W]: columns reversed (a permutation, exact). */
export function hflip(x: Tensor): Tensor {
  const [c, h, w] = x.shape as [number, number, number];
  // Width to the channel axis of a [1, W, C*H] view, gathered in reverse, moved back.
  const columns = permute(x, [2, 0, 1]).reshape([1, w, c * h]);
  const reversed = gatherChannels(columns, Array.from({ length: w }, (_, i) => w - 1 - i));
  return permute(reversed.reshape([w, c, h]), [1, 2, 0]);
}

/** resized_crop(x, top, left, h, w, [size, size]) of [C, H, W], bilinear without antialias. */
export function resizedCrop(x: Tensor, [top, left, h, w]: ViewParams['crop'], size: number): Tensor {
  const [c, H, W] = x.shape as [number, number, number];
  const rows = top === 0 && h === H ? x : slice(x, 1, top, top + h);
  const box = left === 0 && w === W ? rows : slice(rows, 2, left, left + w);
  return resizeBilinear(box.reshape([1, c, h, w]), [size, size], { alignCorners: false }).reshape([c, size, size]);
}

/**
 * One augmented view per image of `images` [N, 3, S, S] in [0, 1] -> [N, 3, size, size]: RandomResizedCrop,
 * ColorJitter (brightness, contrast, saturation, hue in the drawn order), grayscale,
 * PIL Gaussian blur, horizontal flip, in the official order. Runs without a gradient tape.
 */
export function augmentViews(images: Tensor, params: readonly ViewParams[], size: number): Tensor {
  const [n, c, s] = images.shape as [number, number, number, number];
  if (params.length !== n || c !== 3) {
    throw new Error(`texad: Mean-Shift augmentViews: ${params.length} view parameters for images [${images.shape.join(', ')}] (need one per RGB image)`);
  }
  return images.rt.noGrad(() => {
    const views = params.map((p, i) => {
      let x = resizedCrop(slice(images, 0, i, i + 1).reshape([3, s, s]), p.crop, size);
      for (const [op, f] of p.jitter) x = adjust(x, op, f);
      if (p.grayscale) x = expand(grayscale(x), [3, size, size]);
      if (p.blur > 0) x = pilGaussianBlur(x, p.blur);
      if (p.flip) x = hflip(x);
      return x.reshape([1, 3, size, size]);
    });
    return views.length === 1 ? views[0]! : concat(views, 0);
  });
}
