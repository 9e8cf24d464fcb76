// Exact order statistics by radix selection on order-preserving integer keys: each pass histograms one 8-bit
// digit of the keys that match the prefix found so far. Counts use integer atomics, whose sums do not depend
// on arrival order, so results are exact and deterministic.

//! entry histogram
// Histograms digit (key >> shift) & 255 of the elements whose key bits above the digit equal prefix0
// (bins 0..255) and, separately, prefix1 (bins 256..511), for two target ranks at once; bin 512 counts NaNs.
// FIRST: the most significant digit, where every element matches both prefixes, so only bins 0..255 are
// counted (and a shift by 32, which WGSL would wrap, is never used).
struct P { n: u32, shift: u32, prefix0: u32, prefix1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;
const BINS = 513u;
var<workgroup> local: array<atomic<u32>, BINS>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var j = lid; j < BINS; j += WG) { atomicStore(&local[j], 0u); }
  workgroupBarrier();
  for (var i = gid.x; i < p.n; i += nwg.x * WG) {
    let bits = bitcast<u32>(x[i]);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
      atomicAdd(&local[512], 1u);
      continue;
    }
    // Negative floats: flip all bits (larger magnitude sorts lower); others: set the sign bit.
    let key = bits ^ select(0x80000000u, 0xffffffffu, bits >= 0x80000000u);
    let digit = (key >> p.shift) & 0xffu;
    let high = key >> (p.shift + 8u);
    if (FIRST || high == p.prefix0) { atomicAdd(&local[digit], 1u); }
    if (!FIRST && high == p.prefix1) { atomicAdd(&local[256u + digit], 1u); }
  }
  workgroupBarrier();
  for (var j = lid; j < BINS; j += WG) {
    let c = atomicLoad(&local[j]);
    if (c > 0u) { atomicAdd(&hist[j], c); }
  }
}
