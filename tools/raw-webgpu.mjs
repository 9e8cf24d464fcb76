// What texad's raw-WebGPU probes share (tools/elementwise-variants.mjs, tools/gemm-texture-variants.mjs): a Dawn
// device outside texad's runtime, a runner that queues a kernel `reps` times and waits, and a buffer readback to
// check that every variant computed its result before its time is believed.
import { create, globals } from 'webgpu';

// A collected Dawn instance takes its device down with it: the next queue wait aborts in
// InstanceBase::ProcessEvents ("std::system_error: Invalid argument") or segfaults. A caller's `void instance` at
// the end of its module did not keep it alive (a 4 MiB readback's garbage was enough to trigger it), so the
// instances live here, held by a function every probe calls.
const liveInstances = [];

/**
 * A Dawn device with those of `optionalFeatures` the adapter has; `--disable-robustness` in `args` turns off
 * Dawn's bounds checks. The instance is kept alive for the life of the process.
 */
export async function rawDevice(tool, args, optionalFeatures = []) {
  const flags = args.includes('--disable-robustness') ? ['enable-dawn-features=disable_robustness'] : [];
  Object.assign(globalThis, globals);
  const instance = create(flags);
  liveInstances.push(instance);
  const adapter = await instance.requestAdapter();
  if (!adapter) throw new Error(`${tool}: no WebGPU adapter; run tools/setup-lavapipe.sh`);
  const requiredFeatures = optionalFeatures.filter((f) => adapter.features.has(f));
  // The adapter's workgroup-size limits, as texad's runtime asks for them (src/runtime/device.ts).
  const requiredLimits = {};
  for (const name of ['maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY']) {
    requiredLimits[name] = adapter.limits[name];
  }
  return { adapter, device: await adapter.requestDevice({ requiredFeatures, requiredLimits }), robustnessDisabled: flags.length > 0 };
}

/** An async (reps) => void that records `reps` dispatches of `pipeline` in one command buffer and waits for them. */
export function dispatchRunner(device, pipeline, bind, groups) {
  return async (reps) => {
    const enc = device.createCommandEncoder();
    for (let r = 0; r < reps; r++) {
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(...groups);
      pass.end();
    }
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
}

/** `size` bytes of `buffer` from `offset`, as floats. */
export async function readFloats(device, buffer, offset, size) {
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, offset, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}
