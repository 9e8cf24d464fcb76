// PyramidFlow's Laplacian "max" pyramid (official LaplacianMaxPyramid): no parameters, built from differentiable
// ops (5x5 binomial blur with zero padding, 2x2 max pooling, nearest upsampling), so gradients flow through
// decomposition and composition alike.
import { add, sub } from '../../ops/elementwise.ts';
import { binomialKernel2d, depthwiseConv2d } from '../../ops/filter.ts';
import { maxPool2d } from '../../ops/pool.ts';
import { resizeNearest } from '../../ops/resize.ts';
import { formatShape, type Tensor } from '../../runtime/tensor.ts';

/** [1,4,6,4,1]^T [1,4,6,4,1] / 256, applied depthwise. */
const BLUR = binomialKernel2d(5);

const blur = (x: Tensor): Tensor => depthwiseConv2d(x, BLUR, 5, 2);

/** Blur, then a 2x2 max pool with stride 2: the official code keeps the maximum instead of subsampling. */
export function pyramidDown(x: Tensor): Tensor {
  return maxPool2d(blur(x), { kernel: 2, stride: 2 });
}

/** Nearest upsampling to `size`, then the blur (no x4 gain, unlike a classic Laplacian pyramid). */
export function pyramidUp(x: Tensor, size: readonly [number, number]): Tensor {
  return blur(resizeNearest(x, [size[0], size[1]]));
}

/**
 * Laplacian levels of x [N, C, H, W]: level i = G_i - up(G_{i+1}) for i < levels - 1, the last level is the
 * coarsest Gaussian level G_{levels-1}. H and W must be divisible by 2^(levels-1), as the official model asserts.
 */
export function buildPyramid(x: Tensor, levels: number): Tensor[] {
  if (!Number.isInteger(levels) || levels < 2) throw new Error(`texad: buildPyramid: levels must be an integer >= 2, got ${levels}`);
  if (x.rank !== 4) throw new Error(`texad: buildPyramid: x must be [N, C, H, W], got ${formatShape(x.shape)}`);
  const unit = 2 ** (levels - 1);
  const [h, w] = x.shape.slice(2) as [number, number];
  if (h % unit !== 0 || w % unit !== 0) {
    throw new Error(`texad: buildPyramid x${formatShape(x.shape)}: H and W must be divisible by 2^(levels-1) = ${unit} for ${levels} levels; resize the input or use fewer levels`);
  }
  const gaussian = [x];
  for (let i = 1; i < levels; i++) gaussian.push(pyramidDown(gaussian[i - 1]!));
  const laplacian: Tensor[] = [];
  for (let i = 0; i < levels - 1; i++) {
    const fine = gaussian[i]!;
    laplacian.push(sub(fine, pyramidUp(gaussian[i + 1]!, [fine.shape[2]!, fine.shape[3]!])));
  }
  laplacian.push(gaussian[levels - 1]!);
  return laplacian;
}

/** Inverse of buildPyramid: from the coarsest level, repeatedly up() to the next finer size and add that level. */
export function composePyramid(levels: readonly Tensor[]): Tensor {
  if (levels.length === 0) throw new Error('texad: composePyramid: got no levels');
  let out = levels[levels.length - 1]!;
  for (let i = levels.length - 2; i >= 0; i--) {
    const level = levels[i]!;
    out = add(pyramidUp(out, [level.shape[2]!, level.shape[3]!]), level);
  }
  return out;
}
