#!/usr/bin/env node
// Which storage-buffer loads lavapipe compiles to one scalar load (issue 18, README "Matrix products"): 4096
// workgroups of 8 invocations each sum 64 loads of a buffer, the offsets built five ways — per invocation, from
// the workgroup id, from a uniform-buffer value times the workgroup id, from compile-time constants only, and
// from a subgroup broadcast of a per-invocation value. Mesa 25.0 takes the scalar path for constant offsets
// only; every other form, however uniform, is a per-lane loop with a branch on the lane's mask and one on the
// buffer bounds per component. Interleaved rounds on one Dawn device, speed relative to the first form. After
// `npm run build`:
//   node tools/lavapipe-load-forms.mjs [--rounds 5]
import { loadavg } from 'node:os';
import { median, perRoundSpeedup, timeInterleaved } from '../dist/bench/harness.js';
import { dispatchRunner, rawDevice } from './raw-webgpu.mjs';

const args = process.argv.slice(2);
const rounds = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 5;
const { adapter, device } = await rawDevice('lavapipe-load-forms', args, ['subgroups']);
const GROUPS = 4096;
const LOADS = 64;
const u = device.createBuffer({ size: GROUPS * 8 * LOADS * 4 * 2, usage: GPUBufferUsage.STORAGE });
const y = device.createBuffer({ size: GROUPS * 8 * 4, usage: GPUBufferUsage.STORAGE });
const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(params, 0, new Uint32Array([LOADS, 1, 0, 0]));
/** The offset of load c, as WGSL. */
const FORMS = {
  'per invocation': (c) => `gid.x * ${LOADS}u + ${c}u`,
  'workgroup id': (c) => `wid.x * ${LOADS}u + ${c}u`,
  'uniform value x workgroup id': (c) => `p.x * wid.x + ${c}u`,
  'constant': (c) => `${c}u`,
  'subgroup broadcast': (c) => `subgroupBroadcast(gid.x, 0u) * ${LOADS}u + ${c}u`,
};
const runners = {};
for (const [name, offset] of Object.entries(FORMS)) {
  const subgroups = name.startsWith('subgroup');
  if (subgroups && !device.features.has('subgroups')) {
    console.error(`${name}: skipped, the device has no 'subgroups' feature`);
    continue;
  }
  const code = `${subgroups ? 'enable subgroups;' : ''}
@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: vec4<u32>;
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  var s = f32(p.y);
${Array.from({ length: LOADS }, (_, c) => `  s += u[${offset(c)}];`).join('\n')}
  y[gid.x] = s;
}`;
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: u } }, { binding: 1, resource: { buffer: y } }, { binding: 2, resource: { buffer: params } }],
  });
  runners[name] = dispatchRunner(device, pipeline, bind, [GROUPS]);
  await runners[name](1);
}
const startLoad = loadavg()[0].toFixed(2);
const timed = await timeInterleaved(Object.keys(runners), rounds, 20, (name, reps) => runners[name](reps));
console.log(`${adapter.info?.description ?? 'adapter'}; ${GROUPS} x 8 invocations x ${LOADS} loads; load average ${startLoad} -> ${loadavg()[0].toFixed(2)}; ${rounds} rounds`);
console.log('offset | ms | speed vs per invocation (median of per-round ratios)');
for (const { name, roundsMs } of timed) console.log(`${name} | ${median(roundsMs).toFixed(3)} | ${perRoundSpeedup(timed[0].roundsMs, roundsMs).toFixed(2)}`);
process.exit(0);
