// Metal plate: brushed (long parallel grain, a broad specular sheen across the grain) or matte (bead-blasted,
// isotropic fine grain with mottling), in an anodised or bare-metal colour.
import type { Rng } from '../random.ts';
import { Canvas, paint, type Rgb } from './canvas.ts';
import { Noise2 } from './noise.ts';

export type Finish = 'brushed' | 'matte';

export interface MetalDesign {
  finish: Finish;
  colour: Rgb;
  /** Strength of the grain (brush lines or blasting pits). */
  grain: number;
  /** Brush direction in radians from horizontal; matte ignores it. */
  angle: number;
  /** Strength of the broad reflection band. */
  sheen: number;
}

export function renderMetal(design: MetalDesign, size: number, rng: Rng): Canvas {
  const canvas = new Canvas(size, size);
  const noise = new Noise2(rng);
  const angle = design.angle + rng.range(-0.03, 0.03);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const phase = rng.range(0, 2 * Math.PI);
  const { colour, grain, sheen } = design;
  paint(canvas, 1, (x, y, out) => {
    const X = x / size;
    const Y = y / size;
    let g: number;
    let spec: number;
    if (design.finish === 'brushed') {
      // Along the brush direction (a) the grain is long; across it (b) it changes every pixel or two.
      const a = cos * x + sin * y;
      const b = -sin * x + cos * y;
      g = 0.55 * noise.at(a * 0.012, b * 0.9) + 0.3 * noise.at(a * 0.004 + 50, b * 0.35) +
        0.15 * noise.at(a * 0.05, b * 2.1);
      spec = sheen * Math.pow(0.5 + 0.5 * Math.cos(2 * Math.PI * (b / size) * 0.8 + phase), 3);
    } else {
      g = 0.5 * noise.at(x * 0.9, y * 0.9) + 0.3 * noise.at(x * 0.35 + 20, y * 0.35) +
        0.2 * noise.fbm(X * 5, Y * 5, 3);
      spec = sheen * 0.5 * (0.5 + 0.5 * noise.fbm(X * 1.2 + 9, Y * 1.2, 2));
    }
    const shade = 0.88 + grain * g;
    // Specular light is whitish on metal, tinted a little by the anodised colour.
    out[0] = colour[0] * shade + spec * (0.6 + 0.4 * colour[0]);
    out[1] = colour[1] * shade + spec * (0.6 + 0.4 * colour[1]);
    out[2] = colour[2] * shade + spec * (0.6 + 0.4 * colour[2]);
  });
  return canvas;
}
