// The data layer's public surface: discovery, protocols, decoding and loading, and the synthetic Texture-AD.
export * from './types.ts';
export { Rng, hashString, seededShuffle } from './random.ts';
export { sniffFormat, probeImage, decodeImage, checkComplete, ImageDecodeError, DEFAULT_MAX_PIXELS,
  type ImageFormat, type ImageInfo, type DecodedImage, type DecodeOptions } from './decode.ts';
export { centreCropPlanes, imageFromBytes, maskFromBytes, resizeBilinear, resizeNearest, toRgbPlanes, toMaskBits,
  type ImageTensor, type MaskTensor, type Size, type ResizeMode, type ResizeOptions } from './image.ts';
export { encodePng } from './encode.ts';
export { DecodePool } from './decode-pool.ts';
export { inferLayout, IMAGE_EXTENSIONS, type LayoutOptions } from './layout.ts';
export { discoverDataset, checkImageFile, type DiscoverOptions } from './discover.ts';
export { textureAdProtocol, mvtecProtocol, protocols, type Protocol, type ProtocolKind, type ProtocolOptions,
  type SampleRef, type EvalRecord } from './protocol.ts';
export { loadImage, loadMask, loadSample, batches, BatchLoader, readFileBytes, DEFAULT_MEMORY_BUDGET,
  type ByteSource, type LoadOptions, type MethodImage, type Batch, type BatchOptions, type LoaderStats } from './loader.ts';
export { PRESETS, CATEGORIES as SYNTH_CATEGORIES, CATEGORY_DEFECTS, SUBCLASSES, type Preset,
  type SynthCategory } from './synth/catalogue.ts';
export { planDataset, renderSample, renderSurface, resolvePreset, type SynthItem, type SynthSample } from './synth/generate.ts';
export { writeSynthDataset, SYNTH_MANIFEST, type SynthOptions, type SynthSummary } from './synth/write.ts';
export { DEFECT_TYPES, type DefectType } from './synth/defects.ts';
