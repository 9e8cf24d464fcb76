// Bilinear and nearest resampling of NCHW tensors (shaders/resize.wgsl) with PyTorch's F.interpolate semantics,
// forward and backward.
import { Params } from '../runtime/runtime.ts';
import { Tensor, formatShape } from '../runtime/tensor.ts';

const WG = 256;

function resize(x: Tensor, size: readonly [number, number], nearest: boolean, alignCorners: boolean, op: string): Tensor {
  x.assertAlive(op);
  const what = `${op} x${formatShape(x.shape)} -> [${size.join(', ')}]${nearest ? '' : ` alignCorners ${alignCorners}`}`;
  if (x.rank !== 4) throw new Error(`texad: ${what}: x must be [N, C, H, W]`);
  const [oh, ow] = size;
  if (size.length !== 2 || !Number.isInteger(oh) || !Number.isInteger(ow) || oh < 1 || ow < 1) {
    throw new Error(`texad: ${what}: size must be two integers >= 1 ([height, width])`);
  }
  const [n, c, ih, iw] = x.shape as [number, number, number, number];
  if (ih < 1 || iw < 1) throw new Error(`texad: ${what}: the input planes are empty`);
  // PyTorch's source step per output index, rounded to float32 as its kernels use it.
  const scale = (inSize: number, outSize: number) =>
    Math.fround(nearest || !alignCorners ? inSize / outSize : outSize > 1 ? (inSize - 1) / (outSize - 1) : 0);
  const params = (count: number) =>
    new Params().u32(count, ih, iw, oh, ow, alignCorners && !nearest ? 1 : 0).f32(scale(ih, oh), scale(iw, ow));
  const rt = x.rt;
  const run = (entry: string, src: Tensor, dst: Tensor, w: string) =>
    rt.dispatch({
      family: 'resize',
      entry,
      spec: { WG, NEAREST: nearest },
      params: params(dst.size),
      inputs: [src],
      outputs: [dst],
      workgroups: rt.grid(dst.size, WG),
      what: w,
    });
  const y = rt.empty([n, c, oh, ow], op);
  run('resize', x, y, what);
  return rt.record(y, op, [x], (gy) => {
    const dx = rt.empty(x.shape, `${op} dx`);
    run('resize_grad', gy, dx, `${what} backward`);
    return [dx];
  });
}

/**
 * F.interpolate(x, size, mode='bilinear', align_corners) for any input and output sizes (up, down, non-integer
 * factors); alignCorners defaults to false like PyTorch. Backward is a deterministic gather.
 */
export function resizeBilinear(x: Tensor, size: [number, number], opts: { alignCorners?: boolean } = {}): Tensor {
  return resize(x, size, false, opts.alignCorners ?? false, 'resizeBilinear');
}

/** F.interpolate(x, size, mode='nearest') (source index floor(o * in / out)), with backward. */
export function resizeNearest(x: Tensor, size: [number, number]): Tensor {
  return resize(x, size, true, false, 'resizeNearest');
}
