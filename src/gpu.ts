// texad's browser-safe core: WebGPU runtime, autograd, ops, layers, backbones, methods and metrics. No Node
// built-ins and no image decoders (a page has its own: pass ImageBatch pixels, fetched bytes for weights).
export { acquireGpu, releaseAllDevices, hostRuntime, type AdapterReport, type Gpu, type GpuOptions } from './runtime/device.ts';
export { Runtime, Params, type KernelCall, type RuntimeOptions } from './runtime/runtime.ts';
export { Tensor, formatShape, shapeSize, type Shape } from './runtime/tensor.ts';
export { backward } from './runtime/autograd.ts';
export {
  Adam, AdamW, SGD, clipGradNorm, linearWarmup, multiStepLR, stepLR,
  type AdamOptions, type LrSchedule, type Optimizer, type OptimizerState, type ParamLike, type SGDOptions,
} from './runtime/optim.ts';
export { autotune, autotunePending, autotuneEnabled, resetAutotune } from './runtime/autotune.ts';
export * as ops from './ops/index.ts';
export { BatchNorm, Initializer, Linear, readModule, writeModule, type Module, type NamedTensor } from './nn/layers.ts';
export {
  BACKBONES, RESNET_TAPS, MOBILENETS, loadBackbone, memoryWeights, mobilenetTaps, openWeights, randomWeights, WEIGHTS_ENV,
  type Backbone, type BackboneName, type BackboneOptions, type WeightStore, type WeightsSource,
} from './backbones/index.ts';
export { SafetensorsReader, encodeSafetensors } from './io/safetensors.ts';
export { readNpy, writeNpy, type NpyArray } from './io/npy.ts';
export {
  TfjsError, checkLayerTypes, kerasLayers, parseTfjsModel, readTfjsWeights,
  type KerasLayer, type ShardReader, type TfjsModelJson, type TfjsWeight, type TfjsWeightSpec, type TfjsWeightsGroup,
} from './io/tfjs.ts';
export { TFJS_ARCHS, convertTfjs, type ConvertedModel } from './backbones/convert.ts';
export * from './metrics/index.ts';
export { createDetector, METHODS, type CreateOptions } from './methods/index.ts';
export {
  AbortError, imagesInMemory, seededShuffle, type Detector, type DetectorState, type FitOptions, type FitReport, type ImageBatch, type Prediction,
  type Progress, type TrainingImages,
} from './methods/detector.ts';
export { SimpleNet, PAPER as SIMPLENET_PAPER, QUICK as SIMPLENET_QUICK, simpleNetConfig, type SimpleNetConfig } from './methods/simplenet/index.ts';
export { decodeDetectorState, encodeDetectorState } from './methods/checkpoint.ts';
export { VERSION } from './generated/meta.ts';
