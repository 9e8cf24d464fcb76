// A float RGB raster (HWC, values nominally in [0, 1]) that the generators paint into.

export type Rgb = readonly [number, number, number];

export class Canvas {
  readonly data: Float32Array;

  constructor(readonly width: number, readonly height: number, data?: Float32Array) {
    this.data = data ?? new Float32Array(width * height * 3);
  }

  clone(): Canvas {
    return new Canvas(this.width, this.height, this.data.slice());
  }

  /** Bilinear read with clamped borders, for warps that resample the painted image. */
  sample(x: number, y: number, out: Float32Array): void {
    const w = this.width;
    const h = this.height;
    const cx = Math.min(Math.max(x - 0.5, 0), w - 1);
    const cy = Math.min(Math.max(y - 0.5, 0), h - 1);
    const x0 = Math.min(Math.floor(cx), w - 2 < 0 ? 0 : w - 2);
    const y0 = Math.min(Math.floor(cy), h - 2 < 0 ? 0 : h - 2);
    const fx = cx - x0;
    const fy = cy - y0;
    const d = this.data;
    const i00 = (y0 * w + x0) * 3;
    const i10 = i00 + 3;
    const i01 = i00 + w * 3;
    const i11 = i01 + 3;
    for (let c = 0; c < 3; c++) {
      const a = d[i00 + c]! + fx * (d[i10 + c]! - d[i00 + c]!);
      const b = d[i01 + c]! + fx * (d[i11 + c]! - d[i01 + c]!);
      out[c] = a + fy * (b - a);
    }
  }

  /** 8-bit RGB, clamped and rounded, as written to PNG. */
  toRgb8(): Uint8Array {
    const out = new Uint8Array(this.data.length);
    for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, this.data[i]!)) * 255);
    return out;
  }
}

/**
 * Paints every pixel from `shade(x, y, out)` evaluated on an n×n grid of sub-pixel positions and averaged:
 * procedural patterns with sharp edges (thread gaps, die outlines) would alias otherwise.
 */
export function paint(canvas: Canvas, n: number, shade: (x: number, y: number, out: Float32Array) => void): void {
  const tmp = new Float32Array(3);
  const d = canvas.data;
  const inv = 1 / (n * n);
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      let r = 0, g = 0, b = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          shade(x + (sx + 0.5) / n, y + (sy + 0.5) / n, tmp);
          r += tmp[0]!;
          g += tmp[1]!;
          b += tmp[2]!;
        }
      }
      const o = (y * canvas.width + x) * 3;
      d[o] = r * inv;
      d[o + 1] = g * inv;
      d[o + 2] = b * inv;
    }
  }
}
