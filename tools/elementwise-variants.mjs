#!/usr/bin/env node
// How lavapipe runs a memory-bound WGSL kernel (issue 18): the same vec4 add on 1 Mi floats written several ways
// (workgroup size, vec4s per invocation strided or contiguous, with and without the bounds check), timed in
// interleaved rounds on one Dawn device so the machine's drift cancels out of the ratios. README "Benchmarks"
// records what it found. Raw WebGPU kernels (texad's only for the timing harness), after `npm run build`:
//   node tools/elementwise-variants.mjs [--disable-robustness] [--rounds 7]
import { median, perRoundSpeedup, timeInterleaved } from '../dist/bench/harness.js';
import { dispatchRunner, rawDevice, readFloats } from './raw-webgpu.mjs';

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1] || 7);
const { adapter, device, robustnessDisabled } = await rawDevice('elementwise-variants', args);
const N4 = 262144; // vec4s: 1 Mi floats, the bench's add shape [4, 64, 64, 64]
const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
const [a, b, y] = [1, 2, 0].map((fill) => {
  const buf = device.createBuffer({ size: N4 * 16, usage: storage });
  device.queue.writeBuffer(buf, 0, new Float32Array(N4 * 4).fill(fill));
  return buf;
});
const uniform = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(uniform, 0, new Uint32Array([N4, 0, 0, 0]));
const HEAD = `struct P { n4: u32, zero: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
`;
/** name -> [workgroup size, vec4s per invocation, body of main]; `texad` is shaders/elementwise.wgsl's binary4. */
// check: 'if' guards each element with a branch, 'clamp' sends lanes past the end to the last element (they
// write the value it gets anyway), 'none' trusts the dispatch to cover exactly n4.
const GUARD = {
  if: 'if (i < p.n4) { y[i] = a[i] + b[i]; }',
  clamp: 'let j = min(i, p.n4 - 1u); y[j] = a[j] + b[j];',
  none: 'y[i] = a[i] + b[i];',
};
const strided = (wg, per, check = 'if') => [wg, per, `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let t = nw.x * ${wg}u + p.zero;
  for (var k = 0u; k < ${per}u; k++) { let i = g.x + k * t; ${GUARD[check]} }
}`];
const contiguous = (wg, per, check = 'if') => [wg, per, `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  for (var k = 0u; k < ${per}u; k++) { let i = g.x * ${per}u + k + p.zero; ${GUARD[check]} }
}`];
// The first entry is texad's binary4 as shaders/elementwise.wgsl has it (4 vec4s, strided, bounds-checked).
const VARIANTS = {
  'texad (wg 256, 4 vec4 strided)': strided(256, 4),
  'wg 256, 1 vec4': [256, 1, `@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) { let i = g.x; if (i < p.n4) { y[i] = a[i] + b[i]; } }`],
  'wg 256, 4 vec4 strided, no check': strided(256, 4, 'none'),
  'wg 256, 4 vec4 strided, clamped': strided(256, 4, 'clamp'),
  'wg 64, 4 vec4 strided, clamped': strided(64, 4, 'clamp'),
  'wg 512, 4 vec4 strided': strided(512, 4),
  'wg 1024, 4 vec4 strided': strided(1024, 4),
  'wg 1024, 2 vec4 strided': strided(1024, 2),
  'wg 256, 2 vec4 strided': strided(256, 2),
  'wg 256, 8 vec4 strided': strided(256, 8),
  'wg 64, 4 vec4 strided': strided(64, 4),
  'wg 256, 4 vec4 contiguous': contiguous(256, 4),
  'wg 256, 4 vec4 contiguous, no check': contiguous(256, 4, 'none'),
  'wg 64, 4 vec4 contiguous, clamped': contiguous(64, 4, 'clamp'),
  'wg 64, 4 vec4 contiguous': contiguous(64, 4),
};

const runners = {};
for (const [name, [wg, per, body]] of Object.entries(VARIANTS)) {
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: HEAD + body }), entryPoint: 'main' } });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [uniform, a, b, y].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  runners[name] = dispatchRunner(device, pipeline, bind, [Math.ceil(N4 / (wg * per))]);
  await runners[name](2);
  // Every variant must compute the sum, or its time means nothing.
  if ((await readFloats(device, y, (N4 - 1) * 16, 16))[3] !== 3) throw new Error(`elementwise-variants: ${name} computed a wrong sum`);
  device.queue.writeBuffer(y, 0, new Float32Array(N4 * 4));
}

const timed = await timeInterleaved(Object.keys(runners), rounds, 10, (name, reps) => runners[name](reps));
const loads = (await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`${adapter.info?.description ?? 'adapter'}${robustnessDisabled ? ', robustness disabled' : ''}; load average ${loads}; ${rounds} rounds`);
console.log('variant | ms | GB/s | speed vs texad (median of per-round ratios)');
for (const { name, roundsMs } of timed) {
  const ms = median(roundsMs);
  console.log(`${name} | ${ms.toFixed(2)} | ${(12 * N4 * 4 / ms / 1e6).toFixed(2)} | ${perRoundSpeedup(timed[0].roundsMs, roundsMs).toFixed(2)}`);
}
process.exit(0);
