// Bilinear and nearest resampling of NCHW tensors (shaders/resize.wgsl) with PyTorch's F.interpolate semantics,
// forward and backward.
import type { ShaderEntries } from '../generated/shaders.ts';
import { Params } from '../runtime/runtime.ts';
import { Tensor, formatShape } from '../runtime/tensor.ts';
import { vec4Binding } from './norm.ts';

const WG = 256;
const f32 = Math.fround;

/** The two input indices each output index reads along one axis, and their weights. */
interface AxisTaps {
  i0: Uint32Array;
  i1: Uint32Array;
  w0: Float32Array;
  w1: Float32Array;
}

/**
 * PyTorch's CPU index rules along one axis, in float32 arithmetic like its kernels: 'nearest' reads
 * floor(o * (in / out)); bilinear reads src = scale * o (alignCorners) or max(scale * (o + 0.5) - 0.5, 0),
 * blending floor(src) and the next index (clamped) by the fractional part.
 */
function axisTaps(inSize: number, outSize: number, nearest: boolean, alignCorners: boolean): AxisTaps {
  const t: AxisTaps = {
    i0: new Uint32Array(outSize),
    i1: new Uint32Array(outSize),
    w0: new Float32Array(outSize),
    w1: new Float32Array(outSize),
  };
  const align = alignCorners && !nearest;
  const scale = align ? (outSize > 1 ? f32((inSize - 1) / (outSize - 1)) : 0) : f32(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (nearest) {
      t.i0[o] = t.i1[o] = Math.min(Math.floor(f32(o * scale)), inSize - 1);
      t.w0[o] = 1;
      continue;
    }
    const src = align ? f32(scale * o) : Math.max(f32(f32(scale * (o + 0.5)) - 0.5), 0);
    const i0 = Math.min(Math.trunc(src), inSize - 1);
    const w1 = Math.min(Math.max(f32(src - i0), 0), 1);
    t.i0[o] = i0;
    t.i1[o] = Math.min(i0 + 1, inSize - 1);
    t.w0[o] = f32(1 - w1);
    t.w1[o] = w1;
  }
  return t;
}

/** Per input index, the (output index, weight) pairs that read it, in output order (CSR). */
function inverseTaps(t: AxisTaps, inSize: number): Array<Array<[number, number]>> {
  const lists = Array.from({ length: inSize }, () => [] as Array<[number, number]>);
  t.i0.forEach((i0, o) => {
    const i1 = t.i1[o]!;
    if (i0 === i1) lists[i0]!.push([o, f32(t.w0[o]! + t.w1[o]!)]);
    else {
      lists[i0]!.push([o, t.w0[o]!]);
      lists[i1]!.push([o, t.w1[o]!]);
    }
  });
  return lists;
}

/** The u32 tap table of shaders/resize.wgsl and the word offsets of its sections. */
function tapTable(ih: number, iw: number, oh: number, ow: number, nearest: boolean, alignCorners: boolean) {
  const axes = [axisTaps(ih, oh, nearest, alignCorners), axisTaps(iw, ow, nearest, alignCorners)] as const;
  const inverse = [inverseTaps(axes[0], ih), inverseTaps(axes[1], iw)] as const;
  const tapsH = 0;
  const tapsW = 4 * oh;
  const offsetsH = tapsW + 4 * ow;
  const offsetsW = offsetsH + ih + 1;
  // Pairs are addressed by pair index (word 2a), so the pair region starts on an even word.
  const pairsStart = Math.ceil((offsetsW + iw + 1) / 2);
  const pairCount = inverse[0].reduce((n, l) => n + l.length, 0) + inverse[1].reduce((n, l) => n + l.length, 0);
  const words = new Uint32Array(2 * (pairsStart + pairCount));
  const floats = new Float32Array(words.buffer);
  let pair = pairsStart;
  axes.forEach((t, axis) => {
    const base = axis === 0 ? tapsH : tapsW;
    t.i0.forEach((i0, o) => {
      words[base + 4 * o] = i0;
      words[base + 4 * o + 1] = t.i1[o]!;
      floats[base + 4 * o + 2] = t.w0[o]!;
      floats[base + 4 * o + 3] = t.w1[o]!;
    });
    const offsets = axis === 0 ? offsetsH : offsetsW;
    inverse[axis].forEach((list, i) => {
      words[offsets + i] = pair;
      for (const [o, w] of list) {
        words[2 * pair] = o;
        floats[2 * pair + 1] = w;
        pair++;
      }
    });
    words[offsets + inverse[axis].length] = pair;
  });
  return { floats, tapsH, tapsW, offsetsH, offsetsW };
}

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
  const rt = x.rt;
  const t = tapTable(ih, iw, oh, ow, nearest, alignCorners);
  // The table's words travel as raw bytes through a float tensor; the kernels read them as u32.
  const table = rt.tensor(t.floats, [t.floats.length]);
  const run = (entry: ShaderEntries['resize'], src: Tensor, dst: Tensor, w: string) => {
    const [rows, width] = [dst.shape[0]! * dst.shape[1]! * dst.shape[2]!, dst.shape[3]!];
    const quads = Math.ceil(width / 4);
    rt.dispatch({
      family: 'resize',
      entry,
      spec: { WG, NEAREST: nearest },
      params: new Params().u32(rows * quads, quads, ih, iw, oh, ow, t.tapsH, t.tapsW, t.offsetsH, t.offsetsW, 0, 0),
      inputs: [src, table],
      outputs: [vec4Binding(dst, op)],
      workgroups: rt.grid(rows * quads, WG),
      what: w,
    });
  };
  const y = rt.empty([n, c, oh, ow], op);
  run('resize', x, y, what);
  if (!rt.recordsGrad(x)) {
    table.dispose();
    return y;
  }
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
