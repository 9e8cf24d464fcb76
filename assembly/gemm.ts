// A CPU GEMM prototype in WebAssembly SIMD (issue 18, item 5): C = A·B for row-major f32 matrices, to measure
// what a CPU path could give a machine without a GPU, where texad's WGSL runs on lavapipe. Not used by any op:
// bench/peers/wasm-gemm.ts drives it (one module instance per thread on one shared memory) and the gemm suite
// times it beside texad's WGSL and onnxruntime-web's wasm EP.
//
// The layout follows the GotoBLAS/BLIS scheme: B is packed once into panels of NR columns per K block, each thread
// packs its own MC x KC block of A into MR-row strips, and a MR x NR register tile accumulates a whole K block
// before touching C. WebAssembly SIMD has 16 v128 registers on x64 (V8 maps them to xmm0-15), so the tile is
// 4 x 8: eight f32x4 accumulators, two B vectors and one broadcast A value stay in registers.
//
// Memory is imported (shared when threads run) and laid out by the caller; the module allocates nothing.

/** Rows of the register tile. */
const MR: i32 = 4;
/** Columns of the register tile: two f32x4. */
const NR: i32 = 8;

/** Packing granule of the caller: M must be a multiple of MR and N of NR (checked in TypeScript). */
export const TILE_ROWS = MR;
export const TILE_COLS = NR;

/**
 * Packs columns [j0, j1) of B[k0 .. k0+kc, :] (row-major, n columns) into panels of NR columns, each kc rows of NR
 * contiguous floats; the panel of column j starts at dst + j * kc floats. Threads pack disjoint column ranges.
 */
export function packB(b: usize, n: i32, k0: i32, kc: i32, j0: i32, j1: i32, dst: usize): void {
  for (let j = j0; j < j1; j += NR) {
    let src = b + (<usize>k0 * <usize>n + <usize>j) * 4;
    let out = dst + <usize>j * <usize>kc * 4;
    for (let p = 0; p < kc; p++) {
      v128.store(out, v128.load(src));
      v128.store(out, v128.load(src, 16), 16);
      src += <usize>n * 4;
      out += <usize>NR * 4;
    }
  }
}

/**
 * packB for a convolution's implicit im2col matrix, read straight from the image: B[(c, ky, kx), (oy, ox)] =
 * x[c, oy + ky - pad, ox + kx - pad] (zero outside), stride 1, for one image x [cin, h, w] and kernel side ks; the
 * output is wo = w + 2 pad - ks + 1 wide. With wo a multiple of NR a panel's columns are eight neighbours of
 * one output row, copied as two vectors unless they reach into the padding.
 */
export function packConvB(x: usize, h: i32, w: i32, ks: i32, pad: i32, k0: i32, kc: i32, j0: i32, j1: i32, dst: usize): void {
  const wo = w + 2 * pad - ks + 1;
  for (let j = j0; j < j1; j += NR) {
    const oy = j / wo;
    const ox = j % wo;
    let out = dst + <usize>j * <usize>kc * 4;
    for (let p = 0; p < kc; p++) {
      const row = k0 + p;
      const c = row / (ks * ks);
      const r = row % (ks * ks);
      const iy = oy + r / ks - pad;
      const ix = ox + r % ks - pad;
      const plane = x + <usize>c * <usize>h * <usize>w * 4;
      if (iy >= 0 && iy < h && ix >= 0 && ix + NR <= w) {
        const src = plane + (<usize>iy * <usize>w + <usize>ix) * 4;
        v128.store(out, v128.load(src));
        v128.store(out, v128.load(src, 16), 16);
      } else {
        for (let q = 0; q < NR; q++) {
          const inside = iy >= 0 && iy < h && ix + q >= 0 && ix + q < w;
          store<f32>(out + <usize>q * 4, inside ? load<f32>(plane + (<usize>iy * <usize>w + <usize>(ix + q)) * 4) : 0);
        }
      }
      out += <usize>NR * 4;
    }
  }
}

/** Packs A[i0 .. i0+mc, k0 .. k0+kc) (row-major, k columns) into mc/MR strips, each kc steps of MR floats. */
function packA(a: usize, k: i32, i0: i32, mc: i32, k0: i32, kc: i32, dst: usize): void {
  for (let i = 0; i < mc; i += MR) {
    const row = a + (<usize>(i0 + i) * <usize>k + <usize>k0) * 4;
    const stride = <usize>k * 4;
    for (let p = 0; p < kc; p++) {
      const at = row + <usize>p * 4;
      store<f32>(dst, load<f32>(at));
      store<f32>(dst, load<f32>(at + stride), 4);
      store<f32>(dst, load<f32>(at + 2 * stride), 8);
      store<f32>(dst, load<f32>(at + 3 * stride), 12);
      dst += <usize>MR * 4;
    }
  }
}

/** C[4 x 8] (+)= packed A strip · packed B panel over kc steps; ldc in floats. */
// @ts-ignore: decorator
@inline function tile(a: usize, b: usize, c: usize, kc: i32, ldc: i32, accumulate: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = f32x4.add(c00, f32x4.mul(av, b0));
    c01 = f32x4.add(c01, f32x4.mul(av, b1));
    av = v128.load32_splat(a, 4);
    c10 = f32x4.add(c10, f32x4.mul(av, b0));
    c11 = f32x4.add(c11, f32x4.mul(av, b1));
    av = v128.load32_splat(a, 8);
    c20 = f32x4.add(c20, f32x4.mul(av, b0));
    c21 = f32x4.add(c21, f32x4.mul(av, b1));
    av = v128.load32_splat(a, 12);
    c30 = f32x4.add(c30, f32x4.mul(av, b0));
    c31 = f32x4.add(c31, f32x4.mul(av, b1));
    a += <usize>MR * 4;
    b += <usize>NR * 4;
  }
  const row = <usize>ldc * 4;
  if (accumulate) {
    c00 = f32x4.add(c00, v128.load(c)); c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(c + row)); c11 = f32x4.add(c11, v128.load(c + row, 16));
    c20 = f32x4.add(c20, v128.load(c + 2 * row)); c21 = f32x4.add(c21, v128.load(c + 2 * row, 16));
    c30 = f32x4.add(c30, v128.load(c + 3 * row)); c31 = f32x4.add(c31, v128.load(c + 3 * row, 16));
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c + row, c10); v128.store(c + row, c11, 16);
  v128.store(c + 2 * row, c20); v128.store(c + 2 * row, c21, 16);
  v128.store(c + 3 * row, c30); v128.store(c + 3 * row, c31, 16);
}

/**
 * Rows [rowStart, rowEnd) of C = A·B (A m x k, B k x n, C m x n, row-major), with B already packed (packB or
 * packConvB) for every K block of kcBlock rows, block after block at packedB (each block kc x n floats). packedA is this thread's
 * scratch of mc x kcBlock floats. Row ranges of different threads write disjoint parts of C.
 */
export function gemmRows(
  a: usize, packedB: usize, c: usize, k: i32, n: i32,
  rowStart: i32, rowEnd: i32, mcBlock: i32, kcBlock: i32, packedA: usize,
): void {
  for (let k0 = 0; k0 < k; k0 += kcBlock) {
    const kc = min(kcBlock, k - k0);
    const bBlock = packedB + <usize>k0 * <usize>n * 4;
    for (let i0 = rowStart; i0 < rowEnd; i0 += mcBlock) {
      const mc = min(mcBlock, rowEnd - i0);
      packA(a, k, i0, mc, k0, kc, packedA);
      for (let j = 0; j < n; j += NR) {
        const panel = bBlock + <usize>j * <usize>kc * 4;
        for (let i = 0; i < mc; i += MR) {
          tile(packedA + <usize>i * <usize>kc * 4, panel, c + (<usize>(i0 + i) * <usize>n + <usize>j) * 4, kc, n, k0 > 0);
        }
      }
    }
  }
}
