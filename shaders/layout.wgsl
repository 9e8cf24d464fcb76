// Data movement: block copies along one axis (concat, split, slice), general permutes, channel gathers and
// 2-D padding. One invocation per element written; no arithmetic except the gather gradient's ordered sums.

//! entry copy_region
// Copies an [A, KC, B] block: src [A, KS, B] from k-offset src_k into dst [A, KD, B] at k-offset dst_k.
// Only the block is written, so several calls can fill one destination (concat).
struct P { n: u32, kc: u32, b: u32, ks: u32, src_k: u32, kd: u32, dst_k: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let b = i % p.b;
  let k = (i / p.b) % p.kc;
  let a = i / (p.b * p.kc);
  dst[(a * p.kd + p.dst_k + k) * p.b + b] = src[(a * p.ks + p.src_k + k) * p.b + b];
}

//! entry permute
// out[i] = x[sum_d coord_d(i) * stride[d]]: coordinates of i in the (collapsed) output shape, each paired with
// the stride of the input dim it came from.
struct P { n: u32, rank: u32, pad0: u32, pad1: u32, shape: array<vec4<u32>, 2>, stride: array<vec4<u32>, 2> }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  var rem = i;
  var offset = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let extent = dim8(p.shape, u32(d));
    offset += (rem % extent) * dim8(p.stride, u32(d));
    rem /= extent;
  }
  y[i] = x[offset];
}

//! entry gather
// y[a, c, b] = x[a, index[c], b] for x [A, K, B], y [A, C, B].
struct P { n: u32, c: u32, b: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let b = i % p.b;
  let c = (i / p.b) % p.c;
  let a = i / (p.b * p.c);
  y[i] = x[(a * p.k + index[c]) * p.b + b];
}

//! entry gather_grad
// gx[a, k, b] = sum of g[a, c, b] over the output channels c that read channel k, listed ascending in
// readers[start[k] .. start[k + 1]) (a CSR inverse of the index): a fixed order instead of atomics.
struct P { n: u32, c: u32, b: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> start: array<u32>;
@group(0) @binding(3) var<storage, read> readers: array<u32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let b = i % p.b;
  let k = (i / p.b) % p.k;
  let a = i / (p.b * p.k);
  var acc = 0.0;
  for (var r = start[k]; r < start[k + 1u]; r++) { acc += g[(a * p.c + readers[r]) * p.b + b]; }
  gx[i] = acc;
}

//! entry pad2d
// y [P, HO, WO] from x [P, H, W] shifted by (top, left); outside x reads `value`. Negative offsets crop, so
// the same entry is its own backward.
struct P { n: u32, h: u32, w: u32, ho: u32, wo: u32, top: i32, left: i32, value: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let sx = i32(i % p.wo) - p.left;
  let sy = i32((i / p.wo) % p.ho) - p.top;
  let plane = i / (p.wo * p.ho);
  var v = p.value;
  if (sx >= 0 && sy >= 0 && u32(sx) < p.w && u32(sy) < p.h) { v = x[(plane * p.h + u32(sy)) * p.w + u32(sx)]; }
  y[i] = v;
}
