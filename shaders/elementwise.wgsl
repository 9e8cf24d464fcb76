// Pointwise maps, broadcasting binary ops and the broadcast-reduction their gradients need.
//! default RANK = 1
//! default OP = 0
//! default WHICH = 0
// OP codes are specialisation constants, so each op is its own small pipeline without a runtime switch. They are
// named once here: tools/embed.mjs turns each `//! enum` line into WGSL constants (UNARY_LEAKY_RELU, ...) and into
// SHADER_ENUMS.elementwise for src/ops/elementwise.ts.
//! enum UNARY relu leakyRelu tanh atan exp log softplus sqrt square abs clamp affine sigmoid atLeast
//! enum BINARY add sub mul div maximum first greaterEqual

// The maps are written once, on vec4s: the vec4 entries (unary4, binary4, ...) run them four elements per
// invocation, and the scalar entries, which serve broadcasting and the last n % 4 elements, call them on a
// splat and keep .x (compilers drop the unused components).
fn softplus_(x: vec4<f32>, beta: f32) -> vec4<f32> {
  // Same threshold as torch.nn.Softplus (20): above it the function is linear.
  let bx = beta * x;
  return select(log(1.0 + exp(bx)) / beta, x, bx > vec4<f32>(20.0));
}

fn sigmoid_(x: vec4<f32>) -> vec4<f32> {
  return 1.0 / (1.0 + exp(-x));
}

fn unary_op(x: vec4<f32>, a: f32, b: f32) -> vec4<f32> {
  let zero = vec4<f32>(0.0);
  switch (OP) {
    case UNARY_RELU: { return max(x, zero); }
    case UNARY_LEAKY_RELU: { return select(a * x, x, x > zero); }
    case UNARY_TANH: { return tanh(x); }
    case UNARY_ATAN: { return atan(x); }
    case UNARY_EXP: { return exp(x); }
    case UNARY_LOG: { return log(x); }
    case UNARY_SOFTPLUS: { return softplus_(x, a); }
    case UNARY_SQRT: { return sqrt(x); }
    case UNARY_SQUARE: { return x * x; }
    case UNARY_ABS: { return abs(x); }
    case UNARY_CLAMP: { return min(max(x, vec4<f32>(a)), vec4<f32>(b)); }
    case UNARY_AFFINE: { return a * x + b; }
    case UNARY_SIGMOID: { return sigmoid_(x); }
    case UNARY_AT_LEAST: { return select(zero, vec4<f32>(1.0), x >= vec4<f32>(a)); }
    default: { return x; }
  }
}

// d op(x) / dx
fn unary_deriv(x: vec4<f32>, a: f32, b: f32) -> vec4<f32> {
  let zero = vec4<f32>(0.0);
  let one = vec4<f32>(1.0);
  switch (OP) {
    case UNARY_RELU: { return select(zero, one, x > zero); }
    case UNARY_LEAKY_RELU: { return select(vec4<f32>(a), one, x > zero); }
    case UNARY_TANH: { let t = tanh(x); return 1.0 - t * t; }
    case UNARY_ATAN: { return 1.0 / (1.0 + x * x); }
    case UNARY_EXP: { return exp(x); }
    case UNARY_LOG: { return 1.0 / x; }
    case UNARY_SOFTPLUS: { return select(sigmoid_(a * x), one, a * x > vec4<f32>(20.0)); }
    case UNARY_SQRT: { return 0.5 / sqrt(x); }
    case UNARY_SQUARE: { return 2.0 * x; }
    case UNARY_ABS: { return sign(x); }
    case UNARY_CLAMP: { return select(zero, one, (x >= vec4<f32>(a)) & (x <= vec4<f32>(b))); }
    case UNARY_AFFINE: { return vec4<f32>(a); }
    case UNARY_SIGMOID: { let s = sigmoid_(x); return s * (1.0 - s); }
    case UNARY_AT_LEAST: { return zero; }
    default: { return one; }
  }
}

fn binary_op(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  switch (OP) {
    case BINARY_ADD: { return a + b; }
    case BINARY_SUB: { return a - b; }
    case BINARY_MUL: { return a * b; }
    case BINARY_DIV: { return a / b; }
    case BINARY_MAXIMUM: { return max(a, b); }
    case BINARY_GREATER_EQUAL: { return select(vec4<f32>(0.0), vec4<f32>(1.0), a >= b); }
    default: { return a; } // BINARY_FIRST
  }
}

// d op(a, b) / d(a if WHICH == 0 else b)
fn binary_deriv(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  let zero = vec4<f32>(0.0);
  let one = vec4<f32>(1.0);
  switch (OP) {
    case BINARY_ADD: { return one; }
    case BINARY_SUB: { return select(-one, one, WHICH == 0u); }
    case BINARY_MUL: { return select(a, b, WHICH == 0u); }
    case BINARY_DIV: { return select(-a / (b * b), 1.0 / b, WHICH == 0u); }
    case BINARY_MAXIMUM: { return select(select(zero, one, b > a), select(zero, one, a >= b), WHICH == 0u); }
    case BINARY_GREATER_EQUAL: { return zero; }
    default: { return select(zero, one, WHICH == 0u); } // BINARY_FIRST
  }
}

struct Broadcast {
  n: u32,
  rank: u32,
  start: u32,     // first output element of this dispatch (the scalar tail after a vec4 dispatch)
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

// Why vec4 entries: on lavapipe (llvmpipe) an invocation is one SIMD lane and every per-lane load or store is a
// gather or scatter per component, so the cost that vec4 saves is the per-invocation work around them (index,
// bounds, masks): add on 1 Mi floats took 2.6x less CPU with vec4 than with one float per invocation. The vec4
// entries take PER vec4s each, a dispatch's width apart, for the same reason: with 4, add ran 1.35-1.43x faster
// than with one on an AMD EPYC (tools/elementwise-variants.mjs, 2026-12-04, two runs at load 2-3).

//! entry unary
// Scalar form: elements [start, n); the tail of unary4, and the reference the vec4 path is tested against.
struct P { n: u32, a: f32, b: f32, start: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = p.start + flat_index(gid, nwg, WG);
  if (i < p.n) { y[i] = unary_op(vec4<f32>(x[i]), p.a, p.b).x; }
}

//! entry unary4
struct P { n4: u32, a: f32, b: f32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg, WG);
  for (var k = 0u; k < PER; k++) {
    let i = first + k * nwg.x * nwg.y * WG;
    if (i < p.n4) { y[i] = unary_op(x[i], p.a, p.b); }
  }
}

//! entry unary_grad
struct P { n: u32, a: f32, b: f32, start: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = p.start + flat_index(gid, nwg, WG);
  if (i < p.n) { gx[i] = g[i] * unary_deriv(vec4<f32>(x[i]), p.a, p.b).x; }
}

//! entry unary_grad4
struct P { n4: u32, a: f32, b: f32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> gx: array<vec4<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg, WG);
  for (var k = 0u; k < PER; k++) {
    let i = first + k * nwg.x * nwg.y * WG;
    if (i < p.n4) { gx[i] = g[i] * unary_deriv(x[i], p.a, p.b); }
  }
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
// Broadcasting form: output elements [start, n).
@group(0) @binding(0) var<uniform> p: Broadcast;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = p.start + flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let o = broadcast_offsets(p, i);
  y[i] = binary_op(vec4<f32>(a[o.x]), vec4<f32>(b[o.y])).x;
}

//! entry binary4
// Operands of the output's shape, four elements per invocation.
struct P { n4: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg, WG);
  for (var k = 0u; k < PER; k++) {
    let i = first + k * nwg.x * nwg.y * WG;
    if (i < p.n4) { y[i] = binary_op(a[i], b[i]); }
  }
}

//! entry binary_grad
// g * d op / d operand, at the output's (broadcast) shape; the caller reduces it to the operand's shape.
@group(0) @binding(0) var<uniform> p: Broadcast;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> gout: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = p.start + flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let o = broadcast_offsets(p, i);
  gout[i] = g[i] * binary_deriv(vec4<f32>(a[o.x]), vec4<f32>(b[o.y])).x;
}

//! entry binary_grad4
struct P { n4: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> gout: array<vec4<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg, WG);
  for (var k = 0u; k < PER; k++) {
    let i = first + k * nwg.x * nwg.y * WG;
    if (i < p.n4) { gout[i] = g[i] * binary_deriv(a[i], b[i]); }
  }
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
