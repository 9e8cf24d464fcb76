// Colour transforms of RGB images [N, 3, H, W] in [0, 1]. One invocation per pixel reads its three channels.

//! entry adjust_hue
// torchvision.transforms.functional.adjust_hue on float tensors: RGB -> HSV (_rgb2hsv), h = (h + factor) mod 1,
// HSV -> RGB (_hsv2rgb), with torchvision's exact case rules (ties between channels resolve to r, then g).
struct P { n: u32, plane: u32, factor: f32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let base = (i / p.plane) * 3u * p.plane + i % p.plane;
  let r = x[base];
  let g = x[base + p.plane];
  let b = x[base + 2u * p.plane];
  let maxc = max(r, max(g, b));
  let minc = min(r, min(g, b));
  let eqc = maxc == minc;
  let cr = maxc - minc;
  let s = cr / select(maxc, 1.0, eqc);
  let d = select(cr, 1.0, eqc);
  let rc = (maxc - r) / d;
  let gc = (maxc - g) / d;
  let bc = (maxc - b) / d;
  var h: f32;
  if (maxc == r) {
    h = bc - gc;
  } else if (maxc == g) {
    h = 2.0 + rc - bc;
  } else {
    h = 4.0 + gc - rc;
  }
  h = h / 6.0 + 1.0;
  h = h - floor(h);
  h = h + p.factor;
  h = h - floor(h);
  let v = maxc;
  let fi = floor(h * 6.0);
  let f = h * 6.0 - fi;
  let pp = clamp(v * (1.0 - s), 0.0, 1.0);
  let q = clamp(v * (1.0 - s * f), 0.0, 1.0);
  let t = clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0);
  let k = ((i32(fi) % 6) + 6) % 6;
  var rgb: vec3<f32>;
  switch k {
    case 0: { rgb = vec3<f32>(v, t, pp); }
    case 1: { rgb = vec3<f32>(q, v, pp); }
    case 2: { rgb = vec3<f32>(pp, v, t); }
    case 3: { rgb = vec3<f32>(pp, q, v); }
    case 4: { rgb = vec3<f32>(t, pp, v); }
    default: { rgb = vec3<f32>(v, pp, q); }
  }
  y[base] = rgb.x;
  y[base + p.plane] = rgb.y;
  y[base + 2u * p.plane] = rgb.z;
}
