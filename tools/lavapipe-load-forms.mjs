// scratch probe (session 10): which load forms lavapipe turns into scalar loads
import { loadavg } from 'node:os';
import { interleavedRounds, median, perRoundSpeedup } from '../dist/bench/harness.js';
import { dispatchRunner, rawDevice } from './raw-webgpu.mjs';
const args = process.argv.slice(2);
const { instance, device } = await rawDevice('load-probe', args);
const G = 4096; // workgroups of 8
const u = device.createBuffer({ size: G * 8 * 64 * 4 * 2, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
const y = device.createBuffer({ size: G * 8 * 4, usage: GPUBufferUsage.STORAGE });
const ub = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(ub, 0, new Uint32Array([64, 1, 0, 0]));
const forms = {
  'per-lane': 'gid * 64u + c',
  'wid': 'wid.x * 64u + c',
  'const': 'c',
  'uniform': 'p.x * wid.x + c',
  'sgbcast': 'subgroupBroadcastFirst(gid) * 64u + c',
};
const runners = {};
for (const [name, expr] of Object.entries(forms)) {
  const loads = Array.from({ length: 64 }, (_, c) => `  s += u[${expr.replaceAll('c', `${c}u`).replace('gid', 'gid.x').replace('subgroupBroadcastFirst(gid.x)', 'subgroupBroadcastFirst(gid.x)')}];`).join('\n');
  const code = `${name === 'sgbcast' ? 'enable subgroups;' : ''}
@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: vec4<u32>;
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  var s = f32(p.y);
${loads}
  y[gid.x] = s;
}`;
  try {
    const module = device.createShaderModule({ code });
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const layout = pipeline.getBindGroupLayout(0);
    const entries = [{ binding: 0, resource: { buffer: u } }, { binding: 1, resource: { buffer: y } }, { binding: 2, resource: { buffer: ub } }];
    runners[name] = dispatchRunner(device, pipeline, device.createBindGroup({ layout, entries }), [G]);
    await runners[name](1);
  } catch (e) { console.error(name, e.message); }
}
const timed = Object.keys(runners).map((name) => ({ name, roundsMs: [] }));
await interleavedRounds(timed, 5, async ({ name }) => { const s = performance.now(); await runners[name](20); return (performance.now() - s) / 20; }, async (_, e) => { throw e; }, () => {});
for (const { name, roundsMs } of timed) console.log(`${name} | ${median(roundsMs).toFixed(3)} ms | ${perRoundSpeedup(timed[0].roundsMs, roundsMs).toFixed(2)}`);
void instance; process.exit(0);
