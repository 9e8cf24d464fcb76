// One implicit-GEMM kernel serves matmul, linear and every convolution pass (forward, dX, dW):
//   Y[z][row(i) + j * y_cs] = epilogue( sum_k U[u_row(i) + koff(k)] * L[z][k, j] )
// U, the "uniform" operand, is gathered through strides: row i splits into three coordinates (i2, i1, i0), the
// reduction index into a loop nest (k2, k1, k0), so a transposed matrix, a batch-reduced gradient or an im2col
// view of a zero-padded image are all just strides and nothing is materialised. L, the "lane" operand, is a
// dense row-major [K, n4] matrix of vec4s (pack() builds it when the caller's layout differs).
//
// Why this shape: on CPU implementations (lavapipe, SwiftShader) an invocation is a SIMD lane and every load is
// paid per lane (lavapipe 25.0 loads even a workgroup-uniform address lane by lane; only constant offsets are
// scalar loads). So the workgroup shares its TU rows of U and each lane owns TLV vec4 columns of L, giving
// 4 * TU * TLV FMAs per TU + TLV loads, and with SG the subgroup loads each U row once instead of once per lane;
// no workgroup memory or barriers, which CPU drivers emulate slowly. The STAGED variant is the one for real
// GPUs, where workgroup memory is fast.

struct Gemm {
  m: u32,         // rows (per batch item)
  n: u32,         // columns
  n4: u32,        // L row length in vec4s, >= ceil(n / 4)
  splits: u32,    // split-K parts; workgroup z = batch * splits + part
  r1: u32,        // row i -> (i / (r1 * r0), (i / r0) % r1, i % r0)
  r0: u32,
  u_s2: u32,      // U strides of the row coordinates
  u_s1: u32,
  u_s0: u32,
  u_off: u32,     // U offset of row 0 (a dX stride phase starts inside the padded dy)
  u_bs: u32,      // U batch stride (0 = broadcast)
  k2: u32,        // reduction loop nest extents; split-K divides k2 into chunks of k2_chunk
  k2_chunk: u32,
  k1: u32,
  k0: u32,
  t2: u32,        // U strides of the reduction coordinates
  t1: u32,
  t0: u32,
  l_bs: u32,      // L batch stride in vec4s (0 = broadcast)
  y_s2: u32,      // Y strides of the row coordinates and of the column
  y_s1: u32,
  y_s0: u32,
  y_cs: u32,
  y_off: u32,     // Y offset of row 0 (a dX stride phase writes every s-th pixel from its own)
  y_bs: u32,      // Y batch stride
  y_ss: u32,      // Y stride between split-K partial results
}

fn row_offset(i: u32, r1: u32, r0: u32, s2: u32, s1: u32, s0: u32) -> u32 {
  return (i / (r1 * r0)) * s2 + ((i / r0) % r1) * s1 + (i % r0) * s0;
}

//! entry gemm
//! if SG
enable subgroups;
//! endif
// TU rows x TLV vec4 columns per invocation on a WGX x WGY grid. Register variants (WGY = 1) share the
// workgroup's rows, so U loads are uniform and lanes run along columns; with LANE_ROWS they share columns
// instead (uniform L loads, lanes along rows), for outputs only a few columns wide. STAGED (for GPUs) first
// copies the workgroup's U rows and L columns for KT reduction steps into workgroup memory, so each global
// value is read once per workgroup. Compilers count the staging arrays even when STAGED is false, so register
// variants pass KT = 1 to keep them small. BIAS adds bias[column]; RES adds a tensor laid out like Y, before
// RELU, matching ResNet's relu(bn(conv(x)) + shortcut).
// SG (register variants on CPU drivers with subgroups of SG = 8 lanes): lavapipe (Mesa 25.0) turns every storage
// load whose offset is not a compile-time constant into a per-lane loop with two branches per component, even
// when the offset is the same for the whole workgroup, so the TU shared U values cost TU such loops per lane and
// reduction step. Instead each lane loads TU / SG of the rows and every lane takes each row's value by
// subgroup broadcast from the lane that loaded it, a register extract. 1024^3 matmul: s16x16 23.5 against
// r16x16 13.4 GFLOP/s (README "Matrix products").
@group(0) @binding(0) var<uniform> p: Gemm;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> l: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

// Offset in U of reduction step k (of the loop nest k2, k1, k0; inner = k1 * k0).
fn reduction_offset(k: u32, inner: u32) -> u32 {
  return (k / inner) * p.t2 + ((k / p.k0) % p.k1) * p.t1 + (k % p.k0) * p.t0;
}

const ROWS: u32 = WGY * TU;
const COLS4: u32 = WGX * TLV;
const THREADS: u32 = WGX * WGY;
// U values and L vec4s each invocation stages per round: whole numbers for staged variants (gemm.ts fits()).
const U_PER: u32 = max(1u, KT * ROWS / THREADS);
const L_PER: u32 = max(1u, KT * COLS4 / THREADS);
// Staged U values, four rows to a vec4: us4[(kq * ROWS + r) / 4][r % 4] holds row r at reduction step kq, so an
// invocation's TU (a multiple of 4) rows at one step are TU / 4 vec4 reads, as many as its L columns.
var<workgroup> us4: array<vec4<f32>, (KT * ROWS + 3u) / 4u>;
var<workgroup> ls: array<vec4<f32>, KT * COLS4>;
var<workgroup> koffs: array<u32, 2u * KT>;

// Staged value e of a round: its reduction step and row. Rows contiguous: neighbouring invocations take
// neighbouring rows; U_K_FAST (reduction contiguous): neighbouring reduction steps.
fn staged_step(e: u32) -> u32 { return select(e / ROWS, e % KT, U_K_FAST); }
fn staged_row(e: u32) -> u32 { return select(e % ROWS, e / KT, U_K_FAST); }

// One round's global loads for the staged variants, into registers: reduction steps kt .. kt + KT, whose U offsets
// are koffs[half ..]; steps past k_end load zeros, so the inner loop needs no bounds. All of a round's loads are
// issued before any is used (constant trip counts unroll), so their latencies overlap: 1024^3 matmul on an H200
// 8.7 -> 10.2 TFLOP/s against one load-store pair after another.
fn stage_loads(uval: ptr<function, array<f32, U_PER>>, lval: ptr<function, array<vec4<f32>, L_PER>>,
               ubases: ptr<function, array<u32, U_PER>>, flat: u32, kt: u32, k_end: u32, half: u32, l_col: u32) {
  for (var t = 0u; t < U_PER; t++) {
    let kq = staged_step(flat + t * THREADS);
    let live = kt + kq < k_end;
    (*uval)[t] = select(0.0, u[(*ubases)[t] + select(0u, koffs[half + kq], live)], live);
  }
  for (var t = 0u; t < L_PER; t++) {
    let k = kt + (flat + t * THREADS) / COLS4;
    (*lval)[t] = select(vec4<f32>(0.0), l[min(k, k_end - 1u) * p.n4 + l_col], k < k_end);
  }
}

// Row i's multiply-adds for one reduction step, in every variant; a function so that the SG broadcasts below,
// whose lane must be a constant, stay one line each.
fn fma_row(acc: ptr<function, array<vec4<f32>, TU * TLV>>, lv: ptr<function, array<vec4<f32>, TLV>>, i: u32, s: f32) {
  let uv = vec4<f32>(s);
  for (var j = 0u; j < TLV; j++) { (*acc)[i * TLV + j] = fma(uv, (*lv)[j], (*acc)[i * TLV + j]); }
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
//! if SG
        @builtin(subgroup_invocation_id) sl: u32,
//! endif
        @builtin(local_invocation_index) flat: u32) {
  let batch = wid.z / p.splits;
  let part = wid.z % p.splits;
  // Spelled out for WGY == 1 so that CPU compilers see the rows as workgroup-uniform.
  let ty = select(lid.y, 0u, WGY == 1u);
  let tile_row0 = wid.y * ROWS;
  let tile_col0 = wid.x * COLS4;
  let row0 = select(tile_row0 + ty * TU, (wid.y * WGX + lid.x) * TU, LANE_ROWS);
  let col = select(tile_col0 + lid.x * TLV, wid.x * TLV, LANE_ROWS);
  let a_begin = part * p.k2_chunk;
  let a_end = min(a_begin + p.k2_chunk, p.k2);
  var acc: array<vec4<f32>, TU * TLV>;

  if (STAGED) {
    let inner = p.k1 * p.k0;
    let k_end = a_end * inner;
    // Which invocation stages which U value decides whether a warp's global reads coalesce (staged_row): a
    // convolution's pixels are contiguous rows, a row-major matmul operand is contiguous along the reduction
    // (U_K_FAST). Either way an invocation stages the same rows every round, so their bases are computed once,
    // into ubases. The KT reduction offsets, which take divisions, are computed by KT invocations a round ahead
    // into the other half of koffs (double-buffered), so a round needs two barriers, not three.
    var ubases: array<u32, U_PER>;
    for (var t = 0u; t < U_PER; t++) {
      let r = min(tile_row0 + staged_row(flat + t * THREADS), p.m - 1u);
      ubases[t] = p.u_off + batch * p.u_bs + row_offset(r, p.r1, p.r0, p.u_s2, p.u_s1, p.u_s0);
    }
    let l_col = batch * p.l_bs + min(tile_col0 + flat % COLS4, p.n4 - 1u);
    let k_begin = a_begin * inner;
    if (flat < KT) { koffs[flat] = reduction_offset(k_begin + flat, inner); }
    workgroupBarrier();
    var uval: array<f32, U_PER>;
    var lval: array<vec4<f32>, L_PER>;
    if (k_begin < k_end) { stage_loads(&uval, &lval, &ubases, flat, k_begin, k_end, 0u, l_col); }
    for (var kt = k_begin; kt < k_end; kt += KT) {
      let half = ((kt - k_begin) / KT) % 2u * KT;
      if (flat < KT) { koffs[KT - half + flat] = reduction_offset(kt + KT + flat, inner); }
      for (var t = 0u; t < U_PER; t++) {
        let e = flat + t * THREADS;
        let at = staged_step(e) * ROWS + staged_row(e);
        us4[at / 4u][at % 4u] = uval[t];
      }
      for (var t = 0u; t < L_PER; t++) { ls[flat + t * THREADS] = lval[t]; }
      workgroupBarrier();
      // The next round's loads go out now and land while this round multiplies.
      if (kt + KT < k_end) { stage_loads(&uval, &lval, &ubases, flat, kt + KT, k_end, KT - half, l_col); }
      for (var kq = 0u; kq < KT; kq++) {
        var lv: array<vec4<f32>, TLV>;
        for (var j = 0u; j < TLV; j++) { lv[j] = ls[kq * COLS4 + lid.x * TLV + j]; }
        for (var i4 = 0u; i4 < TU / 4u; i4++) {
          let uv = us4[(kq * ROWS + ty * TU) / 4u + i4];
          for (var q = 0u; q < 4u; q++) { fma_row(&acc, &lv, i4 * 4u + q, uv[q]); }
        }
      }
      workgroupBarrier();
    }
  } else {
    // Out-of-range rows and columns compute on clamped (valid) addresses and are dropped at the store, so
    // the loop has no per-lane branches.
    var lcol: array<u32, TLV>;
    for (var j = 0u; j < TLV; j++) { lcol[j] = batch * p.l_bs + min(col + j, p.n4 - 1u); }
    var urow: array<u32, TU>;
    for (var i = 0u; i < TU; i++) {
//! if SG
      // Lane sl reads rows sl, sl + SG, ... of the tile (TU / SG of them).
      let r = row0 + (i % (TU / SG)) * SG + sl;
//! else
      let r = row0 + i;
//! endif
      urow[i] = p.u_off + batch * p.u_bs + row_offset(min(r, p.m - 1u), p.r1, p.r0, p.u_s2, p.u_s1, p.u_s0);
    }
    var lrow = a_begin * p.k1 * p.k0 * p.n4;
    for (var a = a_begin; a < a_end; a++) {
      for (var b = 0u; b < p.k1; b++) {
        let outer = a * p.t2 + b * p.t1;
        for (var c = 0u; c < p.k0; c++) {
          let koff = outer + c * p.t0;
          var lv: array<vec4<f32>, TLV>;
          for (var j = 0u; j < TLV; j++) { lv[j] = l[lrow + lcol[j]]; }
//! if SG
          var ur: array<f32, 4>;
          for (var r = 0u; r < TU / SG; r++) { ur[r] = u[urow[r] + koff]; }
          // Row i was loaded by lane i % SG as its (i / SG)-th row; TU is at most 32.
          if (TU > 0u) { fma_row(&acc, &lv, 0u, subgroupBroadcast(ur[0], 0u)); }
          if (TU > 1u) { fma_row(&acc, &lv, 1u, subgroupBroadcast(ur[0], 1u)); }
          if (TU > 2u) { fma_row(&acc, &lv, 2u, subgroupBroadcast(ur[0], 2u)); }
          if (TU > 3u) { fma_row(&acc, &lv, 3u, subgroupBroadcast(ur[0], 3u)); }
          if (TU > 4u) { fma_row(&acc, &lv, 4u, subgroupBroadcast(ur[0], 4u)); }
          if (TU > 5u) { fma_row(&acc, &lv, 5u, subgroupBroadcast(ur[0], 5u)); }
          if (TU > 6u) { fma_row(&acc, &lv, 6u, subgroupBroadcast(ur[0], 6u)); }
          if (TU > 7u) { fma_row(&acc, &lv, 7u, subgroupBroadcast(ur[0], 7u)); }
          if (TU > 8u) { fma_row(&acc, &lv, 8u, subgroupBroadcast(ur[1], 0u)); }
          if (TU > 9u) { fma_row(&acc, &lv, 9u, subgroupBroadcast(ur[1], 1u)); }
          if (TU > 10u) { fma_row(&acc, &lv, 10u, subgroupBroadcast(ur[1], 2u)); }
          if (TU > 11u) { fma_row(&acc, &lv, 11u, subgroupBroadcast(ur[1], 3u)); }
          if (TU > 12u) { fma_row(&acc, &lv, 12u, subgroupBroadcast(ur[1], 4u)); }
          if (TU > 13u) { fma_row(&acc, &lv, 13u, subgroupBroadcast(ur[1], 5u)); }
          if (TU > 14u) { fma_row(&acc, &lv, 14u, subgroupBroadcast(ur[1], 6u)); }
          if (TU > 15u) { fma_row(&acc, &lv, 15u, subgroupBroadcast(ur[1], 7u)); }
          if (TU > 16u) { fma_row(&acc, &lv, 16u, subgroupBroadcast(ur[2], 0u)); }
          if (TU > 17u) { fma_row(&acc, &lv, 17u, subgroupBroadcast(ur[2], 1u)); }
          if (TU > 18u) { fma_row(&acc, &lv, 18u, subgroupBroadcast(ur[2], 2u)); }
          if (TU > 19u) { fma_row(&acc, &lv, 19u, subgroupBroadcast(ur[2], 3u)); }
          if (TU > 20u) { fma_row(&acc, &lv, 20u, subgroupBroadcast(ur[2], 4u)); }
          if (TU > 21u) { fma_row(&acc, &lv, 21u, subgroupBroadcast(ur[2], 5u)); }
          if (TU > 22u) { fma_row(&acc, &lv, 22u, subgroupBroadcast(ur[2], 6u)); }
          if (TU > 23u) { fma_row(&acc, &lv, 23u, subgroupBroadcast(ur[2], 7u)); }
          if (TU > 24u) { fma_row(&acc, &lv, 24u, subgroupBroadcast(ur[3], 0u)); }
          if (TU > 25u) { fma_row(&acc, &lv, 25u, subgroupBroadcast(ur[3], 1u)); }
          if (TU > 26u) { fma_row(&acc, &lv, 26u, subgroupBroadcast(ur[3], 2u)); }
          if (TU > 27u) { fma_row(&acc, &lv, 27u, subgroupBroadcast(ur[3], 3u)); }
          if (TU > 28u) { fma_row(&acc, &lv, 28u, subgroupBroadcast(ur[3], 4u)); }
          if (TU > 29u) { fma_row(&acc, &lv, 29u, subgroupBroadcast(ur[3], 5u)); }
          if (TU > 30u) { fma_row(&acc, &lv, 30u, subgroupBroadcast(ur[3], 6u)); }
          if (TU > 31u) { fma_row(&acc, &lv, 31u, subgroupBroadcast(ur[3], 7u)); }
//! else
          for (var i = 0u; i < TU; i++) { fma_row(&acc, &lv, i, u[urow[i] + koff]); }
//! endif
          lrow += p.n4;
        }
      }
    }
  }

  let ybase = p.y_off + batch * p.y_bs + part * p.y_ss;
  for (var i = 0u; i < TU; i++) {
    let row = row0 + i;
    if (row >= p.m) { break; }
    let yrow = ybase + row_offset(row, p.r1, p.r0, p.y_s2, p.y_s1, p.y_s0);
    for (var j = 0u; j < TLV; j++) {
      for (var q = 0u; q < 4u; q++) {
        let cj = (col + j) * 4u + q;
        if (cj >= p.n) { break; }
        let at = yrow + cj * p.y_cs;
        var v = acc[i * TLV + j][q];
        if (BIAS) { v += bias[cj]; }
        if (RES) { v += res[at]; }
        if (RELU) { v = max(v, 0.0); }
        y[at] = v;
      }
    }
  }
}

//! entry pack
// Builds a lane operand: dst[z][r, c] = src[z * src_bs + base + r2 * s2 + r1 * s1 + r0 * s0 + c * cs] for
// c < cols, zero in the padding up to n4 * 4 columns, where r = (r2 * q1 + r1) * q0 + r0. Signed strides let
// the dX pass read flipped kernel taps.
struct P {
  rows: u32,
  cols: u32,
  n4: u32,
  batches: u32,
  q1: u32,
  q0: u32,
  base: u32,
  src_bs: u32,
  s2: i32,
  s1: i32,
  s0: i32,
  cs: i32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_index(gid, nwg, WG);
  let per_batch = p.rows * p.n4;
  if (e >= per_batch * p.batches) { return; }
  let batch = e / per_batch;
  let r = (e % per_batch) / p.n4;
  let c4 = e % p.n4;
  let row = i32(p.base + batch * p.src_bs) + i32(r / (p.q1 * p.q0)) * p.s2 + i32((r / p.q0) % p.q1) * p.s1 +
    i32(r % p.q0) * p.s0;
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    let c = c4 * 4u + q;
    if (c < p.cols) { v[q] = src[u32(row + i32(c) * p.cs)]; }
  }
  dst[e] = v;
}

//! entry strided_sum
// dst[o] = sum over a < outer, t < inner of src[a * s_outer + o * s_out + t * s_inner], in that order: bias
// gradients (over batch and pixels) and split-K partial sums, deterministic without atomics.
struct P {
  count: u32,
  outer: u32,
  inner: u32,
  s_outer: u32,
  s_out: u32,
  s_inner: u32,
  pad0: u32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flat_index(gid, nwg, WG);
  if (o >= p.count) { return; }
  var acc = 0.0;
  for (var a = 0u; a < p.outer; a++) {
    let base = a * p.s_outer + o * p.s_out;
    for (var t = 0u; t < p.inner; t++) { acc += src[base + t * p.s_inner]; }
  }
  dst[o] = acc;
}
