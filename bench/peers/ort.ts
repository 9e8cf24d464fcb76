// onnxruntime-web's WebGPU execution provider as a benchmark peer, run in Node on Dawn's navigator.gpu.
// Inputs and the output stay in GPU buffers, so a run measures the op, not uploads or readbacks.
import v8 from 'node:v8';
import type * as Ort from 'onnxruntime-web/webgpu';
import { deviceAdapterName, peerWait } from './dawn.ts';
import { onnxModel, type OnnxModel } from './onnx.ts';
import { fingerprintOf, type OpSpec, type Runner } from './ops.ts';

const STORAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC
const READBACK = 0x01 | 0x08; // MAP_READ | COPY_DST

let loaded: Promise<typeof Ort> | null = null;

/** V8's defaults for --liftoff-only and the two flags it turns off by implication (V8 11.3 flag-definitions.h). */
const LIFTOFF_ONLY_UNDONE = ['--no-liftoff-only', '--wasm-tier-up', '--wasm-dynamic-tiering'];

/**
 * Loads onnxruntime-web's WebGPU build with its wasm from node_modules (never the network) and opens one session,
 * which instantiates the wasm and creates ONNX Runtime's device.
 *
 * The wasm is compiled with V8's baseline compiler only: on Node 20 (V8 11.3) TurboFan spends about 40 CPU-seconds
 * on this asyncify-instrumented module and stalled the first run for 90-130 s on the 2-core VM, against 0.25 s with
 * Liftoff. The flag is restored afterwards so texad's own wasm compiles normally; the wasm side of ONNX Runtime
 * only schedules GPU work. Restoring means turning the flags that --liftoff-only switches off by implication back on
 * too: with `--no-liftoff-only` alone V8 kept tier-up off, and every module compiled later in the process (texad's
 * metrics, the wasm GEMM prototype, onnxruntime-web's wasm EP) ran baseline code, 2.4-2.9x slower (one thread,
 * 1024^3 GEMM prototype: 120 ms with V8's defaults, 350 ms after the toggle, 144 ms after this restore).
 */
export function loadOrt(): Promise<typeof Ort> {
  loaded ??= (async () => {
    v8.setFlagsFromString('--liftoff-only');
    try {
      const ort = await import('onnxruntime-web/webgpu');
      ort.env.wasm.wasmPaths = new URL('./', import.meta.resolve('onnxruntime-web/webgpu')).href;
      // Worker threads would only add start-up cost: the wasm side does no heavy compute here.
      ort.env.wasm.numThreads = 1;
      ort.env.logLevel = 'error';
      const probe = await ort.InferenceSession.create(onnxModel({ op: 'relu', shape: [4] })!.bytes, {
        executionProviders: ['webgpu'],
      });
      await probe.release();
      return ort;
    } finally {
      for (const flag of LIFTOFF_ONLY_UNDONE) v8.setFlagsFromString(flag);
    }
  })();
  return loaded;
}

/** The ONNX Runtime version, e.g. `1.30.0`. */
export async function ortVersion(): Promise<string> {
  return (await loadOrt()).env.versions.web ?? 'unknown';
}

/**
 * The adapter ONNX Runtime's device runs on. ONNX Runtime 1.30 ignores a device assigned to env.webgpu.device and
 * creates its own from navigator.gpu with its first WebGPU session (opened by loadOrt).
 */
export async function ortAdapter(): Promise<string> {
  const ort = await loadOrt();
  return deviceAdapterName(await ort.env.webgpu.device);
}

function storageBuffer(device: GPUDevice, bytes: number, label: string): GPUBuffer {
  return device.createBuffer({ size: Math.ceil(bytes / 16) * 16, usage: STORAGE, label });
}

async function readBuffer(device: GPUDevice, src: GPUBuffer, bytes: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: src.size, usage: READBACK, label: 'bench readback' });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, staging, 0, src.size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(1);
  const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

/**
 * A runner for `spec` on ONNX Runtime's WebGPU EP, or null when ONNX has no such op (conv2d backward, a training
 * step). Single ops are encoded here (bench/peers/onnx.ts); whole networks come from `exportOnnx` (PyTorch's
 * exporter, TorchPeer.exportOnnx), and are null without it.
 */
export async function ortRunner(spec: OpSpec, exportOnnx?: (spec: OpSpec) => Promise<OnnxModel | null>): Promise<Runner | null> {
  const model = onnxModel(spec) ?? (exportOnnx ? await exportOnnx(spec) : null);
  if (!model) return null;
  const ort = await loadOrt();
  // NHWC is ONNX Runtime's faster conv path here: the 3x3 256->256 64x64 conv took 2.7-3.2 s against 5.7-7.9 s
  // with the default NCHW, sessions alternated in one process on lavapipe; layout-free ops are unaffected.
  const session = await ort.InferenceSession.create(model.bytes, {
    executionProviders: [{ name: 'webgpu', preferredLayout: 'NHWC' }],
  });
  const device = await ort.env.webgpu.device;
  const buffers: GPUBuffer[] = [];
  const feeds: Record<string, Ort.Tensor> = {};
  for (const [name, { shape, data }] of Object.entries(model.feeds)) {
    const buf = storageBuffer(device, data.byteLength, `ort ${name}`);
    device.queue.writeBuffer(buf, 0, data);
    buffers.push(buf);
    feeds[name] = ort.Tensor.fromGpuBuffer(buf, { dataType: 'float32', dims: shape });
  }
  const fetches: Record<string, Ort.Tensor> = {};
  const outputs = model.outputs.map(({ name, shape }) => {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    const buf = storageBuffer(device, bytes, `ort ${name}`);
    buffers.push(buf);
    fetches[name] = ort.Tensor.fromGpuBuffer(buf, { dataType: 'float32', dims: shape });
    return { buf, bytes };
  });
  return {
    async run(iterations) {
      for (let i = 0; i < iterations; i++) await session.run(feeds, fetches);
      await peerWait(() => device.queue.onSubmittedWorkDone());
    },
    async fingerprint() {
      await session.run(feeds, fetches);
      return fingerprintOf(...(await Promise.all(outputs.map((o) => readBuffer(device, o.buf, o.bytes)))));
    },
    async dispose() {
      await session.release();
      for (const b of buffers) b.destroy();
    },
  };
}
