// texad's WebAssembly SIMD GEMM prototype (assembly/gemm.ts) as a benchmark contestant: one module instance per
// thread on one shared WebAssembly.Memory, the rows of C split evenly between the calling thread and Node
// worker_threads. Node only, like the bench harness. Prototype: no texad op uses it (README "Benchmarks").
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { WASM_BASE64 } from '../../src/generated/wasm.ts';
import { fingerprintOf, opInputs, type OpSpec, type Runner } from './ops.ts';

/** Rows of A packed per thread and block (MC) and the K block (KC): measured, see README "Benchmarks". */
const MC = 64;
const KC = 256;
const PAGE = 65536;

interface GemmExports {
  TILE_ROWS: WebAssembly.Global;
  TILE_COLS: WebAssembly.Global;
  packB(b: number, n: number, k0: number, kc: number, dst: number): void;
  gemmRows(a: number, packedB: number, c: number, k: number, n: number, rowStart: number, rowEnd: number,
    mcBlock: number, kcBlock: number, packedA: number): void;
}

// Each worker instantiates the module on the shared memory and runs gemmRows for every message it gets.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { exports } = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory } });
parentPort.on('message', (args) => { exports.gemmRows(...args); parentPort.postMessage(0); });
`;

let compiled: WebAssembly.Module | null = null;
function gemmModule(): WebAssembly.Module {
  const base64 = WASM_BASE64.gemm;
  if (!base64) throw new Error('wasm gemm: build/gemm.wasm was not embedded; run `npm run build`');
  compiled ??= new WebAssembly.Module(Buffer.from(base64, 'base64'));
  return compiled;
}

/** The number of threads the prototype and the onnxruntime-web wasm peer use: the machine's cores. */
export function wasmThreads(): number {
  return availableParallelism();
}

/** A runner for matmul on the prototype with `threads` threads, or null for every other op. */
export async function wasmGemmRunner(spec: OpSpec, threads = wasmThreads()): Promise<Runner | null> {
  if (spec.op !== 'matmul') return null;
  const module = gemmModule();
  const { m, k, n } = spec;
  const align = (bytes: number) => Math.ceil(bytes / 64) * 64;
  const layout = { a: 1024, b: 0, c: 0, packedB: 0, packedA: [] as number[], end: 0 };
  layout.b = layout.a + align(m * k * 4);
  layout.c = layout.b + align(k * n * 4);
  layout.packedB = layout.c + align(m * n * 4);
  let end = layout.packedB + align(k * n * 4);
  for (let t = 0; t < threads; t++) {
    layout.packedA.push(end);
    end += align(MC * KC * 4);
  }
  const memory = new WebAssembly.Memory({ initial: Math.ceil(end / PAGE), maximum: Math.ceil(end / PAGE), shared: true });
  const main = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GemmExports;
  const tileRows = main.TILE_ROWS.value as number;
  const tileCols = main.TILE_COLS.value as number;
  if (m % (tileRows * threads) !== 0 || n % tileCols !== 0) {
    throw new Error(`wasm gemm: the prototype needs M a multiple of ${tileRows} x ${threads} threads and N a multiple of ${tileCols}; got ${m} x ${k} x ${n}`);
  }
  const data = opInputs(spec);
  new Float32Array(memory.buffer, layout.a, m * k).set(data.a!.data);
  new Float32Array(memory.buffer, layout.b, k * n).set(data.b!.data);
  const workers = Array.from({ length: threads - 1 }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory } }));
  const rowsPerThread = m / threads;
  const rowsOf = (t: number) => [layout.a, layout.packedB, layout.c, k, n, t * rowsPerThread, (t + 1) * rowsPerThread, MC, KC, layout.packedA[t]!];
  const once = async () => {
    for (let k0 = 0; k0 < k; k0 += KC) main.packB(layout.b, n, k0, Math.min(KC, k - k0), layout.packedB + k0 * n * 4);
    const done = workers.map((w, i) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
      w.postMessage(rowsOf(i + 1));
    }));
    main.gemmRows(...(rowsOf(0) as Parameters<GemmExports['gemmRows']>));
    await Promise.all(done);
  };
  return {
    async run(iterations) {
      for (let i = 0; i < iterations; i++) await once();
    },
    async fingerprint() {
      await once();
      return fingerprintOf(new Float32Array(memory.buffer, layout.c, m * n).slice());
    },
    async dispose() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
