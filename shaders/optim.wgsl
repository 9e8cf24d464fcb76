// Optimizer updates and gradient-norm clipping (src/runtime/optim.ts). Each update is one fused in-place pass
// over a parameter and its state, in f32 with the same operation order as torch.optim (single-tensor path).
// A non-finite gradient element leaves that parameter element and its state untouched and raises the
// parameter's flag to 0xFFFFFFFF - step with an integer atomicMax, so the flag ends up naming the first bad
// step whatever the invocation order; the host reads the flags only when asked (Optimizer.checkFinite).

// An integer test: WGSL lets compilers assume floats are finite, so `x != x` may be folded away.
fn non_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7F800000u) == 0x7F800000u;
}

// Workgroup tree sum in a fixed order (deterministic); every invocation must call it (it has barriers).
var<workgroup> scratch: array<f32, WG>;
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  scratch[lid] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { scratch[lid] += scratch[lid + s]; }
  }
  workgroupBarrier();
  return scratch[0];
}

struct SgdParams { n: u32, slot: u32, marker: u32, pad0: u32, lr: f32, weight_decay: f32, momentum: f32, pad1: u32 }

//! entry sgd
// param -= lr * (grad + weight_decay * param)
@group(0) @binding(0) var<uniform> p: SgdParams;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let g = grad[i];
  if (non_finite(g)) { atomicMax(&flags[p.slot], p.marker); return; }
  let w = param[i];
  param[i] = w - p.lr * (g + p.weight_decay * w);
}

//! entry sgd_momentum
// buf = momentum * buf + (grad + weight_decay * param); param -= lr * buf. The buffer starts at zero, which
// equals PyTorch's first-step copy of the gradient because dampening is 0.
@group(0) @binding(0) var<uniform> p: SgdParams;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;
@group(0) @binding(4) var<storage, read_write> flags: array<atomic<u32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let g = grad[i];
  if (non_finite(g)) { atomicMax(&flags[p.slot], p.marker); return; }
  let w = param[i];
  let b = p.momentum * buf[i] + (g + p.weight_decay * w);
  buf[i] = b;
  param[i] = w - p.lr * b;
}

//! entry adam
// torch.optim.Adam (DECOUPLED false: weight decay added to the gradient) or AdamW (DECOUPLED true: the
// parameter shrinks by decay = 1 - lr * weight_decay first). step_size = lr / (1 - beta1^t) and
// bc2_sqrt = sqrt(1 - beta2^t) are computed on the host in f64, as PyTorch does.
struct P {
  n: u32, slot: u32, marker: u32, pad: u32,
  beta1: f32, one_minus_beta1: f32, beta2: f32, one_minus_beta2: f32,
  step_size: f32, bc2_sqrt: f32, eps: f32, weight_decay: f32,
  decay: f32, pad1: u32, pad2: u32, pad3: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read_write> flags: array<atomic<u32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  var g = grad[i];
  if (non_finite(g)) { atomicMax(&flags[p.slot], p.marker); return; }
  var w = param[i];
  if (DECOUPLED) { w = w * p.decay; } else { g = g + p.weight_decay * w; }
  let m = exp_avg[i] * p.beta1 + g * p.one_minus_beta1;
  let v = exp_avg_sq[i] * p.beta2 + g * g * p.one_minus_beta2;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  param[i] = w - p.step_size * (m / (sqrt(v) / p.bc2_sqrt + p.eps));
}

//! entry sumsq
// Partial sums of squares: workgroup k sums elements [k * WG * ITEMS, (k + 1) * WG * ITEMS) and writes
// partials[offset + k]. The chunking is fixed, so the global norm does not depend on the device.
struct P { n: u32, offset: u32, groups: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let group = wid.x + wid.y * nwg.x;
  let base = group * WG * ITEMS;
  var acc = 0.0;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG + lid.x;
    if (i < p.n) { let v = g[i]; acc += v * v; }
  }
  let total = workgroup_sum(lid.x, acc);
  if (lid.x == 0u && group < p.groups) { partials[p.offset + group] = total; }
}

//! entry norm
// One workgroup: norm[0] = sqrt(sum of the partials), each invocation striding over them in a fixed order.
struct P { count: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = lid.x; i < p.count; i += WG) { acc += partials[i]; }
  let total = workgroup_sum(lid.x, acc);
  if (lid.x == 0u) { norm[0] = sqrt(total); }
}

//! entry clip_scale
// g *= min(max_norm / (norm + 1e-6), 1), in f32 like torch.nn.utils.clip_grad_norm_.
struct P { n: u32, max_norm: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  g[i] = g[i] * min(p.max_norm / (norm[0] + 1e-6), 1.0);
}
