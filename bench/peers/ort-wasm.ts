// onnxruntime-web's WebAssembly execution provider (CPU, SIMD, multi-threaded) as a peer for the WebAssembly GEMM
// prototype: what an application without a GPU would get from the established library. Its own module instance
// (the package's Node build, not the WebGPU bundle of bench/peers/ort.ts), compiled with V8's full tiering: the
// Liftoff-only setting that peer needs while loading would cripple a compute-bound wasm EP.
import type * as Ort from 'onnxruntime-web';
import { onnxModel } from './onnx.ts';
import { fingerprintOf, type OpSpec, type Runner } from './ops.ts';
import { wasmThreads } from './wasm-gemm.ts';

let loaded: Promise<typeof Ort> | null = null;

/** Loads the wasm build from node_modules (never the network) with the prototype's thread count. */
function loadOrtWasm(): Promise<typeof Ort> {
  loaded ??= (async () => {
    // The Node build finds its wasm beside itself in node_modules.
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = wasmThreads();
    ort.env.logLevel = 'error';
    return ort;
  })();
  return loaded;
}

/** A runner for matmul or conv2d on onnxruntime-web's wasm EP, or null for the ops the prototype does not run. */
export async function ortWasmRunner(spec: OpSpec): Promise<Runner | null> {
  if (spec.op !== 'matmul' && spec.op !== 'conv2d') return null;
  const model = onnxModel(spec)!;
  const ort = await loadOrtWasm();
  const session = await ort.InferenceSession.create(model.bytes, { executionProviders: ['wasm'] });
  const feeds: Record<string, Ort.Tensor> = {};
  for (const [name, { shape, data }] of Object.entries(model.feeds)) feeds[name] = new ort.Tensor('float32', data, shape);
  return {
    async run(iterations) {
      for (let i = 0; i < iterations; i++) await session.run(feeds);
    },
    async fingerprint() {
      const out = await session.run(feeds);
      return fingerprintOf(...model.outputs.map((o) => out[o.name]!.data as Float32Array));
    },
    async dispose() {
      await session.release();
    },
  };
}
