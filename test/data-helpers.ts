// Hand-made image files for the data tests: every format and pixel layout the decoders claim to read, written
// byte by byte where no encoder is at hand (palette PNG, BMP).
import { deflateSync } from 'node:zlib';
import { mkdtempSync, mkdirSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { expect } from 'vitest';
import type { BatchLoader } from '../src/data/loader.ts';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A PNG of any colour type and bit depth 8 or 16; `sample(x, y, c)` gives raw sample values. */
export function rawPng(width: number, height: number, colorType: 0 | 2 | 3 | 4 | 6, bitDepth: 8 | 16,
  sample: (x: number, y: number, c: number) => number, palette?: [number, number, number][]): Uint8Array {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
  const bps = bitDepth / 8;
  const rows = new Uint8Array(height * (1 + width * channels * bps));
  let o = 0;
  for (let y = 0; y < height; y++) {
    rows[o++] = 0;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const v = sample(x, y, c);
        if (bps === 2) rows[o++] = v >>> 8;
        rows[o++] = v & 0xff;
      }
    }
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (palette) parts.push(chunk('PLTE', new Uint8Array(palette.flat())));
  parts.push(chunk('IDAT', new Uint8Array(deflateSync(rows))), chunk('IEND', new Uint8Array()));
  return concat(parts);
}

/** 8-bit RGB PNG through pngjs (as the generator writes them). */
export function rgbPng(width: number, height: number, rgb: (x: number, y: number) => [number, number, number]): Uint8Array {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rgb(x, y);
      const o = (y * width + x) * 4;
      png.data[o] = r;
      png.data[o + 1] = g;
      png.data[o + 2] = b;
      png.data[o + 3] = 255;
    }
  }
  return new Uint8Array(PNG.sync.write(png, { colorType: 2 }));
}

export function grayPng(width: number, height: number, v: (x: number, y: number) => number): Uint8Array {
  return rawPng(width, height, 0, 8, (x, y) => v(x, y));
}

export function rgbJpeg(width: number, height: number, rgb: (x: number, y: number) => [number, number, number],
  quality = 95): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rgb(x, y);
      data.set([r, g, b, 255], (y * width + x) * 4);
    }
  }
  return new Uint8Array(jpeg.encode({ width, height, data }, quality).data);
}

/** Uncompressed BMP: 24- or 32-bit BGR(A), or 8-bit with a palette; bottom-up unless `topDown`. */
export function bmp(width: number, height: number, bpp: 8 | 24 | 32, pixel: (x: number, y: number) => number[],
  opts: { palette?: [number, number, number][]; topDown?: boolean } = {}): Uint8Array {
  const stride = Math.ceil((width * bpp) / 32) * 4;
  const paletteBytes = bpp === 8 ? 4 * (opts.palette?.length ?? 256) : 0;
  const offset = 54 + paletteBytes;
  const out = new Uint8Array(offset + stride * height);
  const dv = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  dv.setUint32(2, out.length, true);
  dv.setUint32(10, offset, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, width, true);
  dv.setInt32(22, opts.topDown ? -height : height, true);
  dv.setUint16(26, 1, true);
  dv.setUint16(28, bpp, true);
  dv.setUint32(46, bpp === 8 ? opts.palette?.length ?? 256 : 0, true);
  (opts.palette ?? []).forEach(([r, g, b], i) => out.set([b, g, r, 0], 54 + 4 * i));
  for (let y = 0; y < height; y++) {
    const row = offset + (opts.topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const p = pixel(x, y);
      if (bpp === 8) out[row + x] = p[0]!;
      else out.set([p[2]!, p[1]!, p[0]!, ...(bpp === 32 ? [p[3] ?? 255] : [])], row + (x * bpp) / 8);
    }
  }
  return out;
}

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `texad-${label}-`));
}

/** Writes `files` (relative path → bytes) under `root`, creating folders. */
export function writeTree(root: string, files: Record<string, Uint8Array | string>): void {
  for (const [rel, bytes] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, bytes);
  }
}

/** Every file and folder under `root` with size and modification time: proof that nothing was written. */
export function snapshot(root: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const s = statSync(p);
      out.push(`${p} ${s.size} ${s.mtimeMs}`);
      if (s.isDirectory()) visit(p);
    }
  };
  visit(root);
  return out;
}

/**
 * Consumes `loader` more slowly than it decodes, as a GPU training step does, so that it fills up to its budget;
 * asserts at every batch that it holds at most `budget` bytes. Returns the number of images seen.
 */
export async function drainSlowly(loader: BatchLoader, budget: number, delayMs: number): Promise<number> {
  let seen = 0;
  for await (const b of loader) {
    seen += b.count;
    expect(loader.heldBytes).toBeLessThanOrEqual(budget);
    await new Promise((r) => setTimeout(r, delayMs));
  }
  return seen;
}
