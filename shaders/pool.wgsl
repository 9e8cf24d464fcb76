// Max and average pooling over square windows of NCHW planes, and PyTorch's adaptive average pooling over the
// last dim. Backward passes never race: when windows overlap (stride < kernel) one invocation per input
// element gathers, in a fixed order, the output gradients of the windows that cover it; when they are
// disjoint each output scatters into its own window of a zeroed gradient (4x fewer invocations for 2x2/2).

struct Pool2d {
  // Invocations of this dispatch: outputs for forward entries, inputs for backward ones.
  n: u32,
  h: u32,
  w: u32,
  oh: u32,
  ow: u32,
  k: u32,
  stride: u32,
  pad: u32,
  include_pad: u32,
  spare0: u32,
  spare1: u32,
  spare2: u32,
}

// Adaptive average pooling over rows of length len: bin i covers [floor(i * len / out), ceil((i + 1) * len / out)).
struct Pool1d {
  n: u32,
  len: u32,
  out: u32,
  spare: u32,
}

// (plane, row, column) of flat index i in planes of rows x cols.
fn split_plane(i: u32, rows: u32, cols: u32) -> vec3<u32> {
  let r = i / cols;
  let plane = r / rows;
  return vec3<u32>(plane, r - plane * rows, i - r * cols);
}

// Half-open range of outputs along one axis whose window [o * stride - pad, o * stride - pad + k) holds i.
fn covering(i: u32, p: Pool2d, out: u32) -> vec2<u32> {
  var first = 0u;
  if (i + p.pad >= p.k) { first = (i + p.pad - p.k) / p.stride + 1u; }
  return vec2<u32>(first, min((i + p.pad) / p.stride + 1u, out));
}

// First row/column of output o's window, clipped to the input, and one past its last.
fn window(o: u32, p: Pool2d, size: u32) -> vec2<u32> {
  let start = i32(o * p.stride) - i32(p.pad);
  return vec2<u32>(u32(max(start, 0)), u32(min(start + i32(p.k), i32(size))));
}

// PyTorch's avg_pool2d divisor: the window clipped to the padded input, or to the input itself.
fn avg_divisor(oy: u32, ox: u32, p: Pool2d) -> f32 {
  if (p.include_pad != 0u) {
    let y0 = i32(oy * p.stride) - i32(p.pad);
    let x0 = i32(ox * p.stride) - i32(p.pad);
    let y1 = min(y0 + i32(p.k), i32(p.h + p.pad));
    let x1 = min(x0 + i32(p.k), i32(p.w + p.pad));
    return f32((y1 - y0) * (x1 - x0));
  }
  let ry = window(oy, p, p.h);
  let rx = window(ox, p, p.w);
  return f32((ry.y - ry.x) * (rx.y - rx.x));
}

//! entry max_pool
// Window maximum and its index in the plane (row-major, the first one on ties like PyTorch), kept as u32 bits
// for the backward pass; inference simply drops it. Padding is skipped, which equals -inf padding; the host
// keeps pad <= k / 2 so every window holds an input element.
@group(0) @binding(0) var<uniform> p: Pool2d;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let o = split_plane(i, p.oh, p.ow);
  let base = o.x * p.h * p.w;
  let ry = window(o.y, p, p.h);
  let rx = window(o.z, p, p.w);
  var best = 0.0;
  var index = 0u;
  var found = false;
  for (var yy = ry.x; yy < ry.y; yy++) {
    for (var xx = rx.x; xx < rx.y; xx++) {
      let v = x[base + yy * p.w + xx];
      if (!found || v > best) {
        best = v;
        index = yy * p.w + xx;
        found = true;
      }
    }
  }
  y[i] = best;
  argmax[i] = index;
}

//! entry max_pool_grad
@group(0) @binding(0) var<uniform> p: Pool2d;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let e = split_plane(i, p.h, p.w);
  let here = e.y * p.w + e.z;
  let ry = covering(e.y, p, p.oh);
  let rx = covering(e.z, p, p.ow);
  var acc = 0.0;
  for (var oy = ry.x; oy < ry.y; oy++) {
    for (var ox = rx.x; ox < rx.y; ox++) {
      let o = (e.x * p.oh + oy) * p.ow + ox;
      if (argmax[o] == here) { acc += g[o]; }
    }
  }
  dx[i] = acc;
}

//! entry max_pool_scatter
// Disjoint windows: each output's gradient goes to its argmax, which no other window holds.
@group(0) @binding(0) var<uniform> p: Pool2d;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let plane = i / (p.oh * p.ow);
  dx[plane * p.h * p.w + argmax[i]] = g[i];
}

//! entry avg_pool
@group(0) @binding(0) var<uniform> p: Pool2d;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let o = split_plane(i, p.oh, p.ow);
  let base = o.x * p.h * p.w;
  let ry = window(o.y, p, p.h);
  let rx = window(o.z, p, p.w);
  var acc = 0.0;
  for (var yy = ry.x; yy < ry.y; yy++) {
    for (var xx = rx.x; xx < rx.y; xx++) { acc += x[base + yy * p.w + xx]; }
  }
  y[i] = acc / avg_divisor(o.y, o.z, p);
}

//! entry avg_pool_grad
@group(0) @binding(0) var<uniform> p: Pool2d;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let e = split_plane(i, p.h, p.w);
  let ry = covering(e.y, p, p.oh);
  let rx = covering(e.z, p, p.ow);
  var acc = 0.0;
  for (var oy = ry.x; oy < ry.y; oy++) {
    for (var ox = rx.x; ox < rx.y; ox++) {
      acc += g[(e.x * p.oh + oy) * p.ow + ox] / avg_divisor(oy, ox, p);
    }
  }
  dx[i] = acc;
}

//! entry avg_pool_scatter
// Disjoint windows: each output spreads its gradient over its own window.
@group(0) @binding(0) var<uniform> p: Pool2d;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let o = split_plane(i, p.oh, p.ow);
  let base = o.x * p.h * p.w;
  let ry = window(o.y, p, p.h);
  let rx = window(o.z, p, p.w);
  let v = g[i] / avg_divisor(o.y, o.z, p);
  for (var yy = ry.x; yy < ry.y; yy++) {
    for (var xx = rx.x; xx < rx.y; xx++) { dx[base + yy * p.w + xx] = v; }
  }
}

//! entry adaptive_avg
@group(0) @binding(0) var<uniform> p: Pool1d;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let row = i / p.out;
  let bin = i - row * p.out;
  let start = bin * p.len / p.out;
  let end = ((bin + 1u) * p.len + p.out - 1u) / p.out;
  var acc = 0.0;
  for (var j = start; j < end; j++) { acc += x[row * p.len + j]; }
  y[i] = acc / f32(end - start);
}

//! entry adaptive_avg_grad
// Element j lies in bins floor(j * out / len) up to ceil((j + 1) * out / len) - 1.
@group(0) @binding(0) var<uniform> p: Pool1d;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let row = i / p.len;
  let j = i - row * p.len;
  let last = min(((j + 1u) * p.out + p.len - 1u) / p.len, p.out);
  var acc = 0.0;
  for (var bin = j * p.out / p.len; bin < last; bin++) {
    let start = bin * p.len / p.out;
    let end = ((bin + 1u) * p.len + p.out - 1u) / p.out;
    acc += g[row * p.out + bin] / f32(end - start);
  }
  dx[i] = acc;
}
