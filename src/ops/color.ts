// Colour transforms of RGB images (shaders/color.wgsl). Forward only: they prepare inputs (augmentations).
import { Params } from '../runtime/runtime.ts';
import { formatShape, type Tensor } from '../runtime/tensor.ts';
import { assertNoGrad } from './layout.ts';

const WG = 256;

/**
 * torchvision.transforms.functional.adjust_hue(x, factor) for x [..., 3, H, W] in [0, 1]: the hue shifted by
 * `factor` turns (factor in [-0.5, 0.5]), saturation and value kept.
 */
export function adjustHue(x: Tensor, factor: number): Tensor {
  x.assertAlive('adjustHue');
  const what = `adjustHue x${formatShape(x.shape)} factor ${factor}`;
  if (x.rank < 3 || x.shape[x.rank - 3] !== 3) throw new Error(`texad: ${what}: need RGB images [..., 3, H, W]`);
  if (!(factor >= -0.5 && factor <= 0.5)) throw new Error(`texad: ${what}: factor must lie in [-0.5, 0.5] (torchvision's range)`);
  assertNoGrad(x, what);
  const plane = x.shape[x.rank - 1]! * x.shape[x.rank - 2]!;
  const n = x.size / 3;
  const y = x.rt.empty(x.shape, 'adjustHue');
  x.rt.dispatch({
    family: 'color', entry: 'adjust_hue', spec: { WG }, params: new Params().u32(n, plane).f32(factor).u32(0),
    inputs: [x], outputs: [y], workgroups: x.rt.grid(n, WG), what,
  });
  return y;
}
