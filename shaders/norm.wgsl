// Batch and layer normalisation, forward and backward. Tensors are viewed as [N, C, S] (S = product of the
// dims after the channel dim; S = 1 for BatchNorm1d and for LayerNorm over the last dim).
//
// Per-channel reductions (BN statistics, gamma/beta gradients) run one workgroup per TC consecutive channels.
// Lane t of a workgroup is split as t = cl + TC * (sl + SW * rl): channel c0 + cl, spatial offset sl (stride
// SW) and sample rl (stride RW = WG / (TC * SW)). The host picks SW to cover S when S is large (contiguous
// spatial reads) and TC = 16 when S = 1 (contiguous channel reads across lanes). Each lane sums its elements
// in a fixed order, then a fixed-shape tree combines the lanes: deterministic, no atomics.

struct Lanes {
  n: u32,
  c: u32,
  s: u32,
  tc: u32,
  sw: u32,
  rw: u32,
  eps: f32,
  momentum: f32,
}

struct Lane {
  c: u32,
  s0: u32,
  n0: u32,
}

fn lane_of(t: u32, group: u32, l: Lanes) -> Lane {
  let k = t / l.tc;
  return Lane(group * l.tc + t % l.tc, k % l.sw, k / l.sw);
}

var<workgroup> partial: array<vec2<f32>, WG>;

// Adds up `v` over the lanes of each channel; every invocation receives its own channel's total.
// Must be called from uniform control flow (it holds barriers); `tc` comes from uniforms.
fn channel_total(v: vec2<f32>, t: u32, tc: u32) -> vec2<f32> {
  partial[t] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride >= tc; stride = stride / 2u) {
    if (t < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  let total = partial[t % tc];
  // The next call overwrites `partial`: everyone must have read its total first.
  workgroupBarrier();
  return total;
}

// Per-element channel index of a flat [N, C, S] index.
fn channel_of(i: u32, c: u32, s: u32) -> u32 {
  return (i / s) % c;
}

//! entry bn_train_stats
// Batch mean and biased variance per channel (two passes over the channel's elements: the second sums
// squared deviations from the mean, which stays accurate when |mean| >> std). Writes stats = [scale, shift,
// mean, invstd] rows of C and updates the running statistics in place with the unbiased variance.
@group(0) @binding(0) var<uniform> p: Lanes;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_var: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let l = lane_of(t, wid.x, p);
  // Lanes past the last channel add nothing but still take part in the barriers.
  let live = l.c < p.c;
  let count = f32(p.n * p.s);
  var sum = 0.0;
  if (live) {
    for (var n = l.n0; n < p.n; n += p.rw) {
      let base = (n * p.c + l.c) * p.s;
      for (var s = l.s0; s < p.s; s += p.sw) { sum += x[base + s]; }
    }
  }
  let mean = channel_total(vec2<f32>(sum, 0.0), t, p.tc).x / count;
  var sq = 0.0;
  if (live) {
    for (var n = l.n0; n < p.n; n += p.rw) {
      let base = (n * p.c + l.c) * p.s;
      for (var s = l.s0; s < p.s; s += p.sw) {
        let d = x[base + s] - mean;
        sq += d * d;
      }
    }
  }
  let sq_total = channel_total(vec2<f32>(sq, 0.0), t, p.tc).x;
  if (live && t < p.tc) {
    let c = l.c;
    let invstd = 1.0 / sqrt(sq_total / count + p.eps);
    let scale = gamma[c] * invstd;
    stats[c] = scale;
    stats[p.c + c] = beta[c] - mean * scale;
    stats[2u * p.c + c] = mean;
    stats[3u * p.c + c] = invstd;
    running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
    running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * sq_total / (count - 1.0);
  }
}

//! entry bn_eval_stats
// The same [scale, shift, mean, invstd] rows from the running statistics (one invocation per channel).
struct P { c: u32, eps: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read> running_var: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.c) { return; }
  let invstd = 1.0 / sqrt(running_var[c] + p.eps);
  let scale = gamma[c] * invstd;
  stats[c] = scale;
  stats[p.c + c] = beta[c] - running_mean[c] * scale;
  stats[2u * p.c + c] = running_mean[c];
  stats[3u * p.c + c] = invstd;
}

//! entry channel_affine
// y = x * stats[c] (+ stats[C + c] when with_shift): the BN forward, and its input gradient in eval mode.
struct P { n: u32, c: u32, s: u32, with_shift: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let c = channel_of(i, p.c, p.s);
  y[i] = x[i] * stats[c] + select(0.0, stats[p.c + c], p.with_shift != 0u);
}

//! entry bn_grad_input
// Training-mode input gradient through the batch statistics, with M = N * S elements per channel:
// dx = scale * (g - (sum g + xhat * sum g xhat) / M), xhat = (x - mean) * invstd.
struct P { n: u32, c: u32, s: u32, inv_m: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> sum_gxhat: array<f32>;
@group(0) @binding(5) var<storage, read> sum_g: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let c = channel_of(i, p.c, p.s);
  let xhat = (x[i] - stats[2u * p.c + c]) * stats[3u * p.c + c];
  dx[i] = stats[c] * (g[i] - (sum_g[c] + xhat * sum_gxhat[c]) * p.inv_m);
}

//! entry grad_params
// Per-channel sums of g * xhat and g, i.e. the gamma and beta gradients of both norms. PER_PIXEL selects
// LayerNorm statistics (one mean/invstd per (n, s), rows of N * S) over BatchNorm's (one per channel, rows
// 2 and 3 of the [scale, shift, mean, invstd] stats).
@group(0) @binding(0) var<uniform> p: Lanes;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> dbeta: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let l = lane_of(t, wid.x, p);
  let live = l.c < p.c;
  let pixels = p.n * p.s;
  var acc = vec2<f32>(0.0, 0.0);
  if (live) {
    var mean = 0.0;
    var invstd = 0.0;
    if (!PER_PIXEL) {
      mean = stats[2u * p.c + l.c];
      invstd = stats[3u * p.c + l.c];
    }
    for (var n = l.n0; n < p.n; n += p.rw) {
      let base = (n * p.c + l.c) * p.s;
      for (var s = l.s0; s < p.s; s += p.sw) {
        if (PER_PIXEL) {
          mean = stats[n * p.s + s];
          invstd = stats[pixels + n * p.s + s];
        }
        let gv = g[base + s];
        acc += vec2<f32>(gv * (x[base + s] - mean) * invstd, gv);
      }
    }
  }
  let total = channel_total(acc, t, p.tc);
  if (live && t < p.tc) {
    dgamma[l.c] = total.x;
    dbeta[l.c] = total.y;
  }
}

//! entry ln_forward
// LayerNorm over C at every (n, s): one invocation per pixel, channel stride S (neighbouring invocations read
// neighbouring pixels). Also writes the pixel's mean and invstd (rows of N * S) for the backward pass.
struct P { pixels: u32, c: u32, s: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = flat_index(gid, nwg, WG);
  if (q >= p.pixels) { return; }
  let n = q / p.s;
  let base = n * p.c * p.s + (q - n * p.s);
  var sum = 0.0;
  for (var c = 0u; c < p.c; c++) { sum += x[base + c * p.s]; }
  let mean = sum / f32(p.c);
  var sq = 0.0;
  for (var c = 0u; c < p.c; c++) {
    let d = x[base + c * p.s] - mean;
    sq += d * d;
  }
  let invstd = 1.0 / sqrt(sq / f32(p.c) + p.eps);
  for (var c = 0u; c < p.c; c++) {
    let i = base + c * p.s;
    y[i] = (x[i] - mean) * invstd * gamma[c] + beta[c];
  }
  stats[q] = mean;
  stats[p.pixels + q] = invstd;
}

//! entry ln_grad_input
// dx = invstd * (gh - mean_c(gh) - xhat * mean_c(gh * xhat)), gh = g * gamma, per pixel.
struct P { pixels: u32, c: u32, s: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = flat_index(gid, nwg, WG);
  if (q >= p.pixels) { return; }
  let n = q / p.s;
  let base = n * p.c * p.s + (q - n * p.s);
  let mean = stats[q];
  let invstd = stats[p.pixels + q];
  var sum_gh = 0.0;
  var sum_ghx = 0.0;
  for (var c = 0u; c < p.c; c++) {
    let i = base + c * p.s;
    let gh = g[i] * gamma[c];
    sum_gh += gh;
    sum_ghx += gh * (x[i] - mean) * invstd;
  }
  let inv_c = 1.0 / f32(p.c);
  for (var c = 0u; c < p.c; c++) {
    let i = base + c * p.s;
    let xhat = (x[i] - mean) * invstd;
    dx[i] = invstd * (g[i] * gamma[c] - (sum_gh + xhat * sum_ghx) * inv_c);
  }
}
