// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11). Element e of a draw is word e % 4 of philox(counter = (e / 4, stream, 0, 0), key = seed), so every
// value depends only on (seed, stream, e): identical on any device, runtime and workgroup size, and matched bit
// for bit by the TypeScript twin in src/ops/random.ts. One invocation turns one Philox block into 4 elements.
// The generator itself lives in shaders/philox.wgsl, so other families (noise, augmentations) use the same one.

//! use philox

// a/b: [lo, hi) for uniform, (mean, std) for normal, (scale 1/(1-p), unused) for masks; an element survives
// dropout when its top 24 bits reach `threshold` = ceil(p * 2^24), i.e. exactly when unit(w) >= p.
struct P { n: u32, base: u32, key0: u32, key1: u32, stream: u32, threshold: u32, a: f32, b: f32 }

fn block_words(p: P, block: u32) -> vec4<u32> {
  return philox(vec4<u32>(p.base / 4u + block, p.stream, 0u, 0u), vec2<u32>(p.key0, p.key1));
}

fn keep_scale(p: P, w: u32) -> f32 {
  return select(0.0, p.a, (w >> 8u) >= p.threshold);
}

//! entry draw
// DIST 0: uniform, 1: normal, 2: dropout mask.
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let block = flat_index(gid, nwg, WG);
  if (block * 4u >= p.n) { return; }
  let w = block_words(p, block);
  var v: vec4<f32>;
  switch (DIST) {
    case 0u: { v = p.a + (p.b - p.a) * vec4<f32>(unit(w.x), unit(w.y), unit(w.z), unit(w.w)); }
    case 1u: { v = p.a + p.b * vec4<f32>(box_muller(w.x, w.y), box_muller(w.z, w.w)); }
    default: { v = vec4<f32>(keep_scale(p, w.x), keep_scale(p, w.y), keep_scale(p, w.z), keep_scale(p, w.w)); }
  }
  for (var lane = 0u; lane < 4u; lane++) {
    let i = block * 4u + lane;
    if (i < p.n) { y[i] = v[lane]; }
  }
}

//! entry dropout
// y = x * mask with the mask regenerated from (seed, stream): the backward pass reruns this entry on the
// output gradient instead of storing the mask.
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let block = flat_index(gid, nwg, WG);
  if (block * 4u >= p.n) { return; }
  let w = block_words(p, block);
  for (var lane = 0u; lane < 4u; lane++) {
    let i = block * 4u + lane;
    if (i < p.n) { y[i] = x[i] * keep_scale(p, w[lane]); }
  }
}
