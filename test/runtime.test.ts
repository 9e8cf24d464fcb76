// The runtime's contracts: pooled buffers come back only after a submit, one pipeline per variant serves every
// shape, tidy() frees what it should, and failures (compile errors, lost devices, limits) are named, never hangs.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.ts';
import { bucketSize } from '../src/runtime/buffers.ts';
import { parseFamily } from '../src/runtime/pipelines.ts';
import { acquireGpu } from '../src/runtime/device.ts';
import { add, relu } from '../src/ops/elementwise.ts';
import { backward } from '../src/runtime/autograd.ts';
import { gpuRuntime } from './helpers/gpu.ts';

describe('runtime', () => {
  it('reports the adapter and requests its real limits', async () => {
    const gpu = await acquireGpu();
    try {
      expect(gpu.describe()).toMatch(/via node/);
      expect(gpu.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
      expect(gpu.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    } finally {
      await gpu.release();
    }
  });

  it('buckets sizes and reuses a released buffer only after the next submit', async () => {
    expect(bucketSize(1)).toBe(256);
    expect(bucketSize(1000)).toBe(1024);
    expect(bucketSize((1 << 20) + 1)).toBe((1 << 21) / 8 * 5);
    const rt = await gpuRuntime();
    const a = rt.tensor(new Float32Array(100), [100]);
    const buffer = a.buffer;
    a.dispose();
    const b = rt.empty([100]);
    expect(b.buffer).not.toBe(buffer); // still pending: the released buffer may be used by unsubmitted work
    rt.flush();
    const c = rt.empty([100]);
    expect(c.buffer).toBe(buffer);
    b.dispose();
    c.dispose();
  });

  it('compiles one pipeline per variant, whatever the shapes', async () => {
    const rt = await gpuRuntime();
    const before = rt.pipelines.compiled;
    await rt.tidyAsync(async () => {
      for (const n of [3, 17, 1000, 4097]) await relu(rt.tensor(new Float32Array(n).fill(-1), [n])).read();
    });
    // relu's two variants: the vec4 kernel and the scalar one for the last n % 4 elements.
    expect(rt.pipelines.compiled - before).toBeLessThanOrEqual(2);
  });

  it('reuses bind groups when a loop binds the same buffers again, and only then', async () => {
    const rt = await gpuRuntime();
    const a = rt.tensor([1, 2, 3, 4, 5, 6], [6]).keep();
    const b = rt.tensor([10, 20, 30, 40, 50, 60], [6]).keep();
    const step = () => rt.tidyAsync(async () => Array.from(await relu(add(a, b)).read()));
    // Buffers released in one step return to the pool after the next step's submit, and in reverse order, so the
    // pairings of buffers repeat every four steps (measured: 4 4 4 4 0 0 ... bind groups created per step).
    for (let i = 0; i < 8; i++) expect(await step()).toEqual([11, 22, 33, 44, 55, 66]);
    const created = rt.bindGroupsCreated;
    for (let i = 0; i < 8; i++) expect(await step()).toEqual([11, 22, 33, 44, 55, 66]);
    // From then on the same pooled buffers come back: no new bind groups.
    expect(rt.bindGroupsCreated).toBe(created);
    // Other tensors, or a pooled buffer bound at another size, need their own.
    const c = rt.tensor([1, 1, 1], [3]).keep();
    expect(Array.from(await rt.tidyAsync(async () => add(c, c).read()))).toEqual([2, 2, 2]);
    expect(rt.bindGroupsCreated).toBeGreaterThan(created);
    for (const t of [a, b, c]) t.dispose();
  });

  it('tidy disposes intermediates but keeps the result and kept tensors', async () => {
    const rt = await gpuRuntime();
    let inner: ReturnType<typeof rt.tensor> | null = null;
    const kept = rt.tensor([1, 2], [2]);
    const out = rt.tidy(() => {
      inner = rt.tensor([1, 2], [2]);
      return add(inner, kept);
    });
    expect(inner!.disposed).toBe(true);
    expect(kept.disposed).toBe(false);
    expect(Array.from(await out.read())).toEqual([2, 4]);
    out.dispose();
    kept.dispose();
  });

  it('accumulates gradients of a tensor used twice', async () => {
    const rt = await gpuRuntime();
    await rt.tidyAsync(async () => {
      const x = rt.tensor([1, -2, 3], [3], true);
      backward(add(relu(x), x), rt.tensor([1, 1, 1], [3]));
      expect(Array.from(await x.grad!.read())).toEqual([2, 1, 2]);
    });
  });

  it('names the file and entry of a shader without sections', () => {
    expect(() => parseFamily('broken', 'fn f() {}')).toThrow(/shaders\/broken.wgsl has no '\/\/! entry NAME' section/);
  });

  it('turns a lost device into an error instead of a hang', async () => {
    const rt = await Runtime.create();
    const t = rt.tensor([1, 2, 3], [3]);
    rt.device.destroy();
    await expect(t.read()).rejects.toThrow(/lost|destroyed|texad/i);
    await rt.gpu.release();
  });

  it('refuses a binding over the device limit, naming the op and the limit', async () => {
    const rt = await gpuRuntime();
    const saved = Object.getOwnPropertyDescriptor(rt.gpu, 'limits');
    Object.defineProperty(rt.gpu, 'limits', { value: { ...rt.limits, maxStorageBufferBindingSize: 1024 }, configurable: true });
    try {
      const a = rt.tensor(new Float32Array(512), [512]);
      expect(() => add(a, a)).toThrow(/add a\[512\] b\[512\].*maxStorageBufferBindingSize 1024/);
      a.dispose();
    } finally {
      if (saved) Object.defineProperty(rt.gpu, 'limits', saved);
    }
  });
});
