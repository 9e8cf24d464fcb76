// Image decoding from bytes: PNG (pngjs), JPEG (jpeg-js) and BMP (below). No file system here, so the same code
// serves Node, Deno and browsers; callers that know the file name add it to the error message.
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';

export type ImageFormat = 'png' | 'jpeg' | 'bmp';

/** What the header says; enough to check sizes and channel counts without decoding pixels. */
export interface ImageInfo {
  format: ImageFormat;
  width: number;
  height: number;
  /** Channels stored in the file: 1 gray, 2 gray+alpha, 3 colour (palette counts as 3), 4 colour+alpha. */
  channels: 1 | 2 | 3 | 4;
  bitDepth: number;
}

/** Decoded pixels, always 4 samples per pixel (RGBA, gray replicated), samples in [0, maxValue]. */
export interface DecodedImage extends ImageInfo {
  rgba: Uint8Array | Uint16Array;
  maxValue: number;
}

/** The bytes are not an image texad can read; the message says why and, where there is one, what fixes it. */
export class ImageDecodeError extends Error {}

/** Default ceiling on decoded pixels: a 64-megapixel image alone needs ~1 GiB as float RGB. */
export const DEFAULT_MAX_PIXELS = 64 * 1024 * 1024;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function sniffFormat(bytes: Uint8Array): ImageFormat | 'tiff' | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) return 'bmp';
  if (bytes.length >= 4 && ((bytes[0] === 0x49 && bytes[1] === 0x49 && bytes[2] === 42 && bytes[3] === 0) ||
    (bytes[0] === 0x4d && bytes[1] === 0x4d && bytes[2] === 0 && bytes[3] === 42))) return 'tiff';
  return undefined;
}

function u16be(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32be(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function u16le(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function i32le(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

function unsupportedFormat(bytes: Uint8Array): ImageDecodeError {
  const kind = sniffFormat(bytes);
  if (kind === 'tiff') {
    return new ImageDecodeError('TIFF is not supported; convert it to PNG (e.g. `magick in.tif out.png`)');
  }
  return new ImageDecodeError(bytes.length === 0 ? 'empty file' : 'not a PNG, JPEG or BMP image (unknown signature)');
}

const PNG_CHANNELS: Record<number, 1 | 2 | 3 | 4> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

function probePng(b: Uint8Array): ImageInfo {
  if (b.length < 29 || String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!) !== 'IHDR') {
    throw new ImageDecodeError('PNG without an IHDR header (truncated or corrupt)');
  }
  const colorType = b[25]!;
  const channels = PNG_CHANNELS[colorType];
  if (channels === undefined) throw new ImageDecodeError(`PNG with invalid colour type ${colorType}`);
  return { format: 'png', width: u32be(b, 16), height: u32be(b, 20), channels, bitDepth: b[24]! };
}

/** Returns undefined when the frame header lies beyond the bytes given (large EXIF blocks): read more. */
function probeJpeg(b: Uint8Array): ImageInfo | undefined {
  let o = 2;
  while (o + 4 <= b.length) {
    if (b[o] !== 0xff) throw new ImageDecodeError(`JPEG marker expected at byte ${o} (corrupt file)`);
    const marker = b[o + 1]!;
    if (marker === 0xff) {
      o++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      o += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) throw new ImageDecodeError('JPEG without a frame header (SOF)');
    const len = u16be(b, o + 2);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (o + 10 > b.length) return undefined;
      const comps = b[o + 9]!;
      if (comps !== 1 && comps !== 3 && comps !== 4) {
        throw new ImageDecodeError(`JPEG with ${comps} components (only 1, 3 or 4 are supported)`);
      }
      // CMYK (4 components) decodes to RGB, so it counts as colour.
      return { format: 'jpeg', width: u16be(b, o + 7), height: u16be(b, o + 5), channels: comps === 1 ? 1 : 3,
        bitDepth: b[o + 4]! };
    }
    o += 2 + len;
  }
  return undefined;
}

interface BmpHeader extends ImageInfo {
  dataOffset: number;
  dibSize: number;
  rawHeight: number;
  compression: number;
  paletteSize: number;
  stride: number;
}

function parseBmp(b: Uint8Array): BmpHeader {
  if (b.length < 26) throw new ImageDecodeError('BMP header truncated');
  const dataOffset = u32le(b, 10);
  const dibSize = u32le(b, 14);
  let width: number, rawHeight: number, bpp: number, compression = 0, clrUsed = 0;
  if (dibSize === 12) {
    width = u16le(b, 18);
    rawHeight = u16le(b, 20);
    bpp = u16le(b, 24);
  } else if (dibSize >= 40) {
    if (b.length < 54) throw new ImageDecodeError('BMP header truncated');
    width = i32le(b, 18);
    rawHeight = i32le(b, 22);
    bpp = u16le(b, 28);
    compression = u32le(b, 30);
    clrUsed = u32le(b, 46);
  } else {
    throw new ImageDecodeError(`BMP with an unknown ${dibSize}-byte info header`);
  }
  const supported = (compression === 0 && [1, 4, 8, 24, 32].includes(bpp)) || (compression === 3 && bpp === 32);
  if (!supported) {
    throw new ImageDecodeError(`BMP with ${bpp} bits per pixel and compression ${compression} is not supported ` +
      '(only uncompressed 1/4/8-bit palette, 24-bit and 32-bit); re-save it as PNG');
  }
  if (width <= 0 || rawHeight === 0) throw new ImageDecodeError(`BMP with invalid size ${width}×${rawHeight}`);
  const paletteSize = bpp <= 8 ? clrUsed || 1 << bpp : 0;
  const hasAlpha = compression === 3 && dibSize >= 56 && u32le(b, 66) !== 0;
  return {
    format: 'bmp', width, height: Math.abs(rawHeight), channels: hasAlpha ? 4 : 3, bitDepth: 8,
    dataOffset, dibSize, rawHeight, compression, paletteSize, stride: ((bpp * width + 31) >>> 5) * 4,
  };
}

/**
 * Reads the header only. `bytes` may be the start of the file; returns undefined when the header is not in it
 * (read the whole file and ask again). Throws ImageDecodeError for anything that is not a readable image.
 */
export function probeImage(bytes: Uint8Array): ImageInfo | undefined {
  switch (sniffFormat(bytes)) {
    case 'png':
      return probePng(bytes);
    case 'jpeg':
      return probeJpeg(bytes);
    case 'bmp': {
      const { format, width, height, channels, bitDepth } = parseBmp(bytes);
      return { format, width, height, channels, bitDepth };
    }
    default:
      throw unsupportedFormat(bytes);
  }
}

const PNG_IEND = [0x49, 0x45, 0x4e, 0x44];

/**
 * Cheap completeness check from the last bytes of a file: a truncated download or copy is the commonest broken
 * image, and this finds it without decoding. Returns a message, or undefined when the file looks whole.
 */
export function checkComplete(info: ImageInfo, head: Uint8Array, tail: Uint8Array, fileSize: number): string | undefined {
  if (info.format === 'png') {
    for (let i = tail.length - 8; i >= 0 && i >= tail.length - 64; i--) {
      if (PNG_IEND.every((c, k) => tail[i + k] === c)) return undefined;
    }
    return 'truncated PNG (no IEND chunk at the end)';
  }
  if (info.format === 'jpeg') {
    for (let i = tail.length - 2; i >= 0; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) return undefined;
    return 'truncated JPEG (no end-of-image marker)';
  }
  const bmp = parseBmp(head);
  const need = bmp.dataOffset + bmp.stride * bmp.height;
  return fileSize < need ? `truncated BMP (${fileSize} bytes, pixel data needs ${need})` : undefined;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
}

function checkPixels(info: ImageInfo, maxPixels: number): void {
  if (info.width <= 0 || info.height <= 0) throw new ImageDecodeError(`invalid image size ${info.width}×${info.height}`);
  if (info.width * info.height > maxPixels) {
    throw new ImageDecodeError(`image of ${info.width}×${info.height} exceeds the limit of ${maxPixels} pixels; ` +
      'downscale it or raise maxPixels (--max-pixels)');
  }
}

export function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): DecodedImage {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const info = probeImage(bytes);
  if (!info) throw new ImageDecodeError(`${sniffFormat(bytes)?.toUpperCase()} header incomplete (truncated file)`);
  checkPixels(info, maxPixels);
  switch (info.format) {
    case 'png':
      return decodePng(bytes, info);
    case 'jpeg':
      return decodeJpeg(bytes, info, maxPixels);
    case 'bmp':
      return decodeBmp(bytes);
  }
}

function decodePng(bytes: Uint8Array, info: ImageInfo): DecodedImage {
  let png;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  } catch (err) {
    throw new ImageDecodeError(`corrupt PNG: ${err instanceof Error ? err.message : String(err)}`);
  }
  const palette = (png as unknown as { palette?: boolean }).palette === true;
  // pngjs expands palettes to 8-bit colours but leaves other depths unscaled when asked to (skipRescale).
  const maxValue = palette ? 255 : 2 ** info.bitDepth - 1;
  const data = png.data as unknown as Uint8Array | Uint16Array;
  return { ...info, rgba: data, maxValue };
}

function decodeJpeg(bytes: Uint8Array, info: ImageInfo, maxPixels: number): DecodedImage {
  try {
    const out = jpeg.decode(bytes, {
      useTArray: true, formatAsRGBA: true,
      maxResolutionInMP: maxPixels / 1e6, maxMemoryUsageInMB: Math.ceil((maxPixels * 12) / 2 ** 20),
    });
    return { ...info, rgba: out.data, maxValue: 255 };
  } catch (err) {
    throw new ImageDecodeError(`corrupt or unsupported JPEG: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function maskShift(mask: number): [shift: number, max: number] {
  if (mask === 0) return [0, 0];
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return [shift, mask >>> shift];
}

function decodeBmp(b: Uint8Array): DecodedImage {
  const h = parseBmp(b);
  const { width, height, stride } = h;
  if (b.length < h.dataOffset + stride * height) {
    throw new ImageDecodeError(`truncated BMP (${b.length} bytes, pixel data needs ${h.dataOffset + stride * height})`);
  }
  const rgba = new Uint8Array(width * height * 4);
  const bpp = h.dibSize === 12 ? u16le(b, 24) : u16le(b, 28);
  const paletteStart = 14 + h.dibSize;
  const entry = h.dibSize === 12 ? 3 : 4;
  let masks: [number, number][] = [];
  if (h.compression === 3) {
    // The colour masks sit right after the 40-byte info header, whether or not the header is a longer V4/V5 one.
    masks = [u32le(b, 54), u32le(b, 58), u32le(b, 62)].map(maskShift);
  }
  for (let y = 0; y < height; y++) {
    const row = h.dataOffset + (h.rawHeight > 0 ? height - 1 - y : y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (bpp <= 8) {
        const bit = x * bpp;
        const idx = (b[row + (bit >>> 3)]! >>> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        if (idx >= h.paletteSize) throw new ImageDecodeError(`BMP pixel refers to colour ${idx} beyond its palette`);
        const p = paletteStart + idx * entry;
        rgba[o] = b[p + 2]!;
        rgba[o + 1] = b[p + 1]!;
        rgba[o + 2] = b[p]!;
      } else if (h.compression === 3) {
        const v = u32le(b, row + x * 4);
        for (let c = 0; c < 3; c++) {
          const [shift, max] = masks[c]!;
          rgba[o + c] = max ? Math.round((((v >>> shift) & max) * 255) / max) : 0;
        }
      } else {
        const p = row + x * (bpp >>> 3);
        rgba[o] = b[p + 2]!;
        rgba[o + 1] = b[p + 1]!;
        rgba[o + 2] = b[p]!;
      }
      rgba[o + 3] = 255;
    }
  }
  const { format, channels, bitDepth } = h;
  return { format, width, height, channels, bitDepth, rgba, maxValue: 255 };
}
