//! default RELU = false
// Batch and layer normalisation, forward and backward. Tensors are viewed as [N, C, S] (S = product of the
// dims after the channel dim; S = 1 for BatchNorm1d and for LayerNorm over the last dim).
//
// Per-channel reductions (BN statistics, gamma/beta gradients) read the tensor as vec4 items, in one of three
// modes chosen by the host:
//   SPATIAL (S % 4 == 0): an item is four pixels of one channel; a group is one channel, SQ = S / 4 items.
//   ACROSS (S == 1, C % 4 == 0): an item is four neighbouring channels of one sample; a group is a channel quad.
//   SINGLE (otherwise): an item is one element in lane x, the other lanes zero; a group is one channel, SQ = S.
// A workgroup owns TC consecutive groups. Lane t is split as t = gl + TC * (sl + SW * rl): group g0 + gl, item
// offset sl (stride SW) and sample rl (stride RW = WG / (TC * SW)). Each lane sums its items in a fixed order,
// then the group's first lane adds up the lanes' partials in a fixed order: deterministic, no atomics and
// three barriers (barriers are expensive on lavapipe, which also prefers the few fat lanes of small groups).
const SINGLE: u32 = 0u;
const SPATIAL: u32 = 1u;
const ACROSS: u32 = 2u;

struct Lanes {
  n: u32,
  c: u32,
  groups: u32,
  sq: u32,
  mode: u32,
  tc: u32,
  sw: u32,
  rw: u32,
  // N * S: pixels of LayerNorm statistics rows, and BN's elements per channel as a float.
  pixels: u32,
  count: f32,
  eps: f32,
  momentum: f32,
}

struct Lane {
  group: u32,
  s0: u32,
  n0: u32,
}

fn lane_of(t: u32, workgroup: u32, l: Lanes) -> Lane {
  let k = t / l.tc;
  return Lane(workgroup * l.tc + t % l.tc, k % l.sw, k / l.sw);
}

// Vec4 index (SPATIAL, ACROSS) or element index (SINGLE) of item s of sample n in group g.
fn item_index(l: Lanes, n: u32, g: u32, s: u32) -> u32 {
  return (n * l.groups + g) * l.sq + s;
}

// Channels per group, and channel k of group g.
fn group_width(l: Lanes) -> u32 {
  return select(1u, 4u, l.mode == ACROSS);
}

fn channel(l: Lanes, g: u32, k: u32) -> u32 {
  return select(g, 4u * g + k, l.mode == ACROSS);
}

// A per-group value as the vec4 that lines up with items: ACROSS holds one value per lane, the other modes
// one value for all lanes.
fn per_group(l: Lanes, v: vec4<f32>) -> vec4<f32> {
  return select(vec4<f32>(v.x), v, l.mode == ACROSS);
}

// Lanes of an item that hold data (SINGLE items use lane x only).
fn used_lanes(l: Lanes) -> vec4<f32> {
  return select(vec4<f32>(1.0), vec4<f32>(1.0, 0.0, 0.0, 0.0), l.mode == SINGLE);
}

// Adds a lane's item sums into group totals, one value per channel of the group (lane k in ACROSS, lane x
// otherwise).
fn fold_items(l: Lanes, v: vec4<f32>) -> vec4<f32> {
  return select(vec4<f32>(v.x + v.y + v.z + v.w, 0.0, 0.0, 0.0), v, l.mode == ACROSS);
}

// BatchNorm's output before any ReLU, (x - mean) * scale + beta (not the folded x * scale + shift, which cancels
// badly when |mean| >> std). The forward and the fused ReLU's masks in the backward passes all call this one
// expression, so a mask is positive exactly where the forward's output was.
fn bn_apply(x: vec4<f32>, mean: vec4<f32>, scale: vec4<f32>, beta: vec4<f32>) -> vec4<f32> {
  return (x - mean) * scale + beta;
}

// g where the pre-activation of a fused ReLU is positive, else 0: the ReLU's backward.
fn relu_masked(g: vec4<f32>, pre: vec4<f32>) -> vec4<f32> {
  return select(vec4<f32>(0.0), g, pre > vec4<f32>(0.0));
}

var<workgroup> partial_a: array<vec4<f32>, WG>;
var<workgroup> partial_b: array<vec4<f32>, WG>;

struct Totals {
  a: vec4<f32>,
  b: vec4<f32>,
}

// Adds up (a, b) over the lanes of each group; every invocation receives its own group's totals.
// Must be called from uniform control flow (it holds barriers); `tc` comes from uniforms.
fn group_totals(a: vec4<f32>, b: vec4<f32>, t: u32, tc: u32) -> Totals {
  partial_a[t] = a;
  partial_b[t] = b;
  workgroupBarrier();
  if (t < tc) {
    // Lane t alone reads its group's slots (t, t + tc, ...), so it may overwrite slot t.
    var sum_a = vec4<f32>(0.0);
    var sum_b = vec4<f32>(0.0);
    for (var k = t; k < WG; k += tc) {
      sum_a += partial_a[k];
      sum_b += partial_b[k];
    }
    partial_a[t] = sum_a;
    partial_b[t] = sum_b;
  }
  workgroupBarrier();
  let totals = Totals(partial_a[t % tc], partial_b[t % tc]);
  // The next call overwrites the partials: everyone must have read its totals first.
  workgroupBarrier();
  return totals;
}

//! entry bn_train_stats
// Batch mean and biased variance per channel in two passes over the channel's items (the second sums squared
// deviations from the mean). Writes stats = [scale, beta, mean, invstd] rows of C, scale = gamma * invstd,
// and updates the running statistics in place with the unbiased variance.
@group(0) @binding(0) var<uniform> p: Lanes;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_var: array<f32>;

fn load(q: u32) -> vec4<f32> {
  if (p.mode == SINGLE) { return vec4<f32>(x[q / 4u][q % 4u], 0.0, 0.0, 0.0); }
  return x[q];
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let l = lane_of(t, wid.x, p);
  // Lanes past the last group add nothing but still take part in the barriers.
  let live = l.group < p.groups;
  let used = used_lanes(p);
  let zero = vec4<f32>(0.0);
  // Sums of x - x0 with x0 the group's first item: the mean stays accurate when |mean| >> std.
  let x0 = per_group(p, load(item_index(p, 0u, min(l.group, p.groups - 1u), 0u)));
  var sum = zero;
  if (live) {
    for (var n = l.n0; n < p.n; n += p.rw) {
      for (var s = l.s0; s < p.sq; s += p.sw) { sum += (load(item_index(p, n, l.group, s)) - x0) * used; }
    }
  }
  let mean = x0 + per_group(p, group_totals(fold_items(p, sum), zero, t, p.tc).a) / p.count;
  var sq = zero;
  if (live) {
    for (var n = l.n0; n < p.n; n += p.rw) {
      for (var s = l.s0; s < p.sq; s += p.sw) {
        let d = (load(item_index(p, n, l.group, s)) - mean) * used;
        sq += d * d;
      }
    }
  }
  let sq_total = group_totals(fold_items(p, sq), zero, t, p.tc).a;
  if (live && t < p.tc) {
    for (var k = 0u; k < group_width(p); k++) {
      let c = channel(p, l.group, k);
      let invstd = 1.0 / sqrt(sq_total[k] / p.count + p.eps);
      stats[c] = gamma[c] * invstd;
      stats[p.c + c] = beta[c];
      stats[2u * p.c + c] = mean[k];
      stats[3u * p.c + c] = invstd;
      running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean[k];
      running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * sq_total[k] / (p.count - 1.0);
    }
  }
}

//! entry bn_eval_stats
// The same [scale, beta, mean, invstd] rows from the running statistics (one invocation per channel).
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
  stats[c] = gamma[c] * invstd;
  stats[p.c + c] = beta[c];
  stats[2u * p.c + c] = running_mean[c];
  stats[3u * p.c + c] = invstd;
}

//! entry bn_grad_coef
// Training-mode input gradient through the batch statistics (M = N * S elements per channel):
// dx = scale * (g - (sum g + xhat * sum g xhat) / M) with xhat = (x - mean) * invstd, regrouped as
// dx = g * a + x * b + d so that the per-element pass reads three coefficient rows [a, b, d]. RELU (BatchNorm
// fused with a ReLU; g is then the gradient below the ReLU) appends rows [scale, beta, mean], from which that pass
// recomputes the ReLU's mask.
struct P { c: u32, inv_m: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> sum_gxhat: array<f32>;
@group(0) @binding(3) var<storage, read> sum_g: array<f32>;
@group(0) @binding(4) var<storage, read_write> coef: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.c) { return; }
  let scale = stats[c];
  let mean = stats[2u * p.c + c];
  let invstd = stats[3u * p.c + c];
  let k = scale * invstd * sum_gxhat[c] * p.inv_m;
  coef[c] = scale;
  coef[p.c + c] = -k;
  coef[2u * p.c + c] = k * mean - scale * sum_g[c] * p.inv_m;
  if (RELU) {
    coef[3u * p.c + c] = scale;
    coef[4u * p.c + c] = stats[p.c + c];
    coef[5u * p.c + c] = mean;
  }
}

//! entry channel_map
// Per-channel maps of u (and v) with coefficient rows r0, r1, r2 of C values, by `form`:
//   0, BN forward from stats [scale, beta, mean, invstd]: bn_apply(u, r2, r0, r1);
//   1, eval-mode input gradient: u * r0;
//   2, training-mode input gradient from bn_grad_coef: u * r0 + v * r1 + r2;
// and BatchNorm fused with a ReLU, whose mask is recomputed from x (v) by the forward's own expression:
//   3, forward: relu of form 0;
//   4, training-mode input gradient from bn_grad_coef's six rows: form 2 with u masked by bn_apply(v, r5, r3, r4);
//   5, eval-mode input gradient from stats: u * r0 masked by bn_apply(v, r2, r0, r1).
// Forms 0, 1 and 3 bind u in v's place. n counts vec4s.
struct P { n: u32, c: u32, s: u32, form: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> coef: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;

// Four consecutive elements per invocation: fatter invocations are several times faster on lavapipe. These
// are the channels of elements i0..i0+3 (i0 % 4 == 0).
fn lane_channels(i0: u32, c: u32, s: u32) -> vec4<u32> {
  let r = i0 / s;
  if (s % 4u == 0u) { return vec4<u32>(r % c); }
  var ch = r % c;
  var pos = i0 - r * s;
  var out: vec4<u32>;
  for (var k = 0u; k < 4u; k++) {
    out[k] = ch;
    pos++;
    if (pos == s) {
      pos = 0u;
      ch++;
      if (ch == c) { ch = 0u; }
    }
  }
  return out;
}

// Coefficient row r of the four lanes' channels.
fn row(r: u32, c4: vec4<u32>) -> vec4<f32> {
  let o = r * p.c;
  if (p.s % 4u == 0u) { return vec4<f32>(coef[o + c4.x]); }
  return vec4<f32>(coef[o + c4.x], coef[o + c4.y], coef[o + c4.z], coef[o + c4.w]);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = flat_index(gid, nwg, WG);
  if (q >= p.n) { return; }
  let c4 = lane_channels(4u * q, p.c, p.s);
  switch (p.form) {
    case 0u: { y[q] = bn_apply(u[q], row(2u, c4), row(0u, c4), row(1u, c4)); }
    case 1u: { y[q] = u[q] * row(0u, c4); }
    case 2u: { y[q] = u[q] * row(0u, c4) + v[q] * row(1u, c4) + row(2u, c4); }
    case 3u: { y[q] = max(bn_apply(u[q], row(2u, c4), row(0u, c4), row(1u, c4)), vec4<f32>(0.0)); }
    case 4u: {
      let g = relu_masked(u[q], bn_apply(v[q], row(5u, c4), row(3u, c4), row(4u, c4)));
      y[q] = g * row(0u, c4) + v[q] * row(1u, c4) + row(2u, c4);
    }
    default: { y[q] = relu_masked(u[q], bn_apply(v[q], row(2u, c4), row(0u, c4), row(1u, c4))) * row(0u, c4); }
  }
}

//! entry grad_params
// Per-channel sums of g * xhat and g, i.e. the gamma and beta gradients of both norms. PER_PIXEL selects
// LayerNorm statistics (one mean/invstd per (n, s), rows of N * S) over BatchNorm's (one per channel, rows
// 2 and 3 of the [scale, beta, mean, invstd] stats). RELU (BatchNorm fused with a ReLU): g is the gradient above
// the ReLU and is masked where the pre-activation bn_apply(x, mean, scale, beta), from rows 0-2, is not positive.
@group(0) @binding(0) var<uniform> p: Lanes;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> dbeta: array<f32>;

// Item q of x and g; SINGLE items leave g's other lanes zero, so those lanes add nothing.
fn load(q: u32) -> array<vec4<f32>, 2> {
  if (p.mode == SINGLE) {
    return array<vec4<f32>, 2>(vec4<f32>(x[q / 4u][q % 4u], 0.0, 0.0, 0.0), vec4<f32>(g[q / 4u][q % 4u], 0.0, 0.0, 0.0));
  }
  return array<vec4<f32>, 2>(x[q], g[q]);
}

// Statistics row `row` (BN: 2 mean, 3 invstd of channels; LN: 0 mean, 1 invstd of pixels) lined up with
// item s of sample n in group gr.
fn item_stats(row: u32, n: u32, gr: u32, s: u32) -> vec4<f32> {
  if (!PER_PIXEL) {
    let o = row * p.c + channel(p, gr, 0u);
    if (p.mode == ACROSS) { return vec4<f32>(stats[o], stats[o + 1u], stats[o + 2u], stats[o + 3u]); }
    return vec4<f32>(stats[o]);
  }
  let o = row * p.pixels;
  if (p.mode == SPATIAL) {
    let k = o + (n * p.sq + s) * 4u;
    return vec4<f32>(stats[k], stats[k + 1u], stats[k + 2u], stats[k + 3u]);
  }
  // ACROSS and SINGLE items lie in one pixel (S == 1 for ACROSS).
  return vec4<f32>(stats[o + n * p.sq + s]);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let l = lane_of(t, wid.x, p);
  let live = l.group < p.groups;
  var acc_gx = vec4<f32>(0.0);
  var acc_g = vec4<f32>(0.0);
  if (live) {
    var mean = vec4<f32>(0.0);
    var invstd = vec4<f32>(0.0);
    var scale = vec4<f32>(0.0);
    var beta = vec4<f32>(0.0);
    if (!PER_PIXEL) {
      mean = item_stats(2u, 0u, l.group, 0u);
      invstd = item_stats(3u, 0u, l.group, 0u);
      scale = item_stats(0u, 0u, l.group, 0u);
      beta = item_stats(1u, 0u, l.group, 0u);
    }
    for (var n = l.n0; n < p.n; n += p.rw) {
      for (var s = l.s0; s < p.sq; s += p.sw) {
        if (PER_PIXEL) {
          mean = item_stats(0u, n, l.group, s);
          invstd = item_stats(1u, n, l.group, s);
        }
        let v = load(item_index(p, n, l.group, s));
        var g = v[1];
        // BatchNorm fused with a ReLU: g is the gradient above the ReLU; mask it by the forward's pre-activation.
        if (RELU) { g = relu_masked(g, bn_apply(v[0], mean, scale, beta)); }
        acc_gx += g * (v[0] - mean) * invstd;
        acc_g += g;
      }
    }
  }
  let totals = group_totals(fold_items(p, acc_gx), fold_items(p, acc_g), t, p.tc);
  if (live && t < p.tc) {
    for (var k = 0u; k < group_width(p); k++) {
      let c = channel(p, l.group, k);
      dgamma[c] = totals.a[k];
      dbeta[c] = totals.b[k];
    }
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
