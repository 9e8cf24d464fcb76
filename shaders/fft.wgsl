// 2-D FFT magnitude |FFT2(x)| and its backward (src/ops/fft.ts), as separable 1-D FFTs over lines: rows
// (contiguous) then columns (stride W). A workgroup loads TILE complex values, i.e. TILE / L whole lines of
// length L (a power of two), into workgroup memory in bit-reversed order and runs log2(L) radix-2
// decimation-in-time stages in place, one barrier per stage: many short lines share a workgroup instead of
// idling most of its invocations, and nothing round-trips through global memory between stages.
// Twiddles come from a host table computed in f64 (WGSL only bounds sin/cos to 2^-11 absolute error).

// Line j, element k lives at (j / inner) * outer + (j % inner) + k * stride: rows have inner 1, outer L,
// stride 1; columns of an [H, W] plane have inner W, outer H * W, stride W.
struct Lines {
  len: u32,        // L
  log2_len: u32,
  lines: u32,
  inner: u32,
  outer: u32,
  stride: u32,
  log2_table: u32, // the twiddle table holds exp(-2 pi i t / 2^log2_table) for t < 2^(log2_table - 1)
  k_major: u32,
}
@group(0) @binding(0) var<uniform> p: Lines;
@group(0) @binding(1) var<storage, read> twiddles: array<vec2<f32>>;

var<workgroup> tile: array<vec2<f32>, TILE>;

fn tile_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// Tile slot e of workgroup t: its line (>= p.lines in a partial last tile, where slots are padding), the
// element k within the line, where the line starts in the tile, and the element's offset in the buffer.
// Rows are walked line-major, columns element-major (p.k_major), so neighbouring invocations touch
// neighbouring addresses either way.
struct Slot { line: u32, k: u32, base: u32, offset: u32 }

fn slot(t: u32, e: u32) -> Slot {
  let per_tile = TILE >> p.log2_len;
  var s: Slot;
  var in_tile: u32;
  if (p.k_major != 0u) {
    in_tile = e & (per_tile - 1u);
    s.k = e / per_tile;
  } else {
    in_tile = e >> p.log2_len;
    s.k = e & (p.len - 1u);
  }
  s.line = t * per_tile + in_tile;
  s.base = in_tile << p.log2_len;
  s.offset = (s.line / p.inner) * p.outer + s.line % p.inner + s.k * p.stride;
  return s;
}

// Slot s's place in the tile when loading: its element index bit-reversed within the line (decimation in
// time). For L = 1 the index is 0, which stays 0 under any shift.
fn bit_reversed(s: Slot) -> u32 {
  return s.base + (reverseBits(s.k) >> (32u - p.log2_len));
}

fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

// In-place DIT over every line of the tile; `inverse` conjugates the twiddles (the adjoint, unnormalised).
// Call from uniform control flow: it synchronises the workgroup before and after.
fn fft_tile(lid: u32, inverse: bool) {
  workgroupBarrier();
  for (var s = 0u; s < p.log2_len; s++) {
    let half = 1u << s;
    for (var b = lid; b < TILE / 2u; b += WG) {
      let pos = b & (half - 1u);
      let i0 = ((b - pos) << 1u) + pos;
      let i1 = i0 + half;
      var w = twiddles[pos << (p.log2_table - 1u - s)];
      if (inverse) { w.y = -w.y; }
      let a = tile[i0];
      let c = cmul(w, tile[i1]);
      tile[i0] = a + c;
      tile[i1] = a - c;
    }
    workgroupBarrier();
  }
}

//! entry rows_forward
// Real input rows -> complex spectrum rows.
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> spec: array<vec2<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = tile_index(wid, nwg);
  for (var e = lid.x; e < TILE; e += WG) {
    let s = slot(t, e);
    var v = vec2<f32>(0.0);
    if (s.line < p.lines) { v.x = x[s.offset]; }
    tile[bit_reversed(s)] = v;
  }
  fft_tile(lid.x, false);
  for (var e = lid.x; e < TILE; e += WG) {
    let s = slot(t, e);
    if (s.line < p.lines) { spec[s.offset] = tile[s.base + s.k]; }
  }
}

//! entry cols_forward
// Column FFTs in place on the row spectra, then |X|. The spectrum stays behind for the backward pass.
@group(0) @binding(2) var<storage, read_write> spec: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> mag: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = tile_index(wid, nwg);
  for (var e = lid.x; e < TILE; e += WG) {
    let s = slot(t, e);
    var v = vec2<f32>(0.0);
    if (s.line < p.lines) { v = spec[s.offset]; }
    tile[bit_reversed(s)] = v;
  }
  fft_tile(lid.x, false);
  for (var e = lid.x; e < TILE; e += WG) {
    let s = slot(t, e);
    if (s.line < p.lines) {
      let v = tile[s.base + s.k];
      spec[s.offset] = v;
      mag[s.offset] = length(v);
    }
  }
}

//! entry cols_backward
// z = g * X / |X| (0 where |X| = 0, PyTorch's sgn), then adjoint column FFTs.
@group(0) @binding(2) var<storage, read> spec: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> z: array<vec2<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = tile_index(wid, nwg);
  for (var e = lid.x; e < TILE; e += WG) {
    let s = slot(t, e);
    var v = vec2<f32>(0.0);
    if (s.line < p.lines) {
      let f = spec[s.offset];
      let m = length(f);
      if (m > 0.0) { v = f * (g[s.offset] / m); }
    }
    tile[bit_reversed(s)] = v;
  }
  fft_tile(lid.x, true);
  for (var e = lid.x; e < TILE; e += WG) {
    let s = slot(t, e);
    if (s.line < p.lines) { z[s.offset] = tile[s.base + s.k]; }
  }
}

//! entry rows_backward
// Adjoint row FFTs; the gradient of the real input is the real part.
@group(0) @binding(2) var<storage, read> z: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = tile_index(wid, nwg);
  for (var e = lid.x; e < TILE; e += WG) {
    let s = slot(t, e);
    var v = vec2<f32>(0.0);
    if (s.line < p.lines) { v = z[s.offset]; }
    tile[bit_reversed(s)] = v;
  }
  fft_tile(lid.x, true);
  for (var e = lid.x; e < TILE; e += WG) {
    let s = slot(t, e);
    if (s.line < p.lines) { gx[s.offset] = tile[s.base + s.k].x; }
  }
}
