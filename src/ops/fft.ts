// 2-D FFT magnitude (shaders/fft.wgsl), forward and backward: two line passes each (rows, columns), with
// power-of-two sizes up to what one workgroup's memory holds.
import type { ShaderEntries } from '../generated/shaders.ts';
import { Params, type Runtime } from '../runtime/runtime.ts';
import { formatShape, type Tensor } from '../runtime/tensor.ts';

const WG = 128;
/** Complex values per workgroup tile; larger lines get a tile of their own length. */
const MIN_TILE = 2048;
const COMPLEX_BYTES = 8;

/** Twiddle tables exp(-2 pi i t / n), t < n / 2, computed in f64 once per runtime and size. */
const tables = new WeakMap<Runtime, Map<number, Tensor>>();

/**
 * (cos, sin) of 2 pi t / n for 0 <= t < n / 2 by octant symmetry, so the quarter and eighth turns come out
 * exact (cos(pi / 2) is 0, not 6e-17) and bins that are exactly zero in PyTorch stay exactly zero here.
 */
function unitRoot(t: number, n: number): [number, number] {
  if (4 * t > n) {
    const [c, s] = unitRoot(t - n / 4, n);
    return [-s, c];
  }
  if (8 * t > n) {
    const [c, s] = unitRoot(n / 4 - t, n);
    return [s, c];
  }
  const a = (2 * Math.PI * t) / n;
  return [Math.cos(a), Math.sin(a)];
}

function twiddleTable(rt: Runtime, n: number): Tensor {
  let perSize = tables.get(rt);
  if (!perSize) tables.set(rt, (perSize = new Map()));
  let table = perSize.get(n);
  if (!table) {
    const half = Math.max(1, n / 2);
    const data = new Float32Array(2 * half);
    for (let t = 0; t < n / 2; t++) {
      const [cos, sin] = unitRoot(t, n);
      data[2 * t] = cos;
      data[2 * t + 1] = -sin;
    }
    // Lives as long as the runtime: a few KiB, reused by every call of this size.
    table = rt.tensor(data, [half, 2]).keep();
    perSize.set(n, table);
  }
  return table;
}

const isPowerOfTwo = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;

interface Pass {
  entry: ShaderEntries['fft'];
  inputs: Tensor[];
  outputs: Tensor[];
  /** Line length, number of lines and their layout (see `Lines` in shaders/fft.wgsl). */
  len: number;
  lines: number;
  inner: number;
  outer: number;
  stride: number;
}

function runPass(rt: Runtime, table: Tensor, tableLen: number, pass: Pass, what: string): void {
  const tile = Math.max(MIN_TILE, pass.len);
  rt.dispatch({
    family: 'fft',
    entry: pass.entry,
    spec: { WG, TILE: tile },
    params: new Params().u32(
      pass.len, Math.log2(pass.len), pass.lines, pass.inner, pass.outer, pass.stride, Math.log2(tableLen),
      pass.inner > 1 ? 1 : 0,
    ),
    inputs: [table, ...pass.inputs],
    outputs: pass.outputs,
    workgroups: rt.grid(Math.ceil(pass.lines / (tile / pass.len)), 1),
    what,
  });
}

/**
 * |FFT2(x)| over the last two dimensions of x [N, C, H, W] (torch.fft.fft2(x).abs(), unnormalised), for
 * power-of-two H and W. Backward: grad_x = Re(FFT2^H(g * X / |X|)), with 0 where |X| = 0 as in PyTorch.
 */
export function fft2dMagnitude(x: Tensor): Tensor {
  const what = `fft2dMagnitude x${formatShape(x.shape)}`;
  x.assertAlive('fft2dMagnitude');
  if (x.rank !== 4) throw new Error(`texad: ${what}: expected a 4-D [N, C, H, W] tensor; reshape it first`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (!isPowerOfTwo(h) || !isPowerOfTwo(w)) {
    throw new Error(`texad: ${what}: H and W must be powers of two (got ${h}x${w}); pad or resize the input, e.g. to 256x256`);
  }
  const rt = x.rt;
  const longest = Math.max(h, w);
  const maxBytes = rt.limits.maxComputeWorkgroupStorageSize;
  if (Math.max(MIN_TILE, longest) * COMPLEX_BYTES > maxBytes) {
    throw new Error(
      `texad: ${what}: lines of ${longest} complex values need ${longest * COMPLEX_BYTES} bytes of workgroup memory; ` +
        `this device allows ${maxBytes} (H, W <= ${2 ** Math.floor(Math.log2(maxBytes / COMPLEX_BYTES))})`,
    );
  }
  const table = twiddleTable(rt, longest);
  const planes = n * c;
  const rows = { len: w, lines: planes * h, inner: 1, outer: w, stride: 1 };
  const cols = { len: h, lines: planes * w, inner: w, outer: h * w, stride: w };

  const spec = rt.empty([n, c, h, w, 2], 'fft2d spectrum');
  const mag = rt.empty(x.shape, 'fft2dMagnitude');
  runPass(rt, table, longest, { entry: 'rows_forward', inputs: [x], outputs: [spec], ...rows }, `${what} rows`);
  runPass(rt, table, longest, { entry: 'cols_forward', inputs: [], outputs: [spec, mag], ...cols }, `${what} columns`);
  if (!rt.recordsGrad(x)) {
    spec.dispose();
    return mag;
  }
  // The spectrum is saved for backward and, like any intermediate, lives until its scope closes.
  return rt.record(mag, 'fft2dMagnitude', [x], (g) => {
    const z = rt.empty([n, c, h, w, 2], 'fft2d adjoint');
    const gx = rt.empty(x.shape, 'fft2dMagnitude grad');
    runPass(rt, table, longest, { entry: 'cols_backward', inputs: [spec, g], outputs: [z], ...cols }, `${what} backward columns`);
    runPass(rt, table, longest, { entry: 'rows_backward', inputs: [z], outputs: [gx], ...rows }, `${what} backward rows`);
    z.dispose();
    return [gx];
  });
}
