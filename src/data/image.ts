// Decoded pixels → what methods and metrics consume: RGB float planes resized to a model's input, and binary
// masks. Pure (no file system), so browsers can use it on fetched bytes.
import { decodeImage, type DecodedImage, type DecodeOptions } from './decode.ts';

/** RGB planes, CHW, values in [0, 1]: `data.length === 3 * height * width`. */
export interface ImageTensor {
  data: Float32Array;
  height: number;
  width: number;
}

/** One byte per pixel, 1 = defect, 0 = normal. */
export interface MaskTensor {
  data: Uint8Array;
  height: number;
  width: number;
}

/** Target size: a number is a square side; otherwise explicit height and width. */
export type Size = number | { height: number; width: number };

/**
 * How an image reaches a method's input size — each method declares its official one (Detector.resizeMode):
 * - 'square': stretch to `size` x `size` (torchvision `Resize((size, size))`), aspect ratio not kept;
 * - 'shorter-side': torchvision `Resize(size)` — the shorter side becomes `size`, the longer one
 *   `floor(size * long / short)`, aspect ratio kept.
 * Either may be followed by a centre crop (`crop`, torchvision `CenterCrop`).
 */
export type ResizeMode = 'square' | 'shorter-side';

export interface ResizeOptions extends DecodeOptions {
  /** Resize to this size; the image's own size when absent. */
  size?: Size;
  /** With a numeric `size`: see ResizeMode (default 'square'). */
  mode?: ResizeMode;
  /** Then crop the centre `crop` x `crop`, offsets rounded as torchvision's CenterCrop does. */
  crop?: number;
}

function target(size: Size | undefined, height: number, width: number, mode: ResizeMode = 'square'): { height: number; width: number } {
  if (size === undefined) return { height, width };
  let t = typeof size === 'number' ? { height: size, width: size } : size;
  if (typeof size === 'number' && mode === 'shorter-side') {
    // torchvision.transforms.functional._compute_resized_output_size: int() truncates the longer side.
    t = height <= width ? { height: size, width: Math.floor((size * width) / height) }
      : { height: Math.floor((size * height) / width), width: size };
  } else if (mode !== 'square' && mode !== 'shorter-side') {
    throw new RangeError(`resize mode must be 'square' or 'shorter-side', got '${String(mode)}'`);
  }
  if (!(Number.isInteger(t.height) && Number.isInteger(t.width) && t.height > 0 && t.width > 0)) {
    throw new RangeError(`resize target must be positive integers, got ${t.height}×${t.width}`);
  }
  return t;
}

/** Drops alpha (as PIL's convert('RGB') does): texture photographs have none worth compositing. */
export function toRgbPlanes(img: DecodedImage): ImageTensor {
  const { width, height, rgba, maxValue } = img;
  const n = width * height;
  const data = new Float32Array(3 * n);
  const inv = 1 / maxValue;
  for (let i = 0; i < n; i++) {
    data[i] = rgba[4 * i]! * inv;
    data[n + i] = rgba[4 * i + 1]! * inv;
    data[2 * n + i] = rgba[4 * i + 2]! * inv;
  }
  return { data, height, width };
}

/** Any non-zero colour marks a defect; fully transparent pixels do not (Labelme/palette exports vary). */
export function toMaskBits(img: DecodedImage): MaskTensor {
  const { width, height, rgba } = img;
  const n = width * height;
  const data = new Uint8Array(n);
  const hasAlpha = img.channels === 2 || img.channels === 4;
  for (let i = 0; i < n; i++) {
    const on = rgba[4 * i]! > 0 || rgba[4 * i + 1]! > 0 || rgba[4 * i + 2]! > 0;
    data[i] = on && (!hasAlpha || rgba[4 * i + 3]! > 0) ? 1 : 0;
  }
  return { data, height, width };
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  maxTaps: number;
}

/**
 * Triangle-filter taps for one axis. Shrinking widens the filter to the scale factor, which is what
 * "bilinear with antialiasing" means in PIL and torchvision (antialias=True); enlarging is plain bilinear.
 */
function triangleTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const maxTaps = Math.ceil(support) * 2 + 2;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxTaps);
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inSize, Math.ceil(centre + support));
    let sum = 0;
    let k = 0;
    for (let j = lo; j < hi && k < maxTaps; j++, k++) {
      const w = Math.max(0, 1 - Math.abs(j + 0.5 - centre) / support);
      weights[i * maxTaps + k] = w;
      sum += w;
    }
    for (let t = 0; t < k; t++) weights[i * maxTaps + t]! /= sum || 1;
    start[i] = lo;
    count[i] = k;
  }
  return { start, count, weights, maxTaps };
}

/** Resizes C planes of H×W (CHW) to outH×outW. */
export function resizeBilinear(src: Float32Array, channels: number, h: number, w: number, outH: number,
  outW: number): Float32Array {
  if (h === outH && w === outW) return src;
  const tx = triangleTaps(w, outW);
  const ty = triangleTaps(h, outH);
  const tmp = new Float32Array(channels * h * outW);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const row = (c * h + y) * w;
      const orow = (c * h + y) * outW;
      for (let x = 0; x < outW; x++) {
        let acc = 0;
        const s = tx.start[x]!;
        const wo = x * tx.maxTaps;
        for (let k = 0, n = tx.count[x]!; k < n; k++) acc += src[row + s + k]! * tx.weights[wo + k]!;
        tmp[orow + x] = acc;
      }
    }
  }
  const out = new Float32Array(channels * outH * outW);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < outH; y++) {
      const s = ty.start[y]!;
      const wo = y * ty.maxTaps;
      const n = ty.count[y]!;
      const orow = (c * outH + y) * outW;
      for (let k = 0; k < n; k++) {
        const wgt = ty.weights[wo + k]!;
        const irow = (c * h + s + k) * outW;
        for (let x = 0; x < outW; x++) out[orow + x] += tmp[irow + x]! * wgt;
      }
    }
  }
  return out;
}

/** Nearest neighbour with pixel centres aligned, so a mask stays binary and lands where its image does. */
export function resizeNearest(src: Uint8Array, h: number, w: number, outH: number, outW: number): Uint8Array {
  if (h === outH && w === outW) return src;
  const out = new Uint8Array(outH * outW);
  const xs = new Int32Array(outW);
  for (let x = 0; x < outW; x++) xs[x] = Math.min(w - 1, Math.floor(((x + 0.5) * w) / outW));
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / outH));
    for (let x = 0; x < outW; x++) out[y * outW + x] = src[sy * w + xs[x]!]!;
  }
  return out;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The centre `crop` x `crop` of C planes of H x W (CHW), at torchvision CenterCrop's offsets
 * (`int(round((H - crop) / 2.0))`, the same for the width).
 */
export function centreCropPlanes<T extends Float32Array | Uint8Array>(src: T, channels: number, h: number, w: number,
  crop: number): T {
  if (crop === h && crop === w) return src;
  if (!(Number.isInteger(crop) && crop > 0 && crop <= h && crop <= w)) {
    throw new RangeError(`centre crop of ${crop}px does not fit a ${w}×${h} image; resize to at least ${crop}px first`);
  }
  const top = roundHalfEven((h - crop) / 2);
  const left = roundHalfEven((w - crop) / 2);
  const out = new (src.constructor as new (n: number) => T)(channels * crop * crop);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < crop; y++) {
      const from = (c * h + top + y) * w + left;
      out.set(src.subarray(from, from + crop), (c * crop + y) * crop);
    }
  }
  return out;
}

export function imageFromBytes(bytes: Uint8Array, opts: ResizeOptions = {}): ImageTensor {
  const rgb = toRgbPlanes(decodeImage(bytes, opts));
  const t = target(opts.size, rgb.height, rgb.width, opts.mode);
  const resized = resizeBilinear(rgb.data, 3, rgb.height, rgb.width, t.height, t.width);
  if (opts.crop === undefined) return { data: resized, ...t };
  return { data: centreCropPlanes(resized, 3, t.height, t.width, opts.crop), height: opts.crop, width: opts.crop };
}

/**
 * Union of one or more masks of the same image (AITEX-style `_mask1`, `_mask2`), binarised > 0, then resized
 * with nearest neighbour (and cropped) exactly as its image is. All masks must share one size.
 */
export function maskFromBytes(masks: Uint8Array | readonly Uint8Array[], opts: ResizeOptions = {}): MaskTensor {
  const list = masks instanceof Uint8Array ? [masks] : masks;
  if (list.length === 0) throw new RangeError('maskFromBytes needs at least one mask');
  let union: MaskTensor | undefined;
  for (const bytes of list) {
    const m = toMaskBits(decodeImage(bytes, opts));
    if (!union) union = m;
    else if (m.height !== union.height || m.width !== union.width) {
      throw new RangeError(`masks of one image differ in size: ${union.width}×${union.height} and ${m.width}×${m.height}`);
    } else for (let i = 0; i < m.data.length; i++) union.data[i]! |= m.data[i]!;
  }
  const u = union!;
  const t = target(opts.size, u.height, u.width, opts.mode);
  const resized = resizeNearest(u.data, u.height, u.width, t.height, t.width);
  if (opts.crop === undefined) return { data: resized, ...t };
  return { data: centreCropPlanes(resized, 1, t.height, t.width, opts.crop), height: opts.crop, width: opts.crop };
}
