// Prepended to every kernel. Dispatches over 65535 workgroups are folded into 2-D grids (Runtime.grid),
// so a flat invocation index is rebuilt from both dimensions.
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg;
}

// Shapes and strides of up to 8 dimensions travel in uniforms as two vec4s.
fn dim8(v: array<vec4<u32>, 2>, i: u32) -> u32 {
  return v[i / 4u][i % 4u];
}
