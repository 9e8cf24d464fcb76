// Depthwise 2-D convolution with a learned k x k kernel per channel (groups = channels, depth multiplier 1), as
// MobileNetV2's 3x3 blocks use it: NCHW, square stride, any top/left zero padding (the bottom/right padding is
// implied by the output size, so Keras's asymmetric 'same' padding fits), fused bias and ReLU/ReLU6 for
// inference. Backward: the input gradient gathers, per input element, the outputs whose window covers it (no
// races); the weight gradient reduces over batch and pixels in one workgroup per weight, in a fixed order.

struct Dw {
  // Invocations of this dispatch (outputs forward, inputs for grad_x, weights for grad_w).
  n: u32,
  c: u32,
  h: u32,
  w: u32,
  oh: u32,
  ow: u32,
  k: u32,
  stride: u32,
  pad_top: u32,
  pad_left: u32,
  // 0: none, 1: ReLU, 2: ReLU6 (Keras ReLU(max_value=6)).
  act: u32,
  batch: u32,
}

//! entry forward
@group(0) @binding(0) var<uniform> p: Dw;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let ox = i % p.ow;
  let r = i / p.ow;
  let oy = r % p.oh;
  let plane = r / p.oh;
  let ch = plane % p.c;
  let base = plane * p.h * p.w;
  let y0 = i32(oy * p.stride) - i32(p.pad_top);
  let x0 = i32(ox * p.stride) - i32(p.pad_left);
  var acc = 0.0;
  for (var ky = 0u; ky < p.k; ky++) {
    let iy = y0 + i32(ky);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < p.k; kx++) {
      let ix = x0 + i32(kx);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      acc += x[base + u32(iy) * p.w + u32(ix)] * wt[(ch * p.k + ky) * p.k + kx];
    }
  }
  acc += bias[ch];
  if (p.act == 1u) { acc = max(acc, 0.0); }
  if (p.act == 2u) { acc = clamp(acc, 0.0, 6.0); }
  y[i] = acc;
}

//! entry grad_x
// dx[b, c, iy, ix] = sum over taps (ky, kx) with iy + pad_top - ky = oy * stride (same for x) of dy * w.
@group(0) @binding(0) var<uniform> p: Dw;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let ix = i % p.w;
  let r = i / p.w;
  let iy = r % p.h;
  let plane = r / p.h;
  let ch = plane % p.c;
  let base = plane * p.oh * p.ow;
  var acc = 0.0;
  for (var ky = 0u; ky < p.k; ky++) {
    let ty = i32(iy + p.pad_top) - i32(ky);
    if (ty < 0 || ty % i32(p.stride) != 0) { continue; }
    let oy = u32(ty) / p.stride;
    if (oy >= p.oh) { continue; }
    for (var kx = 0u; kx < p.k; kx++) {
      let tx = i32(ix + p.pad_left) - i32(kx);
      if (tx < 0 || tx % i32(p.stride) != 0) { continue; }
      let ox = u32(tx) / p.stride;
      if (ox >= p.ow) { continue; }
      acc += dy[base + oy * p.ow + ox] * wt[(ch * p.k + ky) * p.k + kx];
    }
  }
  dx[i] = acc;
}

//! entry grad_w
// dw[c, ky, kx] = sum over (b, oy, ox) of dy * x at the tap; one workgroup per weight, WG strided partial sums,
// then a tree reduction in workgroup memory.
@group(0) @binding(0) var<uniform> p: Dw;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
var<workgroup> partial: array<f32, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let widx = wid.x + wid.y * nwg.x;
  let valid = widx < p.n;
  let kx = widx % p.k;
  let ky = (widx / p.k) % p.k;
  let ch = widx / (p.k * p.k);
  let per_image = p.oh * p.ow;
  let total = p.batch * per_image;
  var acc = 0.0;
  if (valid) {
    for (var j = lid.x; j < total; j += WG) {
      let b = j / per_image;
      let o = j - b * per_image;
      let oy = o / p.ow;
      let ox = o - oy * p.ow;
      let iy = i32(oy * p.stride + ky) - i32(p.pad_top);
      let ix = i32(ox * p.stride + kx) - i32(p.pad_left);
      if (iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) { continue; }
      let plane = b * p.c + ch;
      acc += dy[plane * per_image + o] * x[(plane * p.h + u32(iy)) * p.w + u32(ix)];
    }
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid.x < s) { partial[lid.x] += partial[lid.x + s]; }
    workgroupBarrier();
  }
  if (valid && lid.x == 0u) { dw[widx] = partial[0]; }
}
