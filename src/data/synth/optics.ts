// The optical scheme an image is shot under: light position (a directional gradient and a hot spot), exposure,
// contrast, colour temperature, focus, sensor noise, and the camera's distance and roll (slight scale and rotation).
// Texture-AD trains under one stable scheme and tests under deliberately changed ones, good and defective test
// images alike. The geometric part warps the clean surface before a defect is painted (warpSurface), so masks stay
// exact; the photometric part (applyOptics) changes values only, so masks stay aligned.
import type { Rng } from '../random.ts';
import { Canvas } from './canvas.ts';

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
  /** Zoom (≥ 1: the camera is closer, so a rotated frame never reaches past the rendered surface) and roll (rad). */
  scale: number;
  rotation: number;
}

/** The one lighting every training image is shot under. */
export const TRAIN_SCHEME: OpticalScheme = {
  gain: 1, contrast: 1, lightAngle: Math.PI / 4, gradient: 0.06,
  spot: { x: 0.3, y: 0.25, radius: 0.6, strength: 0.04 },
  whiteBalance: [1, 1, 1], blur: 0, noise: 0.006, scale: 1, rotation: 0,
};

/**
 * A changed scheme; `strength` 0 gives the training scheme, 1 the full range of Texture-AD's test shifts. The
 * ranges are calibrated so that global colour and patch statistics move more between test shots than a defect
 * moves them (README "Datasets", tools/calibrate-synth.ts).
 */
export function randomScheme(rng: Rng, strength: number): OpticalScheme {
  const k = strength;
  // Colour temperature: warmer light raises red and lowers blue together; a small green tint on top.
  const warm = rng.range(-0.14, 0.14) * k;
  const rotation = rng.range(-0.06, 0.06) * k;
  return {
    gain: 1 + rng.range(-0.3, 0.25) * k,
    contrast: 1 + rng.range(-0.25, 0.2) * k,
    lightAngle: rng.range(0, 2 * Math.PI),
    gradient: TRAIN_SCHEME.gradient + rng.range(0, 0.3) * k,
    spot: { x: rng.range(0, 1), y: rng.range(0, 1), radius: rng.range(0.3, 0.8),
      strength: TRAIN_SCHEME.spot.strength + rng.range(0, 0.15) * k },
    whiteBalance: [1 + warm, 1 + rng.range(-0.04, 0.04) * k, 1 - warm],
    blur: rng.chance(0.5) ? rng.range(0.4, 1.6) * k : 0,
    noise: TRAIN_SCHEME.noise + rng.range(0, 0.025) * k,
    // The least zoom that keeps the rolled frame inside the surface, plus up to 10 % closer.
    scale: (Math.abs(Math.cos(rotation)) + Math.abs(Math.sin(rotation))) * (1 + rng.range(0, 0.1) * k),
    rotation,
  };
}

/**
 * The surface as seen by a camera `s.scale` times closer and rolled by `s.rotation` about the image centre
 * (bilinear resampling). Applied before any defect is painted, so defect masks stay exact.
 */
export function warpSurface(canvas: Canvas, s: OpticalScheme): Canvas {
  if (s.scale === 1 && s.rotation === 0) return canvas;
  const { width: w, height: h } = canvas;
  const out = new Canvas(w, h);
  const c = Math.cos(s.rotation) / s.scale;
  const si = Math.sin(s.rotation) / s.scale;
  const px = new Float32Array(3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const dx = x + 0.5 - w / 2;
      const dy = y + 0.5 - h / 2;
      canvas.sample(w / 2 + c * dx - si * dy, h / 2 + si * dx + c * dy, px);
      out.data.set(px, (y * w + x) * 3);
    }
  }
  return out;
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
