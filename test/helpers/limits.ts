// Runs a test body as if the device were another: with smaller limits, so code paths meant for huge tensors
// (folded 2-D workgroup grids, split bindings) run on small, fast inputs; or as another kind of adapter.
import type { Runtime } from '../../src/runtime/runtime.ts';

/** Runs `fn` with some of `rt`'s device limits overridden, restoring them afterwards. */
export async function withLimits<T>(rt: Runtime, limits: Partial<Record<keyof GPUSupportedLimits, number>>,
  fn: () => Promise<T>): Promise<T> {
  const saved = Object.getOwnPropertyDescriptor(rt.gpu, 'limits')!;
  Object.defineProperty(rt.gpu, 'limits', { value: { ...rt.limits, ...limits }, configurable: true });
  try {
    return await fn();
  } finally {
    Object.defineProperty(rt.gpu, 'limits', saved);
  }
}

/**
 * Runs `fn` with `rt` reporting a discrete GPU or a CPU rasteriser instead of its own adapter, for choices that
 * depend on the kind (the GEMM tiles the autotuner times).
 */
export async function posingAs<T>(rt: Runtime, kind: 'gpu' | 'cpu', fn: () => Promise<T>): Promise<T> {
  const saved = Object.getOwnPropertyDescriptor(rt.gpu, 'adapter')!;
  const adapter = kind === 'gpu'
    ? { ...rt.gpu.adapter, vendor: 'test', architecture: 'discrete', device: 'test GPU', description: 'test GPU', isFallbackAdapter: false }
    : { ...rt.gpu.adapter, vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe (test)', isFallbackAdapter: true };
  Object.defineProperty(rt.gpu, 'adapter', { value: adapter, configurable: true });
  try {
    return await fn();
  } finally {
    Object.defineProperty(rt.gpu, 'adapter', saved);
  }
}
