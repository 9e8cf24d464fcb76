// The optical scheme an image is shot under: light position (a directional gradient and a hot spot), brightness,
// contrast, white balance, focus and sensor noise. Texture-AD trains under one stable scheme and tests under
// deliberately changed ones; only photometric changes are modelled, so masks stay aligned with their images.
import type { Rng } from '../random.ts';
import type { Canvas } from './canvas.ts';

export interface OpticalScheme {
  gain: number;
  contrast: number;
  /** Light falls off along this direction (radians) by `gradient` across the image. */
  lightAngle: number;
  gradient: number;
  /** A broad highlight where the lamp reflects, in image units, and its strength. */
  spot: { x: number; y: number; radius: number; strength: number };
  whiteBalance: readonly [number, number, number];
  /** Defocus as a Gaussian blur, sigma in pixels at 256 px (scaled with the image). */
  blur: number;
  /** Sensor noise standard deviation (values in [0, 1]). */
  noise: number;
}

/** The one lighting every training image is shot under. */
export const TRAIN_SCHEME: OpticalScheme = {
  gain: 1, contrast: 1, lightAngle: Math.PI / 4, gradient: 0.06,
  spot: { x: 0.3, y: 0.25, radius: 0.6, strength: 0.04 },
  whiteBalance: [1, 1, 1], blur: 0, noise: 0.006,
};

/** A changed scheme; `strength` 0 gives the training scheme, 1 the full range of Texture-AD's test shifts. */
export function randomScheme(rng: Rng, strength: number): OpticalScheme {
  const k = strength;
  return {
    gain: 1 + rng.range(-0.25, 0.2) * k,
    contrast: 1 + rng.range(-0.2, 0.2) * k,
    lightAngle: rng.range(0, 2 * Math.PI),
    gradient: TRAIN_SCHEME.gradient + rng.range(0, 0.25) * k,
    spot: { x: rng.range(0, 1), y: rng.range(0, 1), radius: rng.range(0.3, 0.8),
      strength: TRAIN_SCHEME.spot.strength + rng.range(0, 0.15) * k },
    whiteBalance: [1 + rng.range(-0.08, 0.08) * k, 1 + rng.range(-0.03, 0.03) * k, 1 + rng.range(-0.08, 0.08) * k],
    blur: rng.chance(0.4) ? rng.range(0.3, 1.3) * k : 0,
    noise: TRAIN_SCHEME.noise + rng.range(0, 0.02) * k,
  };
}

function gaussianBlur(canvas: Canvas, sigma: number): void {
  const r = Math.ceil(sigma * 3);
  const kernel = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += kernel[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  const { width: w, height: h } = canvas;
  const src = canvas.data;
  const tmp = new Float32Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = -r; k <= r; k++) acc += kernel[k + r]! * src[(y * w + Math.min(w - 1, Math.max(0, x + k))) * 3 + c]!;
        tmp[(y * w + x) * 3 + c] = acc;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = -r; k <= r; k++) acc += kernel[k + r]! * tmp[(Math.min(h - 1, Math.max(0, y + k)) * w + x) * 3 + c]!;
        src[(y * w + x) * 3 + c] = acc;
      }
    }
  }
}

export function applyOptics(canvas: Canvas, s: OpticalScheme, rng: Rng): void {
  const { width: w, height: h, data } = canvas;
  const sigma = (s.blur * w) / 256;
  if (sigma > 0.25) gaussianBlur(canvas, sigma);
  let mean = 0;
  for (let i = 0; i < data.length; i++) mean += data[i]!;
  mean /= data.length;
  const lx = Math.cos(s.lightAngle);
  const ly = Math.sin(s.lightAngle);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const X = x / w;
      const Y = y / h;
      const ramp = 1 + s.gradient * ((X - 0.5) * lx + (Y - 0.5) * ly) * 2;
      const spot = s.spot.strength * Math.exp(-((X - s.spot.x) ** 2 + (Y - s.spot.y) ** 2) / (s.spot.radius ** 2));
      for (let c = 0; c < 3; c++) {
        const i = (y * w + x) * 3 + c;
        const v = ((data[i]! - mean) * s.contrast + mean) * s.gain * ramp * s.whiteBalance[c]! + spot;
        data[i] = v + s.noise * rng.normal();
      }
    }
  }
}
