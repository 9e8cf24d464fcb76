#!/usr/bin/env node
// How lavapipe loads GEMM operands (issue 18): texad's register tile r8x16 (8 rows shared by the workgroup, 16
// columns per lane) on a 1024^3 matmul, with the per-lane operand L read four ways — from a storage buffer of
// vec4s (texad's kernel: lavapipe gathers each 32-bit component separately) or from an rgba32float texture
// (gallivm fetches a whole 128-bit texel per lane and transposes), each with the shared operand U read one float
// or one vec4 (4 reduction steps) at a time. Interleaved rounds on one Dawn device, so the machine's drift cancels
// out of the ratios. README "Matrix products, convolution and autotuning" records what it found. Raw WebGPU kernels
// (texad's only for the timing harness), after `npm run build`:
//   node tools/gemm-texture-variants.mjs [--rounds 5] [--size 1024] [--tiles 8x4,8x8@32,16x4] [--runtime-k] [--disable-robustness]
import { loadavg } from 'node:os';
import { median, perRoundSpeedup, timeInterleaved } from '../dist/bench/harness.js';
import { dispatchRunner, rawDevice, readFloats } from './raw-webgpu.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const rounds = opt('--rounds', 5);
const S = opt('--size', 1024); // M = N = K
const { adapter, device, robustnessDisabled } = await rawDevice('gemm-texture-variants', args);
if (S % 128 !== 0 || S > 8192) throw new Error(`gemm-texture-variants: --size must be a multiple of 128 up to 8192, got ${S}`);

// Register tiles as TU rows x TLV vec4 columns per lane; 8x4 is texad's r8x16, as the autotuner runs it on a
// 1024-column product (64-lane workgroups).
const TILES = (args.includes('--tiles') ? args[args.indexOf('--tiles') + 1] : '8x4,8x8,16x4').split(',')
  .map((t) => t.split(/[x@]/).map(Number)); // TUxTLV[@WGX]
// --runtime-k: the reduction length comes from a uniform, as in texad's kernel, instead of a constant.
const runtimeK = args.includes('--runtime-k') || args.includes('--break-epilogue');
// --break-epilogue: the store loops leave early past the matrix edge (rows and columns from the uniform).
const breakEpilogue = args.includes('--break-epilogue');
const N4 = S / 4;
// Small integers: every product and sum is exact in float32, so each variant's result can be checked exactly.
const a = new Float32Array(S * S).map((_, i) => ((i * 7) % 5) - 2);
const b = new Float32Array(S * S).map((_, i) => ((i * 3) % 7) - 3);
const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
const buffer = (data) => {
  const buf = device.createBuffer({ size: data.byteLength, usage: storage });
  device.queue.writeBuffer(buf, 0, data);
  return buf;
};
const [ua, lb, y] = [buffer(a), buffer(b), buffer(new Float32Array(S * S))];
const kUniform = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(kUniform, 0, new Uint32Array([S, S, S, 0]));
const lt = device.createTexture({ size: [N4, S], format: 'rgba32float', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
device.queue.writeTexture({ texture: lt }, b, { bytesPerRow: N4 * 16 }, [N4, S]);

/** One kernel: `lTexture` reads L by textureLoad, `uVec4` reads U as one vec4 per 4 reduction steps. */
function kernel(TU, TLV, WGX, lTexture, uVec4) {
  const lDecl = lTexture ? '@group(0) @binding(1) var lt: texture_2d<f32>;' : '@group(0) @binding(1) var<storage, read> l: array<vec4<f32>>;';
  const lLoad = (k) => (lTexture ? `textureLoad(lt, vec2<u32>(col + j, ${k}), 0)` : `l[(${k}) * ${N4}u + col + j]`);
  const step = (k, uv) => `
      for (var j = 0u; j < ${TLV}u; j++) { lv[j] = ${lLoad(k)}; }
      for (var i = 0u; i < ${TU}u; i++) {
        let uv = vec4<f32>(${uv});
        for (var j = 0u; j < ${TLV}u; j++) { acc[i * ${TLV}u + j] = fma(uv, lv[j], acc[i * ${TLV}u + j]); }
      }`;
  const K = runtimeK ? 'kl.x' : `${S}u`;
  const loop = uVec4
    ? `for (var k = 0u; k < ${K}; k += 4u) {
      var u4: array<vec4<f32>, ${TU}>;
      for (var i = 0u; i < ${TU}u; i++) { u4[i] = u[((row0 + i) * ${S}u + k) / 4u]; }
      ${[0, 1, 2, 3].map((q) => step(`k + ${q}u`, `u4[i][${q}]`)).join('')}
    }`
    : `for (var k = 0u; k < ${K}; k++) {${step('k', `u[(row0 + i) * ${S}u + k]`)}
    }`;
  return `
@group(0) @binding(0) var<storage, read> u: array<${uVec4 ? 'vec4<f32>' : 'f32'}>;
${lDecl}
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${runtimeK ? '@group(0) @binding(3) var<uniform> kl: vec4<u32>;' : ''}
@compute @workgroup_size(${WGX})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * ${TU}u;
  let col = (wid.x * ${WGX}u + lid.x) * ${TLV}u;
  var acc: array<vec4<f32>, ${TU * TLV}>;
  var lv: array<vec4<f32>, ${TLV}>;
  ${loop}
  for (var i = 0u; i < ${TU}u; i++) {
    ${breakEpilogue ? `if (row0 + i >= kl.y) { break; }` : ''}
    for (var j = 0u; j < ${TLV}u; j++) {
      for (var q = 0u; q < 4u; q++) {
        ${breakEpilogue ? `if ((col + j) * 4u + q >= kl.z) { break; }` : ''}
        y[(row0 + i) * ${S}u + (col + j) * 4u + q] = acc[i * ${TLV}u + j][q];
      }
    }
  }
}`;
}

const VARIANTS = {};
for (const [tu, tlv, wgx] of TILES) {
  for (const lTexture of [false, true]) {
    for (const uVec4 of [false, true]) {
      VARIANTS[`r${tu}x${4 * tlv}${wgx ? `@${wgx}` : ''}, L ${lTexture ? 'texture' : 'buffer'}, U ${uVec4 ? 'vec4' : 'f32'}`] =
        [tu, tlv, wgx || Math.min(64, N4 / tlv), lTexture, uVec4];
    }
  }
}
// Spot checks: C[r][c] for a few rows and columns, computed in float64 (exact for these integers).
const spots = [[0, 0], [1, 5], [S - 1, S - 1], [S / 2 + 3, 17], [7, S - 9]];
const expected = spots.map(([r, c]) => { let s = 0; for (let k = 0; k < S; k++) s += a[r * S + k] * b[k * S + c]; return s; });

const runners = {};
for (const [name, [tu, tlv, wgx, lTexture, uVec4]] of Object.entries(VARIANTS)) {
  const module = device.createShaderModule({ code: kernel(tu, tlv, wgx, lTexture, uVec4) });
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: ua } }, { binding: 1, resource: lTexture ? lt.createView() : { buffer: lb } },
      { binding: 2, resource: { buffer: y } }, ...(runtimeK ? [{ binding: 3, resource: { buffer: kUniform } }] : [])],
  });
  runners[name] = dispatchRunner(device, pipeline, bind, [N4 / (wgx * tlv), S / tu]);
  device.queue.writeBuffer(y, 0, new Float32Array(S * S));
  const t0 = performance.now();
  await runners[name](1);
  const compileMs = performance.now() - t0;
  // Every variant must compute the product, or its time means nothing.
  const got = await readFloats(device, y, 0, S * S * 4);
  spots.forEach(([r, c], i) => {
    if (got[r * S + c] !== expected[i]) throw new Error(`gemm-texture-variants: ${name}: C[${r}][${c}] = ${got[r * S + c]}, expected ${expected[i]}`);
  });
  console.error(`${name}: correct; first run ${compileMs.toFixed(0)} ms`);
}

const startLoad = loadavg()[0].toFixed(2);
const timed = await timeInterleaved(Object.keys(runners), rounds, 2, (name, reps) => runners[name](reps));
console.log(`${adapter.info?.description ?? 'adapter'}${robustnessDisabled ? ', robustness disabled' : ''}${runtimeK ? ', K from a uniform' : ''}; ${S}^3; load average ${startLoad} -> ${loadavg()[0].toFixed(2)}; ${rounds} rounds`);
console.log('variant | ms | GFLOP/s | speed vs the first variant, texad r8x16 (median of per-round ratios)');
for (const { name, roundsMs } of timed) {
  const ms = median(roundsMs);
  console.log(`${name} | ${ms.toFixed(1)} | ${(2 * S ** 3 / ms / 1e6).toFixed(2)} | ${perRoundSpeedup(timed[0].roundsMs, roundsMs).toFixed(2)}`);
}
process.exit(0);
