// Illumination normalisation of input images: a texad addition for the Texture-AD protocol, where a model trains
// under one optical scheme and is tested under changed ones. Off in every paper preset; a method turns it on with
// its `illumination_sigma` hyper-parameter and says in its README what the setting was chosen on.
//
// Two steps, per image and channel, each removing a part of a lighting change that is smooth or global:
// 1. flat-field correction: x / G_sigma(x), the image over its own Gaussian blur (scipy's gaussian_filter, mode
//    'reflect'). Exposure, white balance, light fall-off across the part and broad highlights multiply the image by
//    something smooth, which the ratio cancels; texture and defects much smaller than sigma pass.
// 2. standardisation: (r - mean) / std over the plane, which removes a contrast change and what the ratio leaves of
//    the level. Defects cover a few percent of an image at most, so they barely move either statistic.
// The result is mapped to 0.5 + 0.2 z, so values stay near the [0, 1] range the methods' other inputs use (DRAEM's
// anomaly sources, SSIM's constants). Measured on held-out synthetic sets 101-102 (tiny, 128 px): a trivial
// patch-statistics kNN detector scored 56.7 mean image AUROC on raw images, 65.1 with step 2 alone, 66.0 with step
// 1 alone (sigma = side / 16) and 77.5 with both (README "Datasets").
import { affine, clamp, div } from '../../ops/elementwise.ts';
import { gaussianBlur } from '../../ops/filter.ts';
import { layerNorm } from '../../ops/norm.ts';
import { formatShape, type Tensor } from '../../runtime/tensor.ts';

/** Blur values are floored here before the division (an all-black region would otherwise divide by zero). */
const FLOOR = 1e-3;

/**
 * Illumination-normalised copy of images x [N, C, H, W] (no gradient): each channel of each image divided by its
 * Gaussian blur of sigma = `sigmaFraction` x the image side, standardised over the plane, mapped to 0.5 + 0.2 z.
 */
export function normalizeIllumination(x: Tensor, sigmaFraction: number): Tensor {
  const rt = x.rt;
  const what = `normalizeIllumination x${formatShape(x.shape)} sigma ${sigmaFraction}`;
  if (x.rank !== 4) throw new Error(`texad: ${what}: needs images [N, C, H, W]`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const sigma = sigmaFraction * Math.max(h, w);
  // Reflect padding folds the kernel back once: the radius (4 sigma) must fit inside the image.
  if (!(sigmaFraction > 0) || Math.floor(4 * sigma + 0.5) >= Math.min(h, w)) {
    throw new Error(`texad: ${what}: sigma must be above 0 and its 4-sigma radius (${(4 * sigma).toFixed(1)} px) below the image side; use a smaller fraction`);
  }
  return rt.noGrad(() => {
    const ratio = div(x, clamp(gaussianBlur(x, sigma), FLOOR));
    const z = layerNorm(ratio.reshape([n * c, h * w]), null, null, 1e-6);
    return affine(z, 0.2, 0.5).reshape([n, c, h, w]);
  });
}
