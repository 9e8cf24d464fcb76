// Gives the peers (onnxruntime-web, tfjs) what a browser would: WebGPU globals and `navigator.gpu`, backed by
// Dawn from the npm `webgpu` package, i.e. the same Dawn build and adapter texad uses in this process.

import { pacedDawnWait } from '../../src/runtime/paced-polling.ts';

const SAB_PATCHED = Symbol.for('texad.bench.writeBufferCopiesShared');

let installed: { gpu: GPU; flags: string[] } | null = null;

/**
 * Installs Dawn's WebGPU classes as globals and `navigator.gpu` = a new Dawn instance created with `flags`
 * (use the flags texad's device got, so peers run with the same toggles). Call it after texad has acquired
 * its own device: texad's acquireGpu prefers an existing `navigator.gpu` over its own instance and would then
 * ignore its Dawn flags. Idempotent for equal flags.
 */
export async function installDawnNavigator(flags: string[]): Promise<GPU> {
  if (installed) {
    if (installed.flags.join() !== flags.join()) {
      throw new Error(`texad bench: navigator.gpu already created with Dawn flags [${installed.flags}], not [${flags}]`);
    }
    return installed.gpu;
  }
  const name = 'webgpu';
  const dawn = (await import(name)) as { create(flags: string[]): GPU; globals: Record<string, unknown> };
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  copySharedUploads();
  const gpu = dawn.create(flags);
  const g = globalThis as { navigator?: { gpu?: GPU } };
  // Node 20 has no `navigator`; Node 21+ has one without `gpu`.
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else g.navigator = { gpu };
  installed = { gpu, flags };
  return gpu;
}

/**
 * onnxruntime-web's wasm heap is a SharedArrayBuffer and it uploads straight from views on it; Dawn's
 * writeBuffer rejects shared memory ("Invalid argument"). Copy such views first; other callers (texad, tfjs)
 * pass ordinary buffers and go through untouched.
 */
function copySharedUploads(): void {
  const proto = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue & { [SAB_PATCHED]?: true } } }).GPUQueue
    .prototype;
  if (proto[SAB_PATCHED]) return;
  const original = proto.writeBuffer;
  proto.writeBuffer = function (this: GPUQueue, buffer, offset, data, dataOffset?, size?) {
    let copy = data;
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      // Same type and length, so dataOffset and size (in elements for typed arrays) still hold.
      copy = (data as unknown as { slice(): GPUAllowSharedBufferSource }).slice();
    } else if (data instanceof SharedArrayBuffer) copy = data.slice(0);
    return original.call(this, buffer, offset, copy, dataOffset, size);
  };
  proto[SAB_PATCHED] = true;
}

/** `description (vendor)` of the adapter behind a device, for the report and the same-adapter check. */
export function deviceAdapterName(device: GPUDevice): string {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  if (!info) return 'unknown adapter';
  return `${info.description || info.device || 'unknown'} (${info.vendor || 'unknown vendor'})`;
}

let peerWaitsPaced = false;

/** Whether the peers' waits for their device (peerWait) pace Dawn's polls as texad's do (bench --waits paced). */
export function pacePeerWaits(paced: boolean): void {
  peerWaitsPaced = paced;
}

/**
 * How a peer's timed batch waits for its device: as Dawn does (a busy poll on the main thread), or, after
 * pacePeerWaits(true), with texad's paced polling (src/runtime/paced-polling.ts), so that only kernels differ.
 */
export function peerWait(start: () => Promise<unknown>): Promise<unknown> {
  return peerWaitsPaced ? pacedDawnWait(start) : start();
}
