// Perlin gradient noise as in DRAEM's perlin.py (rand_perlin_2d_np): a lattice of res_y x res_x cells over an
// H x W plane, unit gradients at the (res_y + 1) x (res_x + 1) lattice points given by their angles, quintic
// fade 6t^5 - 15t^4 + 10t^3, scaled by sqrt(2). The angles come in as a tensor (drawn on the GPU by the Philox
// generator of shaders/random.wgsl, or fixed by a test), so this kernel is a pure function of its inputs.
// Per sample b: res[2b] = res_y, res[2b + 1] = res_x; H and W must be multiples of them (the host checks).

struct Perlin {
  n: u32,
  h: u32,
  w: u32,
  // Floats per sample in the angle tensor (at least (res_y + 1) * (res_x + 1)).
  stride: u32,
}

fn fade(t: f32) -> f32 {
  return t * t * t * (t * (t * 6.0 - 15.0) + 10.0);
}

fn grad_dot(angle: f32, dy: f32, dx: f32) -> f32 {
  // perlin.py stacks (cos, sin) and dots them with (grid_y + shift_y, grid_x + shift_x): cos pairs with rows.
  return cos(angle) * dy + sin(angle) * dx;
}

//! entry noise
@group(0) @binding(0) var<uniform> p: Perlin;
@group(0) @binding(1) var<storage, read> angles: array<f32>;
@group(0) @binding(2) var<storage, read> res: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let plane = p.h * p.w;
  let b = i / plane;
  let r = (i - b * plane) / p.w;
  let c = i - b * plane - r * p.w;
  let ry = u32(res[2u * b]);
  let rx = u32(res[2u * b + 1u]);
  // Cell size d = H / res and the position inside the cell, exact: perlin.py's grid is (i * res / H) mod 1.
  let dy = p.h / ry;
  let dx = p.w / rx;
  let cy = r / dy;
  let cx = c / dx;
  let ty = f32(r - cy * dy) / f32(dy);
  let tx = f32(c - cx * dx) / f32(dx);
  let base = b * p.stride;
  let row = rx + 1u;
  let n00 = grad_dot(angles[base + cy * row + cx], ty, tx);
  let n10 = grad_dot(angles[base + (cy + 1u) * row + cx], ty - 1.0, tx);
  let n01 = grad_dot(angles[base + cy * row + cx + 1u], ty, tx - 1.0);
  let n11 = grad_dot(angles[base + (cy + 1u) * row + cx + 1u], ty - 1.0, tx - 1.0);
  let fy = fade(ty);
  let fx = fade(tx);
  // lerp(a, b, w) = (b - a) * w + a, first along rows (fade of the row coordinate), then along columns.
  let a = (n10 - n00) * fy + n00;
  let bb = (n11 - n01) * fy + n01;
  y[i] = 1.4142135623730951 * ((bb - a) * fx + a);
}
