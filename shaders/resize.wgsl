// Bilinear and nearest resampling of NCHW planes with PyTorch's F.interpolate index rules, forward and backward.
// NEAREST selects the mode. The backward pass is a gather: each input pixel finds the outputs that sampled it
// by evaluating the forward's own taps over a conservative candidate range, so it is deterministic and agrees
// with the forward rounding by construction.

struct Resize {
  // Invocations of this dispatch: outputs forward, inputs backward.
  n: u32,
  ih: u32,
  iw: u32,
  oh: u32,
  ow: u32,
  align: u32,
  // Source coordinate per destination step along each axis (float32, as PyTorch computes it).
  scale_h: f32,
  scale_w: f32,
}

// The two input indices an output index reads along one axis and their weights (nearest: one tap, weight 1).
struct Tap {
  i0: u32,
  i1: u32,
  w0: f32,
  w1: f32,
}

fn tap(o: u32, scale: f32, size: u32, align: bool) -> Tap {
  if (NEAREST) {
    // PyTorch's legacy 'nearest': floor(o * scale) in float32, clamped to the last index.
    let i = min(u32(floor(f32(o) * scale)), size - 1u);
    return Tap(i, i, 1.0, 0.0);
  }
  var src = f32(o) * scale;
  if (!align) { src = max((f32(o) + 0.5) * scale - 0.5, 0.0); }
  // src >= 0, so the conversion floors.
  let i0 = min(u32(src), size - 1u);
  let w1 = src - f32(i0);
  return Tap(i0, min(i0 + 1u, size - 1u), 1.0 - w1, w1);
}

// Weight with which output o's tap reads input index i along one axis (0 if it does not read it).
fn tap_weight(t: Tap, i: u32) -> f32 {
  return select(0.0, t.w0, t.i0 == i) + select(0.0, t.w1, t.i1 == i);
}

// Outputs along one axis that may read input i: those whose source coordinate lies in [i - 1, i + 1)
// (bilinear) or [i, i + 1) (nearest), widened by one on each side against float rounding. Half-open.
fn candidates(i: u32, scale: f32, size: u32, out: u32, align: bool) -> vec2<u32> {
  if (scale == 0.0) { return vec2<u32>(0u, out); }
  var offset = 0.0;
  if (!NEAREST && !align) { offset = 0.5 * scale - 0.5; }
  let reach = select(1.0, 0.0, NEAREST);
  let lo = floor((f32(i) - reach - offset) / scale) - 1.0;
  var hi = ceil((f32(i) + 1.0 - offset) / scale) + 1.0;
  // Nearest clamps every source index past the end to the last input.
  if (i + 1u == size) { hi = f32(out); }
  return vec2<u32>(u32(max(lo, 0.0)), u32(min(hi, f32(out))));
}

//! entry resize
@group(0) @binding(0) var<uniform> p: Resize;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let r = i / p.ow;
  let plane = r / p.oh;
  let align = p.align != 0u;
  let th = tap(r - plane * p.oh, p.scale_h, p.ih, align);
  let tw = tap(i - r * p.ow, p.scale_w, p.iw, align);
  let base = plane * p.ih * p.iw;
  if (NEAREST) {
    y[i] = x[base + th.i0 * p.iw + tw.i0];
    return;
  }
  let row0 = base + th.i0 * p.iw;
  let row1 = base + th.i1 * p.iw;
  y[i] = th.w0 * (tw.w0 * x[row0 + tw.i0] + tw.w1 * x[row0 + tw.i1]) +
         th.w1 * (tw.w0 * x[row1 + tw.i0] + tw.w1 * x[row1 + tw.i1]);
}

//! entry resize_grad
@group(0) @binding(0) var<uniform> p: Resize;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let r = i / p.iw;
  let plane = r / p.ih;
  let iy = r - plane * p.ih;
  let ix = i - r * p.iw;
  let align = p.align != 0u;
  let ry = candidates(iy, p.scale_h, p.ih, p.oh, align);
  let rx = candidates(ix, p.scale_w, p.iw, p.ow, align);
  var acc = 0.0;
  for (var oy = ry.x; oy < ry.y; oy++) {
    let wy = tap_weight(tap(oy, p.scale_h, p.ih, align), iy);
    if (wy == 0.0) { continue; }
    let row = (plane * p.oh + oy) * p.ow;
    var sum = 0.0;
    for (var ox = rx.x; ox < rx.y; ox++) {
      sum += tap_weight(tap(ox, p.scale_w, p.iw, align), ix) * g[row + ox];
    }
    acc += wy * sum;
  }
  dx[i] = acc;
}
