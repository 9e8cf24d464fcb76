import { describe, expect, it } from 'vitest';
import { checkComplete, decodeImage, ImageDecodeError, probeImage } from '../src/data/decode.ts';
import { imageFromBytes, maskFromBytes, resizeBilinear, resizeNearest } from '../src/data/image.ts';
import { encodePng } from '../src/data/encode.ts';
import { bmp, grayPng, rawPng, rgbJpeg, rgbPng } from './data-helpers.ts';

const W = 5;
const H = 3;
const colour = (x: number, y: number): [number, number, number] => [x * 50, y * 100, 255 - x * 40];

function pixel(t: { data: Float32Array; height: number; width: number }, x: number, y: number): number[] {
  const n = t.height * t.width;
  return [0, 1, 2].map((c) => Math.round(t.data[c * n + y * t.width + x]! * 255));
}

describe('decoding', () => {
  it('reads 8-bit RGB, RGBA, gray and gray+alpha PNG into RGB planes', () => {
    const rgb = imageFromBytes(rgbPng(W, H, colour));
    expect([rgb.width, rgb.height]).toEqual([W, H]);
    expect(pixel(rgb, 3, 2)).toEqual(colour(3, 2));
    const rgba = imageFromBytes(rawPng(W, H, 6, 8, (x, y, c) => (c < 3 ? colour(x, y)[c]! : 17)));
    expect(pixel(rgba, 4, 1)).toEqual(colour(4, 1));
    const gray = imageFromBytes(grayPng(W, H, (x, y) => x * 10 + y));
    expect(pixel(gray, 2, 1)).toEqual([21, 21, 21]);
    const ga = imageFromBytes(rawPng(W, H, 4, 8, (x, _y, c) => (c === 0 ? 200 - x : 0)));
    expect(pixel(ga, 1, 0)).toEqual([199, 199, 199]);
  });

  it('scales 16-bit PNG samples to [0, 1] without losing precision', () => {
    const img = imageFromBytes(rawPng(W, H, 2, 16, (x, _y, c) => (c === 0 ? 65535 : c === 1 ? 32768 : x * 1000)));
    const n = W * H;
    expect(img.data[0]).toBeCloseTo(1, 6);
    expect(img.data[n]).toBeCloseTo(32768 / 65535, 6);
    expect(img.data[2 * n + 3]).toBeCloseTo(3000 / 65535, 6);
    expect(probeImage(rawPng(2, 2, 0, 16, () => 5))).toMatchObject({ channels: 1, bitDepth: 16 });
  });

  it('expands palette PNGs', () => {
    const pal: [number, number, number][] = [[10, 20, 30], [200, 100, 0]];
    const img = imageFromBytes(rawPng(W, H, 3, 8, (x) => x % 2, pal));
    expect(pixel(img, 0, 0)).toEqual([10, 20, 30]);
    expect(pixel(img, 1, 2)).toEqual([200, 100, 0]);
  });

  it('reads JPEG (colour within compression error, gray exactly enough)', () => {
    const img = imageFromBytes(rgbJpeg(16, 16, () => [180, 60, 30]));
    const p = pixel(img, 8, 8);
    [180, 60, 30].forEach((v, c) => expect(Math.abs(p[c]! - v)).toBeLessThan(6));
    expect(probeImage(rgbJpeg(16, 8, () => [1, 2, 3]))).toMatchObject({ format: 'jpeg', width: 16, height: 8, channels: 3 });
  });

  it('reads BMP: 24-bit bottom-up, 32-bit top-down, 8-bit palette', () => {
    const b24 = imageFromBytes(bmp(W, H, 24, colour));
    expect(pixel(b24, 4, 2)).toEqual(colour(4, 2));
    expect(pixel(b24, 0, 0)).toEqual(colour(0, 0));
    const b32 = imageFromBytes(bmp(W, H, 32, (x, y) => [...colour(x, y), 255], { topDown: true }));
    expect(pixel(b32, 2, 1)).toEqual(colour(2, 1));
    const b8 = imageFromBytes(bmp(W, H, 8, (x) => [x % 2], { palette: [[0, 0, 0], [255, 128, 1]] }));
    expect(pixel(b8, 1, 1)).toEqual([255, 128, 1]);
  });

  it('names what is wrong with files it cannot read', () => {
    const png = rgbPng(W, H, colour);
    expect(() => decodeImage(png.subarray(0, png.length - 20))).toThrow(ImageDecodeError);
    expect(() => decodeImage(new TextEncoder().encode('hello, not an image'))).toThrow(/not a PNG, JPEG or BMP/);
    expect(() => decodeImage(new Uint8Array([0x49, 0x49, 42, 0, 8, 0, 0, 0]))).toThrow(/TIFF is not supported/);
    const rle = bmp(W, H, 8, () => [0], { palette: [[0, 0, 0]] });
    new DataView(rle.buffer).setUint32(30, 1, true);
    expect(() => decodeImage(rle)).toThrow(/compression 1 is not supported/);
    expect(() => decodeImage(png, { maxPixels: 10 })).toThrow(/exceeds the limit of 10 pixels/);
  });

  it('detects truncation from the last bytes alone', () => {
    for (const bytes of [rgbPng(W, H, colour), rgbJpeg(16, 16, () => [9, 9, 9]), bmp(W, H, 24, colour)]) {
      const info = probeImage(bytes)!;
      expect(checkComplete(info, bytes, bytes.subarray(bytes.length - 64), bytes.length)).toBeUndefined();
      const cut = bytes.subarray(0, bytes.length - 7);
      expect(checkComplete(info, cut, cut.subarray(cut.length - 64), cut.length)).toMatch(/truncated/);
    }
  });
});

describe('resizing', () => {
  it('averages when shrinking (antialiasing) and keeps constants constant', () => {
    const n = 64;
    const checker = new Float32Array(3 * n * n).map((_, i) => ((i % n) + Math.floor(i / n)) % 2);
    const small = resizeBilinear(checker, 3, n, n, 8, 8);
    for (const v of small) expect(v).toBeCloseTo(0.5, 2);
    const flat = resizeBilinear(new Float32Array(3 * 10 * 7).fill(0.3), 3, 10, 7, 23, 4);
    for (const v of flat) expect(v).toBeCloseTo(0.3, 5);
  });

  it('interpolates linearly when enlarging', () => {
    const ramp = new Float32Array([0, 1]);
    const up = resizeBilinear(ramp, 1, 1, 2, 1, 4);
    expect([...up].map((v) => +v.toFixed(3))).toEqual([0, 0.25, 0.75, 1]);
  });

  it('resizes masks with nearest neighbour, binarised, unioned', () => {
    const a = encodePng(new Uint8Array(16).map((_, i) => (i === 0 ? 255 : 0)), 4, 4, 1);
    const b = encodePng(new Uint8Array(16).map((_, i) => (i === 15 ? 3 : 0)), 4, 4, 1);
    const m = maskFromBytes([a, b], { size: 8 });
    expect(m.data.length).toBe(64);
    expect(new Set(m.data)).toEqual(new Set([0, 1]));
    expect(m.data[0]).toBe(1);
    expect(m.data[63]).toBe(1);
    expect(m.data.reduce((s, v) => s + v, 0)).toBe(8);
    expect([...resizeNearest(new Uint8Array([1, 0, 0, 1]), 2, 2, 1, 1)]).toHaveLength(1);
    expect(() => maskFromBytes([a, encodePng(new Uint8Array(4), 2, 2, 1)])).toThrow(/differ in size/);
  });
});
