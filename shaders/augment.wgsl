// DRAEM's anomaly synthesis on the GPU (src/ops/augment.ts): rotation with bilinear resampling, the colour
// ops of imgaug/PIL on 0..255 integer-valued planes, and the Perlin-mask blend. Every entry works on a batch
// [B, C, H, W] and reads per-sample arguments `args[8b .. 8b + 7]`; args[8b] = 0 copies sample b unchanged, so
// one dispatch applies an op to exactly the samples that drew it.

struct Aug {
  // Invocations: elements for per-pixel entries, (sample, channel) planes for histogram_lut.
  n: u32,
  c: u32,
  h: u32,
  w: u32,
}

// (sample, channel, row, column) of flat index i.
fn coords(i: u32, p: Aug) -> vec4<u32> {
  let plane = p.h * p.w;
  let bc = i / plane;
  let r = (i - bc * plane) / p.w;
  return vec4<u32>(bc / p.c, bc % p.c, r, i - bc * plane - r * p.w);
}

//! entry rotate
// Rotation about the image centre ((W - 1) / 2, (H - 1) / 2), imgaug Affine's centre, by the angle whose cos and
// sin are args[8b + 1], args[8b + 2]: output (x, y) reads the input at the inverse-rotated position, bilinear,
// each tap outside the image counting as 0 (imgaug's constant mode with cval 0). ROUND rounds to integers (uint8
// images).
@group(0) @binding(0) var<uniform> p: Aug;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> args: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let q = coords(i, p);
  if (args[8u * q.x] == 0.0) { y[i] = x[i]; return; }
  let co = args[8u * q.x + 1u];
  let si = args[8u * q.x + 2u];
  let cy = 0.5 * f32(p.h - 1u);
  let cx = 0.5 * f32(p.w - 1u);
  let dy = f32(q.z) - cy;
  let dx = f32(q.w) - cx;
  let sx = cx + co * dx + si * dy;
  let sy = cy - si * dx + co * dy;
  let x0 = floor(sx);
  let y0 = floor(sy);
  let fx = sx - x0;
  let fy = sy - y0;
  let base = i - q.z * p.w - q.w;
  var acc = 0.0;
  for (var k = 0u; k < 4u; k++) {
    let tx = i32(x0) + i32(k & 1u);
    let ty = i32(y0) + i32(k >> 1u);
    if (tx < 0 || ty < 0 || tx >= i32(p.w) || ty >= i32(p.h)) { continue; }
    let wx = select(1.0 - fx, fx, (k & 1u) == 1u);
    let wy = select(1.0 - fy, fy, (k >> 1u) == 1u);
    acc += wx * wy * x[base + u32(ty) * p.w + u32(tx)];
  }
  if (ROUND) { acc = round(acc); }
  y[i] = acc;
}

//! entry apply_lut
// y = table[(b * C + c) * 256 + x]: gamma contrast, solarize, posterize and invert, whose tables depend only on
// the drawn parameters (built on the host; identity tables for samples that did not draw the op).
@group(0) @binding(0) var<uniform> p: Aug;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let bc = i / (p.h * p.w);
  y[i] = table[bc * 256u + u32(clamp(x[i], 0.0, 255.0))];
}

//! entry histogram_lut
// One workgroup per (sample, channel) plane: a 256-bin histogram in workgroup memory, then PIL's lookup table,
// then the table applied to the plane. MODE 0: ImageOps.autocontrast with cutoff args[8b + 1] percent at both
// ends; MODE 1: ImageOps.equalize. Both in PIL's integer arithmetic (autocontrast's scale in f32: a table entry
// can differ by one grey level from PIL's float64 where (v - lo) * 255 / (hi - lo) is within f32 rounding of an
// integer).
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> lut: array<u32, 256>;
@group(0) @binding(0) var<uniform> p: Aug;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> args: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bc = wid.x;
  if (bc >= p.n) { return; }
  let b = bc / p.c;
  let plane = p.h * p.w;
  let base = bc * plane;
  let on = args[8u * b] != 0.0;
  atomicStore(&hist[lid], 0u);
  workgroupBarrier();
  for (var k = lid; k < plane; k += 256u) { atomicAdd(&hist[u32(clamp(x[base + k], 0.0, 255.0))], 1u); }
  workgroupBarrier();
  if (lid == 0u) {
    for (var v = 0u; v < 256u; v++) { lut[v] = v; }
    if (MODE == 0u) {
      let cut = plane * u32(args[8u * b + 1u]) / 100u;
      // lo: first value whose cumulative count exceeds the low cut; hi: the same from the top.
      var lo = 256u;
      var seen = 0u;
      for (var v = 0u; v < 256u; v++) {
        seen += atomicLoad(&hist[v]);
        if (seen > cut) { lo = v; break; }
      }
      var hi = 0u;
      seen = 0u;
      for (var v = 255i; v >= 0i; v--) {
        seen += atomicLoad(&hist[u32(v)]);
        if (seen > cut) { hi = u32(v); break; }
      }
      if (lo < 256u && hi > lo) {
        let s = 255.0 / f32(hi - lo);
        let off = -f32(lo) * s;
        for (var v = 0u; v < 256u; v++) { lut[v] = u32(clamp(trunc(f32(v) * s + off), 0.0, 255.0)); }
      }
    } else {
      // PIL: step = (count of non-zero bins' pixels - the last non-zero bin) / 256; identity when <= 1 bin or 0.
      var bins = 0u;
      var last = 0u;
      for (var v = 0u; v < 256u; v++) {
        let h = atomicLoad(&hist[v]);
        if (h > 0u) { bins++; last = h; }
      }
      let step = (plane - last) / 256u;
      if (bins > 1u && step > 0u) {
        var acc = step / 2u;
        for (var v = 0u; v < 256u; v++) {
          lut[v] = min(acc / step, 255u);
          acc += atomicLoad(&hist[v]);
        }
      }
    }
  }
  workgroupBarrier();
  for (var k = lid; k < plane; k += 256u) {
    let v = x[base + k];
    y[base + k] = select(v, f32(lut[u32(clamp(v, 0.0, 255.0))]), on);
  }
}

//! entry colour
// The two colour-space ops on one pixel of 3-channel x (per-pixel invocations), OpenCV's 8-bit formulas:
// MODE 0, imgaug MultiplyAndAddToBrightness through YCrCb: Y' = clip(round(Y * mul) + add), mul = args[8b + 1],
// add = args[8b + 2], chroma kept, back to RGB with rounding and saturation.
// MODE 1, imgaug AddToHueAndSaturation through HSV (H in [0, 180)): H' = (H + hue) mod 180 with hue = args[8b + 1]
// already projected to that range, S' = clip(S + args[8b + 2], 0, 255), V kept.
@group(0) @binding(0) var<uniform> p: Aug;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> args: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn brightness(rgb: vec3<f32>, mul: f32, add: f32) -> vec3<f32> {
  let yv = clamp(round(dot(rgb, vec3<f32>(0.299, 0.587, 0.114))), 0.0, 255.0);
  let cr = clamp(round((rgb.x - yv) * 0.713 + 128.0), 0.0, 255.0) - 128.0;
  let cb = clamp(round((rgb.z - yv) * 0.564 + 128.0), 0.0, 255.0) - 128.0;
  let y2 = clamp(clamp(round(yv * mul), 0.0, 255.0) + add, 0.0, 255.0);
  return vec3<f32>(y2 + 1.403 * cr, y2 - 0.714 * cr - 0.344 * cb, y2 + 1.773 * cb);
}

fn hue_saturation(rgb: vec3<f32>, hue: f32, sat: f32) -> vec3<f32> {
  let v = max(rgb.x, max(rgb.y, rgb.z));
  let diff = v - min(rgb.x, min(rgb.y, rgb.z));
  var s = 0.0;
  if (v > 0.0) { s = round(255.0 * diff / v); }
  var hd = 0.0;
  if (diff > 0.0) {
    if (v == rgb.x) { hd = 60.0 * (rgb.y - rgb.z) / diff; }
    else if (v == rgb.y) { hd = 120.0 + 60.0 * (rgb.z - rgb.x) / diff; }
    else { hd = 240.0 + 60.0 * (rgb.x - rgb.y) / diff; }
    if (hd < 0.0) { hd += 360.0; }
  }
  let h = round(hd / 2.0) % 180.0;
  let h2 = (h + hue + 360.0) % 180.0;
  let s2 = clamp(s + sat, 0.0, 255.0) / 255.0;
  let vv = v / 255.0;
  // OpenCV's HSV2RGB: sector of h in degrees / 60 and the fraction inside it.
  let hh = h2 * 2.0 / 60.0;
  let sector = floor(hh);
  let f = hh - sector;
  let pp = vv * (1.0 - s2);
  let qq = vv * (1.0 - s2 * f);
  let tt = vv * (1.0 - s2 * (1.0 - f));
  var out: vec3<f32>;
  switch (u32(sector) % 6u) {
    case 0u: { out = vec3<f32>(vv, tt, pp); }
    case 1u: { out = vec3<f32>(qq, vv, pp); }
    case 2u: { out = vec3<f32>(pp, vv, tt); }
    case 3u: { out = vec3<f32>(pp, qq, vv); }
    case 4u: { out = vec3<f32>(tt, pp, vv); }
    default: { out = vec3<f32>(vv, pp, qq); }
  }
  return out * 255.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  let plane = p.h * p.w;
  if (i >= p.n) { return; }
  let b = i / plane;
  let k = b * 3u * plane + (i - b * plane);
  var rgb = vec3<f32>(x[k], x[k + plane], x[k + 2u * plane]);
  if (args[8u * b] != 0.0) {
    let a1 = args[8u * b + 1u];
    let a2 = args[8u * b + 2u];
    let out = select(hue_saturation(rgb, a1, a2), brightness(rgb, a1, a2), MODE == 0u);
    rgb = clamp(round(out), vec3<f32>(0.0), vec3<f32>(255.0));
  }
  y[k] = rgb.x;
  y[k + plane] = rgb.y;
  y[k + 2u * plane] = rgb.z;
}

//! entry sharpen
// PIL ImageEnhance.Sharpness(factor = args[8b + 1]): degenerate = ImageFilter.SMOOTH (3x3 kernel 1 1 1 / 1 5 1 /
// 1 1 1, divided by 13, rounded to nearest; border pixels keep their value), then Image.blend(degenerate, image, factor),
// truncated and clipped like PIL.
@group(0) @binding(0) var<uniform> p: Aug;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> args: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let q = coords(i, p);
  let v = x[i];
  if (args[8u * q.x] == 0.0) { y[i] = v; return; }
  var d = v;
  if (q.z > 0u && q.w > 0u && q.z + 1u < p.h && q.w + 1u < p.w) {
    var s = 4.0 * v;
    for (var dy = 0u; dy < 3u; dy++) {
      for (var dx = 0u; dx < 3u; dx++) { s += x[i + dy * p.w + dx - p.w - 1u]; }
    }
    d = round(s / 13.0);
  }
  let t = d + args[8u * q.x + 1u] * (v - d);
  y[i] = clamp(trunc(t), 0.0, 255.0);
}

//! entry blend
// DRAEM's augmented image: with mask M = (rotated Perlin noise > args[8b + 2], 0.5 in DRAEM) and beta = args[8b + 1],
// out = I (1 - M) + (1 - beta) A M / 255 + beta I M for anomalous samples (args[8b] = 1); normal samples keep
// I with an all-zero mask. Inputs: image I in [0, 1], source A in 0..255, noise [B, 1, H, W].
@group(0) @binding(0) var<uniform> p: Aug;
@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read> source: array<f32>;
@group(0) @binding(3) var<storage, read> noise: array<f32>;
@group(0) @binding(4) var<storage, read> args: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> mask: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let q = coords(i, p);
  let pix = q.z * p.w + q.w;
  var m = 0.0;
  if (args[8u * q.x] != 0.0 && noise[q.x * p.h * p.w + pix] > args[8u * q.x + 2u]) { m = 1.0; }
  let beta = args[8u * q.x + 1u];
  let img = image[i];
  out[i] = img * (1.0 - m) + (1.0 - beta) * source[i] / 255.0 * m + beta * img * m;
  if (q.y == 0u) { mask[q.x * p.h * p.w + pix] = m; }
}

//! entry to_uint8
// y = round(clamp(gain * x + offset, 0, 255)) with per-(sample, channel) gain args[8b + 1 + c] and offset
// args[8b + 4 + c]; C must be 3.
@group(0) @binding(0) var<uniform> p: Aug;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> args: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let q = coords(i, p);
  y[i] = round(clamp(args[8u * q.x + 1u + q.y] * x[i] + args[8u * q.x + 4u + q.y], 0.0, 255.0));
}
