// Input transforms against torchvision (tools/golden/transforms.py): non-square images through Resize(size)
// (shorter side) or Resize((size, size)), then CenterCrop — values and crop position — and masks cropped where
// their images are.
import { describe, expect, it } from 'vitest';
import { encodePng } from '../src/data/encode.ts';
import { imageFromBytes, maskFromBytes, type ResizeMode } from '../src/data/image.ts';
import { assertClose, loadGolden } from './helpers/gpu.ts';

const cases = loadGolden('transforms') as unknown as Array<{
  name: string; args: { height: number; width: number; size: number; mode: ResizeMode; crop: number };
  inputs: { rgb8: { data: number[] } }; output: { shape: number[]; data: number[] }; pil: { data: number[] };
}>;

describe('input transforms match torchvision on non-square images', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { height, width, size, mode, crop } = c.args;
    const png = encodePng(Uint8Array.from(c.inputs.rgb8.data), width, height, 3);
    const img = imageFromBytes(png, { size, mode, crop });
    expect([3, img.height, img.width]).toEqual(c.output.shape);
    // The float path: same resampling and the same crop window, to float32 rounding.
    assertClose(img.data, c.output.data, `${c.name} vs torchvision tensor path`, { rtol: 0, atol: 2e-5 });
    // PIL (the official repositories' path) rounds its result to 8 bits and uses fixed-point weights.
    assertClose(img.data, c.pil.data, `${c.name} vs torchvision PIL path`, { rtol: 0, atol: 2.5 / 255 });
  });

  it('crops a mask exactly where its image is cropped', () => {
    const w = 37;
    const h = 23;
    const rgb = new Uint8Array(w * h * 3);
    const mask = new Uint8Array(w * h);
    // A 5 px wide vertical bar, off centre: a crop one pixel off moves it.
    for (let y = 0; y < h; y++) {
      for (let x = 22; x < 27; x++) {
        rgb.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
        mask[y * w + x] = 255;
      }
    }
    const opts = { size: 23, mode: 'shorter-side' as const, crop: 21 };
    const img = imageFromBytes(encodePng(rgb, w, h, 3), opts);
    const m = maskFromBytes(encodePng(mask, w, h, 1), opts);
    expect([m.height, m.width]).toEqual([21, 21]);
    const row = (k: number) => Array.from({ length: 21 }, (_, x) => k === 0 ? m.data[5 * 21 + x]! : Number(img.data[5 * 21 + x]! > 0.5));
    expect(row(0)).toEqual(row(1));
    expect(row(0).indexOf(1)).toBe(22 - Math.round((37 - 21) / 2));
    expect(() => imageFromBytes(encodePng(rgb, w, h, 3), { size: 10, mode: 'shorter-side', crop: 12 }))
      .toThrow(/centre crop of 12px does not fit a 16×10 image/);
  });
});
