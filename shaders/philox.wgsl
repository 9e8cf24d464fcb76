// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) and the conversions of
// its words to floats: helpers only, for families that declare `//! use philox` (shaders/random.wgsl draws
// tensors with them). src/ops/random.ts has the bit-identical TypeScript twin (philox4x32, cpuUniform).
//! library

const PHILOX_M0 = 0xD2511F53u;
const PHILOX_M1 = 0xCD9E8D57u;
const PHILOX_W0 = 0x9E3779B9u;
const PHILOX_W1 = 0xBB67AE85u;

// High word of the 64-bit product a * b from 16-bit halves (WGSL has no 64-bit integers or mulhi).
fn mulhi(a: u32, b: u32) -> u32 {
  let al = a & 0xFFFFu;
  let ah = a >> 16u;
  let bl = b & 0xFFFFu;
  let bh = b >> 16u;
  let lh = al * bh;
  let hl = ah * bl;
  let cross = ((al * bl) >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
  return ah * bh + (lh >> 16u) + (hl >> 16u) + (cross >> 16u);
}

fn philox(counter: vec4<u32>, seed: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = seed;
  for (var round = 0u; round < 10u; round++) {
    if (round > 0u) { k += vec2<u32>(PHILOX_W0, PHILOX_W1); }
    c = vec4<u32>(mulhi(PHILOX_M1, c.z) ^ c.y ^ k.x, PHILOX_M1 * c.z, mulhi(PHILOX_M0, c.x) ^ c.w ^ k.y, PHILOX_M0 * c.x);
  }
  return c;
}

// The top 24 bits as a float in [0, 1): exact in f32, so GPU and CPU agree bit for bit.
fn unit(w: u32) -> f32 {
  return f32(w >> 8u) * 5.9604644775390625e-8;
}

// Box-Muller on two words. u1 is in (0, 1] so log() stays finite; the angle is kept in [-pi, pi), the range
// where WGSL bounds the error of sin and cos.
fn box_muller(w1: u32, w2: u32) -> vec2<f32> {
  let u1 = f32((w1 >> 8u) + 1u) * 5.9604644775390625e-8;
  let r = sqrt(-2.0 * log(u1));
  let theta = 3.14159265358979 * (2.0 * unit(w2) - 1.0);
  return r * vec2<f32>(cos(theta), sin(theta));
}
