// Exact order statistics by radix selection on order-preserving integer keys: each pass histograms one 8-bit
// digit of the keys that match the prefix found so far, then one invocation picks the digit that holds each
// target rank. The running prefixes and ranks live in a small state buffer, so the four passes queue back to back
// with nothing read by the host in between. Counts use integer atomics, whose sums do not depend on arrival
// order, so results are exact and deterministic.
//
// state (u32): [0] prefix of target 0, [1] prefix of target 1, [2] rank of target 0 among the keys still in the
// running, [3] the same for target 1, [4] non-zero once a NaN was counted.

// Order-preserving key of a float: negative floats flip all bits (larger magnitude sorts lower), others set the
// sign bit.
fn float_to_key(bits: u32) -> u32 {
  return bits ^ select(0x80000000u, 0xffffffffu, bits >= 0x80000000u);
}

//! entry histogram
// Histograms digit (key >> shift) & 255 of the elements whose key bits above the digit equal state[0] (bins
// 0..255) and, separately, state[1] (bins 256..511), for two target ranks at once; bin 512 counts NaNs.
// FIRST: the most significant digit, where every element matches both prefixes, so only bins 0..255 are
// counted (and a shift by 32, which WGSL would wrap, is never used).
struct P { n: u32, shift: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;
const BINS = 513u;
var<workgroup> local: array<atomic<u32>, BINS>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var j = lid; j < BINS; j += WG) { atomicStore(&local[j], 0u); }
  workgroupBarrier();
  let prefix0 = state[0];
  let prefix1 = state[1];
  for (var i = gid.x; i < p.n; i += nwg.x * WG) {
    let bits = bitcast<u32>(x[i]);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
      atomicAdd(&local[512], 1u);
      continue;
    }
    let key = float_to_key(bits);
    let digit = (key >> p.shift) & 0xffu;
    let high = key >> (p.shift + 8u);
    if (FIRST || high == prefix0) { atomicAdd(&local[digit], 1u); }
    if (!FIRST && high == prefix1) { atomicAdd(&local[256u + digit], 1u); }
  }
  workgroupBarrier();
  for (var j = lid; j < BINS; j += WG) {
    let c = atomicLoad(&local[j]);
    if (c > 0u) { atomicAdd(&hist[j], c); }
  }
}

//! entry pick
// One invocation after each histogram pass: for each target, the digit whose bin holds its rank (counts below it
// are subtracted from the rank) is appended to its prefix; a counted NaN sets the flag. The digit stops at 255
// so that a rank beyond the non-NaN counts (only possible with NaNs, whose result is NaN anyway) stays in range.
// (Binding 0, the uniform block every dispatch gets, is unused.)
@group(0) @binding(1) var<storage, read> hist: array<u32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;
@compute @workgroup_size(1)
fn main() {
  if (hist[512] > 0u) { state[4] = 1u; }
  for (var t = 0u; t < 2u; t++) {
    // The first pass counts one histogram for both targets.
    let bins = select(t * 256u, 0u, FIRST);
    var rank = state[2u + t];
    var digit = 0u;
    while (digit < 255u && rank >= hist[bins + digit]) {
      rank -= hist[bins + digit];
      digit++;
    }
    state[t] = (state[t] << 8u) | digit;
    state[2u + t] = rank;
  }
}

//! entry finish
// out[0] = the value at weight w between the two selected floats a (rank lo) and b (rank lo + 1), with
// torch.lerp's two-sided formula in f32 as torch.quantile computes it on float32 tensors; w = 0 returns a itself
// (an infinite a stays infinite). NaN when the flag is set (built from state[4] at run time: WGSL refuses a NaN
// constant).
struct F { w: f32, pad0: f32, pad1: f32, pad2: f32 }
@group(0) @binding(0) var<uniform> f: F;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
fn key_to_float(key: u32) -> f32 {
  return bitcast<f32>(select(~key, key ^ 0x80000000u, key >= 0x80000000u));
}
@compute @workgroup_size(1)
fn main() {
  if (state[4] != 0u) {
    out[0] = bitcast<f32>(0x7fc00000u | state[4]);
    return;
  }
  let a = key_to_float(state[0]);
  let b = key_to_float(state[1]);
  let w = f.w;
  if (w == 0.0) {
    out[0] = a;
    return;
  }
  out[0] = select(b - (b - a) * (1.0 - w), a + w * (b - a), w < 0.5);
}
