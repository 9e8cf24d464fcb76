// Bilinear and nearest resampling of NCHW planes, forward and backward. The host computes PyTorch's taps per
// axis once (src/ops/resize.ts) into a small u32 table, so the kernels do no index arithmetic of their own and
// forward and backward agree by construction:
//   taps:    per output index along an axis, [i0, i1, w0 bits, w1 bits] (nearest: [i, i, 1, 0]);
//   inverse: per input index, a CSR list of the (output index, weight bits) pairs that read it, in output
//            order; the backward pass gathers over these pairs: deterministic, no atomics, no wasted taps.
// Table sections start at the word offsets in the uniforms.

// Each invocation handles four neighbouring pixels of one row (fatter invocations are several times faster
// on lavapipe), sharing the row's taps; n counts these quads, `quads` per row. Outputs are bound as whole
// vec4s (the host rounds the binding up) and stored as one vec4 when rows are a multiple of 4 wide.
struct Resize {
  n: u32,
  quads: u32,
  ih: u32,
  iw: u32,
  oh: u32,
  ow: u32,
  taps_h: u32,
  taps_w: u32,
  offsets_h: u32,
  offsets_w: u32,
  pad0: u32,
  pad1: u32,
}

// Row index (plane * rows + row) and first column of quad q in rows `width` wide.
fn quad_start(q: u32, quads: u32) -> vec2<u32> {
  let r = q / quads;
  return vec2<u32>(r, 4u * (q - r * quads));
}

//! entry resize
// NEAREST reads one tap per axis; bilinear blends four inputs in PyTorch's order.
@group(0) @binding(0) var<uniform> p: Resize;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = flat_index(gid, nwg, WG);
  if (q >= p.n) { return; }
  let start = quad_start(q, p.quads);
  let plane = start.x / p.oh;
  let th = p.taps_h + 4u * (start.x - plane * p.oh);
  let base = plane * p.ih * p.iw;
  let row0 = base + table[th] * p.iw;
  let row1 = base + table[th + 1u] * p.iw;
  let h0 = bitcast<f32>(table[th + 2u]);
  let h1 = bitcast<f32>(table[th + 3u]);
  var v = vec4<f32>(0.0);
  for (var k = 0u; k < 4u; k++) {
    let ox = start.y + k;
    if (ox >= p.ow) { break; }
    let tw = p.taps_w + 4u * ox;
    let col0 = table[tw];
    if (NEAREST) {
      v[k] = x[row0 + col0];
    } else {
      let col1 = table[tw + 1u];
      let w0 = bitcast<f32>(table[tw + 2u]);
      let w1 = bitcast<f32>(table[tw + 3u]);
      v[k] = h0 * (w0 * x[row0 + col0] + w1 * x[row0 + col1]) + h1 * (w0 * x[row1 + col0] + w1 * x[row1 + col1]);
    }
  }
  let i = start.x * p.ow + start.y;
  if (p.ow % 4u == 0u) {
    y[i / 4u] = v;
    return;
  }
  for (var k = 0u; k < min(4u, p.ow - start.y); k++) { y[(i + k) / 4u][(i + k) % 4u] = v[k]; }
}

//! entry resize_grad
@group(0) @binding(0) var<uniform> p: Resize;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec4<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = flat_index(gid, nwg, WG);
  if (q >= p.n) { return; }
  let start = quad_start(q, p.quads);
  let plane = start.x / p.ih;
  let iy = start.x - plane * p.ih;
  let count = min(4u, p.iw - start.y);
  var acc = vec4<f32>(0.0);
  for (var a = table[p.offsets_h + iy]; a < table[p.offsets_h + iy + 1u]; a++) {
    let row = (plane * p.oh + table[2u * a]) * p.ow;
    let wy = bitcast<f32>(table[2u * a + 1u]);
    for (var k = 0u; k < count; k++) {
      let ix = start.y + k;
      var sum = 0.0;
      for (var b = table[p.offsets_w + ix]; b < table[p.offsets_w + ix + 1u]; b++) {
        sum += bitcast<f32>(table[2u * b + 1u]) * g[row + table[2u * b]];
      }
      acc[k] += wy * sum;
    }
  }
  let i = start.x * p.iw + start.y;
  if (p.iw % 4u == 0u) {
    dx[i / 4u] = acc;
    return;
  }
  for (var k = 0u; k < count; k++) { dx[(i + k) / 4u][(i + k) % 4u] = acc[k]; }
}
