// Pointwise maps, broadcasting binary ops and the broadcast-reduction their gradients need.
//! default RANK = 1
// OP codes are specialisation constants, so each op is its own small pipeline without a runtime switch. They are
// named once here: tools/embed.mjs turns each `//! enum` line into WGSL constants (UNARY_LEAKY_RELU, ...) and into
// SHADER_ENUMS.elementwise for src/ops/elementwise.ts.
//! enum UNARY relu leakyRelu tanh atan exp log softplus sqrt square abs clamp affine sigmoid
//! enum BINARY add sub mul div maximum first

fn softplus_(x: f32, beta: f32) -> f32 {
  // Same threshold as torch.nn.Softplus (20): above it the function is linear.
  let bx = beta * x;
  if (bx > 20.0) { return x; }
  return log(1.0 + exp(bx)) / beta;
}

fn sigmoid_(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

struct Broadcast {
  n: u32,
  rank: u32,
  pad0: u32,
  pad1: u32,
  shape: array<vec4<u32>, 2>,
  stride_a: array<vec4<u32>, 2>,
  stride_b: array<vec4<u32>, 2>,
}

// Offsets into a and b of output element i (row-major output, broadcast dims have stride 0). RANK is a
// specialisation constant (the collapsed rank), so the loop unrolls: a dynamic trip count and dynamically
// indexed uniforms made this walk cost 5x the arithmetic on CPU drivers.
fn broadcast_offsets(p: Broadcast, i: u32) -> vec2<u32> {
  if (RANK == 1u) {
    // i < extent: no division needed (the common case of same-shape operands or a scalar).
    return vec2<u32>(i * p.stride_a[0].x, i * p.stride_b[0].x);
  }
  var rem = i;
  var oa = 0u;
  var ob = 0u;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let du = u32(d);
    let extent = dim8(p.shape, du);
    let c = rem % extent;
    rem = rem / extent;
    oa += c * dim8(p.stride_a, du);
    ob += c * dim8(p.stride_b, du);
  }
  return vec2<u32>(oa, ob);
}

//! entry unary
fn unary_op(x: f32, a: f32, b: f32) -> f32 {
  switch (OP) {
    case UNARY_RELU: { return max(x, 0.0); }
    case UNARY_LEAKY_RELU: { return select(a * x, x, x > 0.0); }
    case UNARY_TANH: { return tanh(x); }
    case UNARY_ATAN: { return atan(x); }
    case UNARY_EXP: { return exp(x); }
    case UNARY_LOG: { return log(x); }
    case UNARY_SOFTPLUS: { return softplus_(x, a); }
    case UNARY_SQRT: { return sqrt(x); }
    case UNARY_SQUARE: { return x * x; }
    case UNARY_ABS: { return abs(x); }
    case UNARY_CLAMP: { return min(max(x, a), b); }
    case UNARY_AFFINE: { return a * x + b; }
    case UNARY_SIGMOID: { return sigmoid_(x); }
    default: { return x; }
  }
}

struct P { n: u32, a: f32, b: f32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i < p.n) { y[i] = unary_op(x[i], p.a, p.b); }
}

//! entry unary_grad
// d op(x) / dx
fn unary_deriv(x: f32, a: f32, b: f32) -> f32 {
  switch (OP) {
    case UNARY_RELU: { return select(0.0, 1.0, x > 0.0); }
    case UNARY_LEAKY_RELU: { return select(a, 1.0, x > 0.0); }
    case UNARY_TANH: { let t = tanh(x); return 1.0 - t * t; }
    case UNARY_ATAN: { return 1.0 / (1.0 + x * x); }
    case UNARY_EXP: { return exp(x); }
    case UNARY_LOG: { return 1.0 / x; }
    case UNARY_SOFTPLUS: { if (a * x > 20.0) { return 1.0; } return sigmoid_(a * x); }
    case UNARY_SQRT: { return 0.5 / sqrt(x); }
    case UNARY_SQUARE: { return 2.0 * x; }
    case UNARY_ABS: { return sign(x); }
    case UNARY_CLAMP: { return select(0.0, 1.0, x >= a && x <= b); }
    case UNARY_AFFINE: { return a; }
    case UNARY_SIGMOID: { let s = sigmoid_(x); return s * (1.0 - s); }
    default: { return 1.0; }
  }
}

struct P { n: u32, a: f32, b: f32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i < p.n) { gx[i] = g[i] * unary_deriv(x[i], p.a, p.b); }
}

//! entry fill
struct P { n: u32, value: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i < p.n) { y[i] = p.value; }
}

//! entry binary
fn binary_op(a: f32, b: f32) -> f32 {
  switch (OP) {
    case BINARY_ADD: { return a + b; }
    case BINARY_SUB: { return a - b; }
    case BINARY_MUL: { return a * b; }
    case BINARY_DIV: { return a / b; }
    case BINARY_MAXIMUM: { return max(a, b); }
    default: { return a; } // BINARY_FIRST
  }
}

@group(0) @binding(0) var<uniform> p: Broadcast;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let o = broadcast_offsets(p, i);
  y[i] = binary_op(a[o.x], b[o.y]);
}

//! entry binary_grad
// g * d op / d operand, at the output's (broadcast) shape; the caller reduces it to the operand's shape.
// d op(a, b) / d(a if WHICH == 0 else b)
fn binary_deriv(a: f32, b: f32) -> f32 {
  switch (OP) {
    case BINARY_ADD: { return 1.0; }
    case BINARY_SUB: { return select(-1.0, 1.0, WHICH == 0u); }
    case BINARY_MUL: { return select(a, b, WHICH == 0u); }
    case BINARY_DIV: { return select(-a / (b * b), 1.0 / b, WHICH == 0u); }
    case BINARY_MAXIMUM: { return select(select(0.0, 1.0, b > a), select(0.0, 1.0, a >= b), WHICH == 0u); }
    default: { return select(0.0, 1.0, WHICH == 0u); } // BINARY_FIRST
  }
}

@group(0) @binding(0) var<uniform> p: Broadcast;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> gout: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let o = broadcast_offsets(p, i);
  gout[i] = g[i] * binary_deriv(a[o.x], b[o.y]);
}

//! entry sum_to
// Sums `src` (shape p.shape) over the dimensions where the target has extent 1. One invocation per target
// element, summing in a fixed order: deterministic, no atomics.
struct P {
  n: u32,
  rank: u32,
  count: u32,
  pad: u32,
  shape: array<vec4<u32>, 2>,
  target_shape: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  var acc = 0.0;
  for (var k = 0u; k < p.count; k++) {
    var rem_t = i;
    var rem_k = k;
    var offset = 0u;
    var stride = 1u;
    for (var d = i32(p.rank) - 1; d >= 0; d--) {
      let du = u32(d);
      let extent = dim8(p.shape, du);
      let t_extent = dim8(p.target_shape, du);
      var c: u32;
      if (t_extent == 1u && extent != 1u) {
        c = rem_k % extent;
        rem_k = rem_k / extent;
      } else {
        c = rem_t % t_extent;
      }
      rem_t = rem_t / t_extent;
      offset += c * stride;
      stride *= extent;
    }
    acc += src[offset];
  }
  dst[i] = acc;
}
