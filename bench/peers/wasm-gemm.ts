// texad's WebAssembly SIMD GEMM prototype (assembly/gemm.ts) as a benchmark contestant for matmul and conv2d: one module instance per
// thread on one shared WebAssembly.Memory, the rows of C split evenly between the calling thread and Node
// worker_threads. Node only, like the bench harness. Prototype: no texad op uses it (README "Benchmarks").
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { WASM_BASE64 } from '../../src/generated/wasm.ts';
import { fingerprintOf, opInputs, type ConvSpec, type OpSpec, type Runner } from './ops.ts';

/** Rows of A packed per thread and block (MC) and the K block (KC): measured, see README "Benchmarks". */
const MC = 64;
const KC = 256;
const PAGE = 65536;

interface GemmExports {
  TILE_ROWS: WebAssembly.Global;
  TILE_COLS: WebAssembly.Global;
  packB(b: number, n: number, k0: number, kc: number, j0: number, j1: number, dst: number): void;
  packConvB(x: number, h: number, w: number, ks: number, pad: number, k0: number, kc: number, j0: number, j1: number, dst: number): void;
  gemmRows(a: number, packedB: number, c: number, k: number, n: number, rowStart: number, rowEnd: number,
    mcBlock: number, kcBlock: number, packedA: number): void;
}

/** One call of an export; a thread gets a list of them. */
type Call = [name: 'packB' | 'packConvB' | 'gemmRows', ...args: number[]];

// Each worker instantiates the module on the shared memory, runs the calls of each message in order, and answers.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { exports } = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory } });
parentPort.on('message', (calls) => {
  for (const [name, ...args] of calls) exports[name](...args);
  parentPort.postMessage(0);
});
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

/** The GEMM of a case: C [m, n] = A [m, k] · B [k, n]; a stride-1 convolution is weights · implicit im2col. */
function gemmShape(spec: OpSpec): { m: number; k: number; n: number; conv?: ConvSpec } | null {
  if (spec.op === 'matmul') return spec;
  if (spec.op === 'conv2d' && spec.n === 1 && spec.stride === 1) {
    const side = (v: number) => v + 2 * spec.pad - spec.k + 1;
    return { m: spec.cout, k: spec.cin * spec.k * spec.k, n: side(spec.h) * side(spec.w), conv: spec };
  }
  return null;
}

/**
 * A runner for matmul, or a batch-1 stride-1 conv2d, on the prototype with `threads` threads; null for every
 * other op. A run packs B (threads split its panels), then computes C (threads split its rows).
 */
export async function wasmGemmRunner(spec: OpSpec, threads = wasmThreads()): Promise<Runner | null> {
  const shape = gemmShape(spec);
  if (!shape) return null;
  const module = gemmModule();
  const { m, k, n, conv } = shape;
  const align = (bytes: number) => Math.ceil(bytes / 64) * 64;
  const bBytes = conv ? conv.cin * conv.h * conv.w * 4 : k * n * 4;
  const layout = { a: 1024, b: 0, c: 0, packedB: 0, packedA: [] as number[] };
  layout.b = layout.a + align(m * k * 4);
  layout.c = layout.b + align(bBytes);
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
  const panels = n / tileCols;
  const outWidth = conv ? conv.w + 2 * conv.pad - conv.k + 1 : n;
  if (m % (tileRows * threads) !== 0 || n % tileCols !== 0 || outWidth % tileCols !== 0) {
    throw new Error(`wasm gemm: the prototype needs M a multiple of ${tileRows} x ${threads} threads and N (and a ` +
      `convolution's output width) a multiple of ${tileCols}; got ${m} x ${k} x ${n}`);
  }
  const data = opInputs(spec);
  const [aName, bName] = conv ? ['w', 'x'] : ['a', 'b'];
  new Float32Array(memory.buffer, layout.a, m * k).set(data[aName]!.data);
  new Float32Array(memory.buffer, layout.b, bBytes / 4).set(data[bName]!.data);
  const workers = Array.from({ length: threads - 1 }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory } }));

  /** Runs calls(t) on thread t (0: this one) and resolves when every thread is done. */
  const onEveryThread = async (calls: (t: number) => Call[]) => {
    // events.once resolves on the worker's answer and rejects on its 'error', removing both listeners.
    const done = workers.map((w, i) => {
      const answered = once(w, 'message');
      w.postMessage(calls(i + 1));
      return answered;
    });
    for (const [name, ...args] of calls(0)) (main[name] as (...a: number[]) => void)(...args);
    await Promise.all(done);
  };
  const share = (total: number, t: number) => [Math.floor((total * t) / threads), Math.floor((total * (t + 1)) / threads)] as const;
  const multiply = async () => {
    await onEveryThread((t) => {
      const [p0, p1] = share(panels, t);
      const calls: Call[] = [];
      for (let k0 = 0; k0 < k; k0 += KC) {
        const kc = Math.min(KC, k - k0);
        const dst = layout.packedB + k0 * n * 4;
        calls.push(conv
          ? ['packConvB', layout.b, conv.h, conv.w, conv.k, conv.pad, k0, kc, p0 * tileCols, p1 * tileCols, dst]
          : ['packB', layout.b, n, k0, kc, p0 * tileCols, p1 * tileCols, dst]);
      }
      return calls;
    });
    const rows = m / threads;
    await onEveryThread((t) => [['gemmRows', layout.a, layout.packedB, layout.c, k, n, t * rows, (t + 1) * rows, MC, KC, layout.packedA[t]!]]);
  };
  return {
    async run(iterations) {
      for (let i = 0; i < iterations; i++) await multiply();
    },
    async fingerprint() {
      await multiply();
      return fingerprintOf(new Float32Array(memory.buffer, layout.c, m * n).slice());
    },
    async dispose() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
