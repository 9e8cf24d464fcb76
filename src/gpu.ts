// texad's browser-safe core: WebGPU runtime, autograd, ops, layers, backbones, methods and metrics. No Node
// built-ins and no image decoders (a page has its own: pass ImageBatch pixels, fetched bytes for weights).
export { acquireGpu, releaseAllDevices, hostRuntime, type AdapterReport, type Gpu, type GpuOptions } from './runtime/device.ts';
export { Runtime, Params, type KernelCall, type RuntimeOptions } from './runtime/runtime.ts';
export { DeviceLimitError } from './runtime/buffers.ts';
export { Tensor, formatShape, shapeSize, type Shape } from './runtime/tensor.ts';
export { backward } from './runtime/autograd.ts';
export {
  Adam, AdamW, SGD, clipGradNorm, linearWarmup, multiStepLR, stepLR,
  type AdamOptions, type LrSchedule, type Optimizer, type OptimizerState, type ParamLike, type SGDOptions,
} from './runtime/optim.ts';
export { autotune, autotunePending, autotuneEnabled, resetAutotune } from './runtime/autotune.ts';
export * as ops from './ops/index.ts';
export {
  AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Initializer, InstanceNorm2d, Layer, LayerNorm, LeakyReLU, Linear, MaxPool2d,
  ReLU, Sequential, Sigmoid, Tanh, Upsample, readModule, writeModule,
  type BatchNormOptions, type BiasInit, type Conv2dLayerOptions, type Modal, type Module, type NamedTensor, type UpsampleOptions,
  type WeightInit,
} from './nn/layers.ts';
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
export {
  createDetector, defineMethod, methodEntry, parseConfig, METHODS, type BuildOptions, type CreateOptions, type MethodEntry,
  type RegisteredMethod,
} from './methods/index.ts';
export type { ImagesResource, ResolvedResources, ResourceSpec, ResourceSpecs, WeightsResource } from './methods/resources.ts';
export {
  AbortError, imagesInMemory, throwIfAborted, type Detector, type DetectorState, type FitOptions, type FitReport,
  type ImageBatch, type Prediction, type Progress, type TrainingImages, type TrainingUnit,
} from './methods/detector.ts';
export { seededShuffle } from './data/random.ts';
export { SimpleNet, PAPER as SIMPLENET_PAPER, QUICK as SIMPLENET_QUICK, simpleNetConfig, type SimpleNetConfig } from './methods/simplenet/index.ts';
export { Draem, PAPER as DRAEM_PAPER, QUICK as DRAEM_QUICK, draemConfig, type DraemConfig } from './methods/draem/index.ts';
export { MSFlow, PAPER as MSFLOW_PAPER, QUICK as MSFLOW_QUICK, postProcess as msflowPostProcess, type MSFlowConfig, type MSFlowOptions } from './methods/msflow/index.ts';
export { decodeDetectorState, encodeDetectorState, packOptimizerState, unpackOptimizerState } from './methods/checkpoint.ts';
export { VERSION } from './generated/meta.ts';
