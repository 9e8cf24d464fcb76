// Reductions of a tensor viewed as [A, K, B] along K (sum, max with the first argmax), and the row-wise maps
// along K: softmax, log-softmax, L2 normalisation. Every result comes from serial loops in a fixed order, so
// it is bit-identical from run to run.
//
// Index buffers (argmax positions) are declared array<u32>: they live in ordinary f32 tensors that never
// leave reduce.ts, so the bits are only ever read back by these kernels.

// A partial reduction: the value and, for max, the K position of the first maximum (NO_INDEX when empty).
struct Acc { v: f32, i: u32 }

const NO_INDEX: u32 = 0xffffffffu;

fn empty_acc() -> Acc {
  return Acc(0.0, NO_INDEX);
}

// A bit test, because drivers may fold the usual `v != v` to false (Mesa's NIR does for inexact compares).
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Whether element (v, i) replaces the running maximum `a`. NaN wins over numbers (torch.max propagates NaN);
// equal values go to the smaller index, so the first maximum wins whatever order partials are merged in.
fn beats(v: f32, i: u32, a: Acc) -> bool {
  if (a.i == NO_INDEX) { return true; }
  let v_nan = is_nan(v);
  let a_nan = is_nan(a.v);
  if (v_nan != a_nan) { return v_nan; }
  if (v_nan || v == a.v) { return i < a.i; }
  return v > a.v;
}

fn combine(is_max: bool, a: Acc, v: f32, i: u32) -> Acc {
  if (is_max) {
    if (beats(v, i, a)) { return Acc(v, i); }
    return a;
  }
  return Acc(a.v + v, 0u);
}

// Offset of element (a, 0, b) for the invocation that owns line `line` = a * B + b of an [A, K, B] view.
fn line_base(line: u32, k: u32, b: u32) -> u32 {
  return (line / b) * k * b + line % b;
}

//! entry fold
// [A, K, B] -> [A, P, B] partials: one invocation per output element; part `part` folds k = part, part + P, ...
// Interleaving makes neighbouring invocations read neighbouring floats (coalesced on GPUs, whole SIMD rows on
// lavapipe). Passes repeat until P = 1; this replaced a workgroup tree, which measured ~10x slower on lavapipe
// (barriers there are coroutine switches). OP: 0 sum, 1 max; ARG: also produce argmax positions; IN_INDEX:
// positions come from `xi` (a later pass) instead of from k.
struct P { a: u32, k: u32, b: u32, parts: u32, scale: f32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> xi: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> yi: array<u32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flat_index(gid, nwg, WG);
  if (o >= p.a * p.parts * p.b) { return; }
  let b = o % p.b;
  let part = (o / p.b) % p.parts;
  let a = o / (p.b * p.parts);
  var acc = empty_acc();
  for (var k = part; k < p.k; k += p.parts) {
    let at = (a * p.k + k) * p.b + b;
    var i = k;
    if (ARG && IN_INDEX) { i = xi[at]; }
    acc = combine(OP == 1u, acc, x[at], i);
  }
  y[o] = acc.v * p.scale;
  if (ARG) { yi[o] = acc.i; }
}

//! entry scatter_index
// Backward of max: gx[a, k, b] = g[a, b] where k is the recorded argmax of line (a, b), else 0.
struct P { n: u32, k: u32, b: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let b = i % p.b;
  let k = (i / p.b) % p.k;
  let line = (i / (p.b * p.k)) * p.b + b;
  gx[i] = select(0.0, g[line], idx[line] == k);
}

//! entry softmax
// One invocation per line of K values: max, sum of exp(x - max), then write. LOG selects log-softmax.
// Lines are short in the models served here (class logits, similarity rows), so a serial loop is enough.
struct P { lines: u32, k: u32, b: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let line = flat_index(gid, nwg, WG);
  if (line >= p.lines) { return; }
  let base = line_base(line, p.k, p.b);
  var m = x[base];
  for (var k = 1u; k < p.k; k++) { m = max(m, x[base + k * p.b]); }
  var s = 0.0;
  for (var k = 0u; k < p.k; k++) { s += exp(x[base + k * p.b] - m); }
  let log_s = log(s);
  for (var k = 0u; k < p.k; k++) {
    let at = base + k * p.b;
    if (LOG) { y[at] = x[at] - m - log_s; } else { y[at] = exp(x[at] - m) / s; }
  }
}

//! entry softmax_grad
// From the output y: softmax gx = y (g - sum g y); log-softmax gx = g - exp(y) sum g.
struct P { lines: u32, k: u32, b: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let line = flat_index(gid, nwg, WG);
  if (line >= p.lines) { return; }
  let base = line_base(line, p.k, p.b);
  var s = 0.0;
  for (var k = 0u; k < p.k; k++) {
    let at = base + k * p.b;
    if (LOG) { s += g[at]; } else { s += g[at] * y[at]; }
  }
  for (var k = 0u; k < p.k; k++) {
    let at = base + k * p.b;
    if (LOG) { gx[at] = g[at] - exp(y[at]) * s; } else { gx[at] = y[at] * (g[at] - s); }
  }
}

//! entry l2norm
// y = x / max(|x|, eps) along K (torch.nn.functional.normalize, p = 2).
struct P { lines: u32, k: u32, b: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let line = flat_index(gid, nwg, WG);
  if (line >= p.lines) { return; }
  let base = line_base(line, p.k, p.b);
  var ss = 0.0;
  for (var k = 0u; k < p.k; k++) { let v = x[base + k * p.b]; ss += v * v; }
  let inv = 1.0 / max(sqrt(ss), p.eps);
  for (var k = 0u; k < p.k; k++) { let at = base + k * p.b; y[at] = x[at] * inv; }
}

//! entry l2norm_grad
// With n = |x|: gx = (g - y <g, y>) / n while n >= eps (torch's clamp_min passes the gradient there), else g / eps.
struct P { lines: u32, k: u32, b: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let line = flat_index(gid, nwg, WG);
  if (line >= p.lines) { return; }
  let base = line_base(line, p.k, p.b);
  var ss = 0.0;
  var gx_dot = 0.0;
  for (var k = 0u; k < p.k; k++) {
    let at = base + k * p.b;
    ss += x[at] * x[at];
    gx_dot += g[at] * x[at];
  }
  let n = sqrt(ss);
  if (n >= p.eps) {
    // <g, y> y / n with y = x / n, folded into one scale of x.
    let c = gx_dot / (n * n * n);
    for (var k = 0u; k < p.k; k++) { let at = base + k * p.b; gx[at] = g[at] / n - x[at] * c; }
  } else {
    for (var k = 0u; k < p.k; k++) { let at = base + k * p.b; gx[at] = g[at] / p.eps; }
  }
}

//! entry diff_channel_mean
// y[n, 0, p] = mean over c < C of (a[n, c, p] - b[n, off + c, p])^2 (or |...| with ABS), for the S = H * W pixels p
// of each of the N images: EfficientAD's anomaly maps (teacher vs the student's first or last C channels) and
// PyramidFlow's per-level |output - template| maps, in one pass that reads a and b's slice once and writes only the
// map, where slice, sub, square (or abs) and a channel mean took up to five dispatches and three full-size
// temporaries. Four neighbouring pixels per invocation (S % 4 == 0); channels in order. b_per_image 0: b holds one
// image, compared with every image of a (PyramidFlow's template).
struct P { n: u32, c: u32, s4: u32, cb: u32, off: u32, b_per_image: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = flat_index(gid, nwg, WG);
  if (q >= p.n * p.s4) { return; }
  let img = q / p.s4;
  let px = q % p.s4;
  let a0 = img * p.c * p.s4 + px;
  let b0 = (img * p.b_per_image * p.cb + p.off) * p.s4 + px;
  var acc = vec4<f32>(0.0);
  for (var k = 0u; k < p.c; k++) {
    let d = a[a0 + k * p.s4] - b[b0 + k * p.s4];
    if (ABS) { acc += abs(d); } else { acc += d * d; }
  }
  y[q] = acc / f32(p.c);
}

//! entry diff_channel_mean_grad
// Backward of diff_channel_mean where b is a whole tensor of a's shape (offset 0, same batch): with d = a - b and
// g the gradient of the map, ga = g * 2d / C (ABS: g * sign(d) / C) and gb = -ga, four pixels per invocation over
// all N * C * S / 4 vec4s.
struct P { n: u32, c: u32, s4: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> ga: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> gb: array<vec4<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = flat_index(gid, nwg, WG);
  if (q >= p.n * p.c * p.s4) { return; }
  let px = q % p.s4;
  let img = q / (p.c * p.s4);
  let d = a[q] - b[q];
  var slope = 2.0 * d;
  if (ABS) { slope = sign(d); }
  let v = g[img * p.s4 + px] * slope / f32(p.c);
  ga[q] = v;
  gb[q] = -v;
}
