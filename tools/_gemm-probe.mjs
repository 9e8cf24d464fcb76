// scratch probe (session 10): lavapipe GEMM micro-kernels on S^3
import { loadavg } from 'node:os';
import { interleavedRounds, median, perRoundSpeedup } from '../dist/bench/harness.js';
import { dispatchRunner, rawDevice, readFloats } from './raw-webgpu.mjs';

const args = process.argv.slice(2);
const opt = (n, f) => (args.includes(n) ? args[args.indexOf(n) + 1] : f);
const rounds = Number(opt('--rounds', 3));
const S = Number(opt('--size', 1024));
const only = opt('--variants', '').split(',').filter(Boolean);
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const instance = create([]);
const adapter = await instance.requestAdapter();
const device = await adapter.requestDevice({ requiredFeatures: ['subgroups'] });
const a = new Float32Array(S * S).map((_, i) => ((i * 7) % 5) - 2);
const b = new Float32Array(S * S).map((_, i) => ((i * 3) % 7) - 3);
const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
const buffer = (data) => { const buf = device.createBuffer({ size: data.byteLength, usage: storage }); device.queue.writeBuffer(buf, 0, data); return buf; };
const [ua, lb, y] = [buffer(a), buffer(b), buffer(new Float32Array(S * S))];
const kU = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(kU, 0, new Uint32Array([S, S, S, 0]));
const N4 = S / 4;
const texUsage = GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST;
const utex = device.createTexture({ size: [S / 4, S], format: 'rgba32float', usage: texUsage });
device.queue.writeTexture({ texture: utex }, a, { bytesPerRow: S * 4 }, [S / 4, S]);
const ltex = device.createTexture({ size: [S / 4, S], format: 'rgba32float', usage: texUsage });
device.queue.writeTexture({ texture: ltex }, b, { bytesPerRow: S * 4 }, [S / 4, S]);

// Loop form like texad's register tile (TU rows x TLV vec4 per lane).
function loopKernel(TU, TLV, WGX) {
  return { groups: [N4 / (WGX * TLV), S / TU], code: `
@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read> l: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> kl: vec4<u32>;
@compute @workgroup_size(${WGX})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * ${TU}u;
  let col = (wid.x * ${WGX}u + lid.x) * ${TLV}u;
  var acc: array<vec4<f32>, ${TU * TLV}>;
  for (var k = 0u; k < kl.x; k++) {
    var lv: array<vec4<f32>, ${TLV}>;
    for (var j = 0u; j < ${TLV}u; j++) { lv[j] = l[k * kl.y / 4u + col + j]; }
    for (var i = 0u; i < ${TU}u; i++) {
      let uv = vec4<f32>(u[(row0 + i) * kl.z + k]);
      for (var j = 0u; j < ${TLV}u; j++) { acc[i * ${TLV}u + j] = fma(uv, lv[j], acc[i * ${TLV}u + j]); }
    }
  }
  for (var i = 0u; i < ${TU}u; i++) { for (var j = 0u; j < ${TLV}u; j++) { for (var q = 0u; q < 4u; q++) {
    y[(row0 + i) * kl.y + (col + j) * 4u + q] = acc[i * ${TLV}u + j][q]; } } }
}` };
}

// Loop form with U read as one vec4 per 4 reduction steps (uv4 aliases u).
function loopKvec(TU, TLV, WGX) {
  return { groups: [N4 / (WGX * TLV), S / TU], code: `
@group(0) @binding(4) var<storage, read> uv4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> l: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> kl: vec4<u32>;
@compute @workgroup_size(${WGX})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * ${TU}u;
  let col = (wid.x * ${WGX}u + lid.x) * ${TLV}u;
  var acc: array<vec4<f32>, ${TU * TLV}>;
  for (var k = 0u; k < kl.x; k += 4u) {
    var u4: array<vec4<f32>, ${TU}>;
    for (var i = 0u; i < ${TU}u; i++) { u4[i] = uv4[((row0 + i) * kl.z + k) / 4u]; }
    for (var q = 0u; q < 4u; q++) {
      var lv: array<vec4<f32>, ${TLV}>;
      for (var j = 0u; j < ${TLV}u; j++) { lv[j] = l[(k + q) * kl.y / 4u + col + j]; }
      for (var i = 0u; i < ${TU}u; i++) {
        let uv = vec4<f32>(u4[i][q]);
        for (var j = 0u; j < ${TLV}u; j++) { acc[i * ${TLV}u + j] = fma(uv, lv[j], acc[i * ${TLV}u + j]); }
      }
    }
  }
  for (var i = 0u; i < ${TU}u; i++) { for (var j = 0u; j < ${TLV}u; j++) { for (var q = 0u; q < 4u; q++) {
    y[(row0 + i) * kl.y + (col + j) * 4u + q] = acc[i * ${TLV}u + j][q]; } } }
}` };
}

// Generated text, no inner loops: vec4 accumulators, L as vec4 per lane (TLV per k), k unrolled by KU; U as
// scalars or (uvec) one vec4 per 4 k.
function genVec4(TU, TLV, WGX, KU, uvec) {
  const acc = (i, j) => `c${i}_${j}`;
  const decl = [];
  for (let i = 0; i < TU; i++) for (let j = 0; j < TLV; j++) decl.push(`  var ${acc(i, j)} = vec4<f32>(0.0);`);
  const body = [];
  if (uvec) for (let i = 0; i < TU; i++) for (let g = 0; g < KU / 4; g++) body.push(`    let u${i}_${g} = uv4[((row0 + ${i}u) * kl.z + k) / 4u + ${g}u];`);
  for (let q = 0; q < KU; q++) {
    for (let j = 0; j < TLV; j++) body.push(`    let l${q}_${j} = l[(k + ${q}u) * n4 + col + ${j}u];`);
    for (let i = 0; i < TU; i++) {
      const uexpr = uvec ? `u${i}_${q >> 2}[${q & 3}]` : `u[(row0 + ${i}u) * kl.z + k + ${q}u]`;
      body.push(`    { let s = vec4<f32>(${uexpr});`);
      for (let j = 0; j < TLV; j++) body.push(`      ${acc(i, j)} = fma(s, l${q}_${j}, ${acc(i, j)});`);
      body.push('    }');
    }
  }
  const store = [];
  for (let i = 0; i < TU; i++) for (let j = 0; j < TLV; j++) for (let q = 0; q < 4; q++)
    store.push(`  y[(row0 + ${i}u) * kl.y + (col + ${j}u) * 4u + ${q}u] = ${acc(i, j)}[${q}];`);
  return { groups: [N4 / (WGX * TLV), S / TU], code: `
@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(4) var<storage, read> uv4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> l: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> kl: vec4<u32>;
@compute @workgroup_size(${WGX})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * ${TU}u;
  let col = (wid.x * ${WGX}u + lid.x) * ${TLV}u;
  let n4 = kl.y / 4u;
${decl.join('\n')}
  for (var k = 0u; k < kl.x; k += ${KU}u) {
${body.join('\n')}
  }
${store.join('\n')}
}` };
}

// Both operands from rgba32float textures: ut [K/4 x M] texels (texel (k4, row) = U[row, 4k4..4k4+3]),
// lt [N/4 x K] (texel (c4, k) = L[k, 4c4..4c4+3]). TU rows x TLV vec4 columns per lane; 4 k per iteration.
function texKernel(TU, TLV, WGX, gen) {
  const step = [];
  if (gen) {
    for (let i = 0; i < TU; i++) step.push(`    let u${i} = textureLoad(ut, vec2<u32>(k4, row0 + ${i}u), 0);`);
    for (let q = 0; q < 4; q++) {
      for (let j = 0; j < TLV; j++) step.push(`    let l${q}_${j} = textureLoad(lt, vec2<u32>(col + ${j}u, 4u * k4 + ${q}u), 0);`);
      for (let i = 0; i < TU; i++) for (let j = 0; j < TLV; j++) step.push(`    acc[${i * TLV + j}] = fma(vec4<f32>(u${i}[${q}]), l${q}_${j}, acc[${i * TLV + j}]);`);
    }
  }
  return { groups: [N4 / (WGX * TLV), S / TU], tex: true, code: `
@group(0) @binding(0) var ut: texture_2d<f32>;
@group(0) @binding(1) var lt: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> kl: vec4<u32>;
@compute @workgroup_size(${WGX})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * ${TU}u;
  let col = (wid.x * ${WGX}u + lid.x) * ${TLV}u;
  var acc: array<vec4<f32>, ${TU * TLV}>;
  for (var k4 = 0u; k4 < kl.x / 4u; k4++) {
${gen ? step.join('\n') : `
    var u4: array<vec4<f32>, ${TU}>;
    for (var i = 0u; i < ${TU}u; i++) { u4[i] = textureLoad(ut, vec2<u32>(k4, row0 + i), 0); }
    for (var q = 0u; q < 4u; q++) {
      var lv: array<vec4<f32>, ${TLV}>;
      for (var j = 0u; j < ${TLV}u; j++) { lv[j] = textureLoad(lt, vec2<u32>(col + j, 4u * k4 + q), 0); }
      for (var i = 0u; i < ${TU}u; i++) {
        let uv = vec4<f32>(u4[i][q]);
        for (var j = 0u; j < ${TLV}u; j++) { acc[i * ${TLV}u + j] = fma(uv, lv[j], acc[i * ${TLV}u + j]); }
      }
    }`}
  }
  for (var i = 0u; i < ${TU}u; i++) { for (var j = 0u; j < ${TLV}u; j++) { for (var q = 0u; q < 4u; q++) {
    y[(row0 + i) * kl.y + (col + j) * 4u + q] = acc[i * ${TLV}u + j][q]; } } }
}` };
}

// Loop form, k stepped by 4 with U read as vec4 and the 4 sub-steps written out (no nested k loop).
function loopQ(TU, TLV, WGX, uvec = true) {
  const sub = [0, 1, 2, 3].map((q) => `
    {
      var lv: array<vec4<f32>, ${TLV}>;
      for (var j = 0u; j < ${TLV}u; j++) { lv[j] = l[(k + ${q}u) * n4 + col + j]; }
      for (var i = 0u; i < ${TU}u; i++) {
        let uv = vec4<f32>(${uvec ? `u4[i].${'xyzw'[q]}` : `u[(row0 + i) * kl.z + k + ${q}u]`});
        for (var j = 0u; j < ${TLV}u; j++) { acc[i * ${TLV}u + j] = fma(uv, lv[j], acc[i * ${TLV}u + j]); }
      }
    }`).join('');
  return { groups: [N4 / (WGX * TLV), S / TU], code: `
@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(4) var<storage, read> uv4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> l: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> kl: vec4<u32>;
@compute @workgroup_size(${WGX})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * ${TU}u;
  let col = (wid.x * ${WGX}u + lid.x) * ${TLV}u;
  let n4 = kl.y / 4u;
  var acc: array<vec4<f32>, ${TU * TLV}>;
  for (var k = 0u; k < kl.x; k += 4u) {
    ${uvec ? `var u4: array<vec4<f32>, ${TU}>;
    for (var i = 0u; i < ${TU}u; i++) { u4[i] = uv4[((row0 + i) * kl.z + k) / 4u]; }` : ''}
    ${sub}
  }
  for (var i = 0u; i < ${TU}u; i++) { for (var j = 0u; j < ${TLV}u; j++) { for (var q = 0u; q < 4u; q++) {
    y[(row0 + i) * kl.y + (col + j) * 4u + q] = acc[i * ${TLV}u + j][q]; } } }
}` };
}

// Subgroup variant: each of the 8 lanes loads U rows (sl, sl + 8, ...) as vec4 over 4 k, and every lane takes
// the row values it needs by subgroupBroadcast with a constant lane (a register extract on lavapipe).
function sgKernel(TU, TLV, WGX) {
  const R = TU / 8; // U vec4 loads per lane per 4 k
  const sub = [];
  for (let q = 0; q < 4; q++) {
    sub.push(`    {
      var lv: array<vec4<f32>, ${TLV}>;
      for (var j = 0u; j < ${TLV}u; j++) { lv[j] = l[(k + ${q}u) * n4 + col + j]; }`);
    for (let i = 0; i < TU; i++) {
      sub.push(`      { let uv = vec4<f32>(subgroupBroadcast(ur${i >> 3}.${'xyzw'[q]}, ${i & 7}u));
        for (var j = 0u; j < ${TLV}u; j++) { acc[${i}u * ${TLV}u + j] = fma(uv, lv[j], acc[${i}u * ${TLV}u + j]); } }`);
    }
    sub.push('    }');
  }
  return { groups: [N4 / (WGX * TLV), S / TU], code: `enable subgroups;
@group(0) @binding(4) var<storage, read> uv4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> l: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> kl: vec4<u32>;
@compute @workgroup_size(${WGX})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(subgroup_invocation_id) sl: u32) {
  let row0 = wid.y * ${TU}u;
  let col = (wid.x * ${WGX}u + lid.x) * ${TLV}u;
  let n4 = kl.y / 4u;
  var acc: array<vec4<f32>, ${TU * TLV}>;
  for (var k = 0u; k < kl.x; k += 4u) {
${Array.from({ length: R }, (_, r) => `    let ur${r} = uv4[((row0 + ${r * 8}u + sl) * kl.z + k) / 4u];`).join('\n')}
${sub.join('\n')}
  }
  for (var i = 0u; i < ${TU}u; i++) { for (var j = 0u; j < ${TLV}u; j++) { for (var q = 0u; q < 4u; q++) {
    y[(row0 + i) * kl.y + (col + j) * 4u + q] = acc[i * ${TLV}u + j][q]; } } }
}` };
}

// texad's loop form, with each lane loading U rows (sl + 8r) at the current k and the row values shared by
// subgroupShuffle (bshuf) or text-unrolled subgroupBroadcast (bcast).
function loopSg(TU, TLV, WGX, how) {
  const R = TU / 8;
  const iBody = how === 'shuffle'
    ? `for (var i = 0u; i < ${TU}u; i++) {
        let uv = vec4<f32>(subgroupShuffle(ur[i / 8u], i % 8u));
        for (var j = 0u; j < ${TLV}u; j++) { acc[i * ${TLV}u + j] = fma(uv, lv[j], acc[i * ${TLV}u + j]); }
      }`
    : Array.from({ length: TU }, (_, i) => `{ let uv = vec4<f32>(subgroupBroadcast(ur[${i >> 3}], ${i & 7}u));
        for (var j = 0u; j < ${TLV}u; j++) { acc[${i * TLV}u + j] = fma(uv, lv[j], acc[${i * TLV}u + j]); } }`).join('\n      ');
  return { groups: [N4 / (WGX * TLV), S / TU], code: `enable subgroups;
@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read> l: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> kl: vec4<u32>;
@compute @workgroup_size(${WGX})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(subgroup_invocation_id) sl: u32) {
  let row0 = wid.y * ${TU}u;
  let col = (wid.x * ${WGX}u + lid.x) * ${TLV}u;
  var acc: array<vec4<f32>, ${TU * TLV}>;
  var urow: array<u32, ${R}>;
  for (var r = 0u; r < ${R}u; r++) { urow[r] = (row0 + r * 8u + sl) * kl.z; }
  for (var k = 0u; k < kl.x; k++) {
    var lv: array<vec4<f32>, ${TLV}>;
    for (var j = 0u; j < ${TLV}u; j++) { lv[j] = l[k * kl.y / 4u + col + j]; }
    var ur: array<f32, ${R}>;
    for (var r = 0u; r < ${R}u; r++) { ur[r] = u[urow[r] + k]; }
      ${iBody}
  }
  for (var i = 0u; i < ${TU}u; i++) { for (var j = 0u; j < ${TLV}u; j++) { for (var q = 0u; q < 4u; q++) {
    y[(row0 + i) * kl.y + (col + j) * 4u + q] = acc[i * ${TLV}u + j][q]; } } }
}` };
}

// Explicit unrolled form: scalar accumulators, lane t owns columns c0 + j * WGX + t (lane-consecutive gathers).
// opts: kstep (U as vec4 over 4 k), ablate: 'L' (L address uniform), 'U' (U constant)
function flatKernel(TU, TC, WGX, o = {}) {
  const lines = [];
  const acc = (i, j) => `a${i}_${j}`;
  for (let i = 0; i < TU; i++) for (let j = 0; j < TC; j++) lines.push(`  var ${acc(i, j)} = 0.0;`);
  const body = [];
  const ks = o.kvec ? 4 : 1;
  if (o.kvec) for (let i = 0; i < TU; i++) body.push(`    let u${i} = uv4[((row0 + ${i}u) * kl.z + k) / 4u];`);
  for (let q = 0; q < ks; q++) {
    const kk = o.kvec ? `(k + ${q}u)` : 'k';
    for (let j = 0; j < TC; j++) body.push(`    let l${j}_${q} = l[${kk} * kl.y + ${o.ablate === 'L' ? `c0 + ${j}u * ${WGX}u` : `c0 + ${j}u * ${WGX}u + t`}];`);
    for (let i = 0; i < TU; i++) {
      const uexpr = o.ablate === 'U' ? `h${i}` : o.kvec ? `u${i}[${q}]` : `u[(row0 + ${i}u) * kl.z + k]`;
      body.push(`    { let s = ${uexpr};`);
      for (let j = 0; j < TC; j++) body.push(`      ${acc(i, j)} = fma(s, l${j}_${q}, ${acc(i, j)});`);
      body.push('    }');
    }
  }
  const store = [];
  for (let i = 0; i < TU; i++) for (let j = 0; j < TC; j++) store.push(`  y[(row0 + ${i}u) * kl.y + c0 + ${j}u * ${WGX}u + t] = ${acc(i, j)};`);
  return { groups: [S / (WGX * TC), S / TU], code: `
@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(4) var<storage, read> uv4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> l: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> kl: vec4<u32>;
@compute @workgroup_size(${WGX})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * ${TU}u;
  let t = lid.x;
  let c0 = wid.x * ${WGX * TC}u;
${lines.join('\n')}
${o.ablate === 'U' ? Array.from({ length: TU }, (_, i) => `  let h${i} = u[(row0 + ${i}u) * kl.z];`).join('\n') : ''}
  for (var k = 0u; k < kl.x; k += ${ks}u) {
${body.join('\n')}
  }
${store.join('\n')}
}` };
}

const VARIANTS = {
  'loop r16x16': () => loopKernel(16, 4, 64),
  'loop r8x16': () => loopKernel(8, 4, 64),
  'gen r16x16 k1': () => genVec4(16, 4, 64, 1, false),
  'gen r16x16 k2': () => genVec4(16, 4, 64, 2, false),
  'gen r16x16 k4': () => genVec4(16, 4, 64, 4, false),
  'gen r16x16 k4u': () => genVec4(16, 4, 64, 4, true),
  'gen r8x16 k4u': () => genVec4(8, 4, 64, 4, true),
  'gen r8x16 k8u': () => genVec4(8, 4, 64, 8, true),
  'gen r16x8 k4u': () => genVec4(16, 2, 64, 4, true),
  'gen r8x8 k4u': () => genVec4(8, 2, 64, 4, true),
  'tex r16x16 gen': () => texKernel(16, 4, 64, true),
  'tex r8x16 gen': () => texKernel(8, 4, 64, true),
  'tex r16x8 gen': () => texKernel(16, 2, 64, true),
  'tex r8x8 gen': () => texKernel(8, 2, 64, true),
  'tex r4x16 gen': () => texKernel(4, 4, 64, true),
  'tex r16x16 loop': () => texKernel(16, 4, 64, false),
  'q4 r16x16': () => loopQ(16, 4, 64),
  'q4 r8x16': () => loopQ(8, 4, 64),
  'q4 r16x8': () => loopQ(16, 2, 64),
  'q4s r16x16': () => loopQ(16, 4, 64, false),
  'sg r16x16': () => sgKernel(16, 4, 64),
  'sg r8x16': () => sgKernel(8, 4, 64),
  'sg r16x8': () => sgKernel(16, 2, 64),
  'sg r32x16': () => sgKernel(32, 4, 64),
  'sg r24x16': () => sgKernel(24, 4, 64),
  'sg r16x16 w8': () => sgKernel(16, 4, 8),
  'lsg shuf r16x16': () => loopSg(16, 4, 64, 'shuffle'),
  'lsg bcast r16x16': () => loopSg(16, 4, 64, 'bcast'),
  'lsg shuf r16x8': () => loopSg(16, 2, 64, 'shuffle'),
  'lsg bcast r16x8': () => loopSg(16, 2, 64, 'bcast'),
  'lsg bcast r32x16': () => loopSg(32, 4, 64, 'bcast'),
  'lsg bcast r16x16 w8': () => loopSg(16, 4, 8, 'bcast'),
  'lsg bcast r8x16': () => loopSg(8, 4, 64, 'bcast'),
  'kvec r16x16': () => loopKvec(16, 4, 64),
  'kvec r8x16': () => loopKvec(8, 4, 64),
  'kvec r16x8': () => loopKvec(16, 2, 64),
  'kvec r8x8': () => loopKvec(8, 2, 64),
  'kvec r16x32': () => loopKvec(16, 8, 32),
  'flat 16x16 w8': () => flatKernel(16, 16, 8),
  'flat 16x16 w64': () => flatKernel(16, 16, 64),
  'flat 8x16 w64': () => flatKernel(8, 16, 64),
  'flat 16x8 w64': () => flatKernel(16, 8, 64),
  'flat 8x8 w64': () => flatKernel(8, 8, 64),
  'flat 4x8 w64': () => flatKernel(4, 8, 64),
  'flat 6x16 w64': () => flatKernel(4, 16, 64),
  'flat 16x16 kvec': () => flatKernel(16, 16, 64, { kvec: true }),
  'flat 8x8 kvec': () => flatKernel(8, 8, 64, { kvec: true }),
  'flat 16x16 noL': () => flatKernel(16, 16, 64, { ablate: 'L' }),
  'flat 16x16 noU': () => flatKernel(16, 16, 64, { ablate: 'U' }),
  'flat 8x8 noL': () => flatKernel(8, 8, 64, { ablate: 'L' }),
};
const spots = [[0, 0], [1, 5], [S - 1, S - 1], [S / 2 + 3, 17], [7, S - 9]];
const expected = spots.map(([r, c]) => { let s = 0; for (let k = 0; k < S; k++) s += a[r * S + k] * b[k * S + c]; return s; });
const runners = {};
for (const [name, make] of Object.entries(VARIANTS)) {
  if (only.length && !only.some((o) => name.includes(o))) continue;
  const { code, groups } = make();
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  if (info.messages.some((m) => m.type === 'error')) { console.error(name, info.messages.map((m) => m.message).join('\n')); continue; }
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const layout = pipeline.getBindGroupLayout(0);
  const entries = make().tex ? [{ binding: 0, resource: utex.createView() }, { binding: 1, resource: ltex.createView() },
    { binding: 2, resource: { buffer: y } }, { binding: 3, resource: { buffer: kU } }] : [{ binding: 0, resource: { buffer: ua } }, { binding: 1, resource: { buffer: lb } }, { binding: 2, resource: { buffer: y } }, { binding: 3, resource: { buffer: kU } }];
  if (/[^a-z_0-9]uv4\[/.test(code)) entries.push({ binding: 4, resource: { buffer: ua } });
  let bind;
  try { bind = device.createBindGroup({ layout, entries: entries.filter((e) => e.binding !== 0 || code.includes('var ut') || /[^a-z_0-9]u\[/.test(code)) }); }
  catch (e) { console.error(name, e.message); continue; }
  runners[name] = dispatchRunner(device, pipeline, bind, groups);
  device.queue.writeBuffer(y, 0, new Float32Array(S * S));
  const t0 = performance.now();
  await runners[name](1);
  const compileMs = performance.now() - t0;
  const got = await readFloats(device, y, 0, S * S * 4);
  const ok = spots.every(([r, c], i) => got[r * S + c] === expected[i]);
  console.error(`${name}: ${ok ? 'correct' : 'WRONG (ablation?)'}; first run ${compileMs.toFixed(0)} ms`);
}
if (args.includes('--spin')) {
  const name = Object.keys(runners)[0];
  console.error(`spinning ${name}, pid ${process.pid}`);
  const end = performance.now() + Number(opt('--spin', 30)) * 1000;
  while (performance.now() < end) await runners[name](2);
  process.exit(0);
}
const timed = Object.keys(runners).map((name) => ({ name, roundsMs: [] }));
const startLoad = loadavg()[0].toFixed(2);
await interleavedRounds(timed, rounds, async ({ name }) => { const s = performance.now(); await runners[name](2); return (performance.now() - s) / 2; },
  async (_, err) => { throw err; }, () => {});
console.log(`${adapter.info?.description}; ${S}^3; load ${startLoad} -> ${loadavg()[0].toFixed(2)}; ${rounds} rounds`);
for (const { name, roundsMs } of timed) {
  const ms = median(roundsMs);
  console.log(`${name} | ${ms.toFixed(1)} ms | ${(2 * S ** 3 / ms / 1e6).toFixed(2)} GFLOP/s | ${perRoundSpeedup(timed[0].roundsMs, roundsMs).toFixed(2)}`);
}
void instance;
process.exit(0);
