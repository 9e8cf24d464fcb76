// Every differentiable (and forward-only) tensor op, one namespace. Kernel internals stay in their files.
export {
  abs, add, addScalar, affine, atan, atLeast, clamp, div, exp, expand, full, greaterEqual, leakyRelu, log, maximum, mul,
  neg, relu, scale, sigmoid, softplus, sqrt, square, sub, sumTo, tanh,
} from './elementwise.ts';
export { conv2d, type Conv2dOptions } from './conv2d.ts';
export { linear, matmul, type MatmulOptions } from './matmul.ts';
export { batchNorm, foldBatchNorm, layerNorm, layerNormChannels, type BatchNormParams, type BatchNormState } from './norm.ts';
export { adaptiveAvgPool1d, avgPool2d, globalAvgPool, maxPool2d, type AvgPool2dOptions, type Pool2dOptions } from './pool.ts';
export { resizeBilinear, resizeNearest } from './resize.ts';
export { concat, gatherChannels, pad2d, permute, slice, split } from './layout.ts';
export { absDiffChannelMean, l2Normalize, logSoftmax, max, mean, softmax, sqDiffChannelMean, sum } from './reduce.ts';
export {
  binomialKernel2d, boxFilter, depthwiseConv2d, gaussianBlur, gaussianKernel1d, gaussianKernel2d, unfold3x3,
} from './filter.ts';
export { quantile, quantileTensor, topKMean, type SelectOptions } from './select.ts';
export { knnSquaredDistance, type Neighbours } from './distance.ts';
export { adjustHue } from './color.ts';
export { fft2dMagnitude } from './fft.ts';
export { GpuRng, cpuNormal, cpuUniform, dropout, type RngKey } from './random.ts';
export { perlinNoise, randomPerlinNoise, type PerlinRes } from './perlin.ts';
export {
  applyLut, autocontrast, blendAnomaly, brightness, equalize, gammaLut, hueSaturation, identityLut, invertLut,
  posterizeLut, rotate, sharpen, solarizeLut, toUint8,
} from './augment.ts';
