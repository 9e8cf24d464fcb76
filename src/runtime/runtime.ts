// The runtime owns one device: it records dispatches into batched command buffers, pools buffers, caches
// pipelines, tracks tensor scopes and the autograd switch. Results reach the CPU only through read().
import { acquireGpu, type Gpu, type GpuOptions } from './device.ts';
import { BufferPool, Usage, MAP_MODE_READ } from './buffers.ts';
import { PipelineCache, type Specialization } from './pipelines.ts';
import { Storage, Tensor, formatShape, needsGrad, shapeSize, type BackwardFn, type Shape } from './tensor.ts';

/** Packs a uniform struct of 32-bit scalars in declaration order (WGSL: 4-byte fields, 16-byte struct size). */
export class Params {
  private readonly words: number[] = [];
  private readonly kinds: Array<'u' | 'i' | 'f'> = [];
  u32(...values: number[]): this {
    for (const v of values) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`texad: uniform u32 out of range: ${v}`);
      this.words.push(v);
      this.kinds.push('u');
    }
    return this;
  }
  i32(...values: number[]): this {
    for (const v of values) {
      this.words.push(v | 0);
      this.kinds.push('i');
    }
    return this;
  }
  f32(...values: number[]): this {
    for (const v of values) {
      this.words.push(v);
      this.kinds.push('f');
    }
    return this;
  }
  bytes(): ArrayBuffer {
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const buf = new ArrayBuffer(n * 4);
    const u = new Uint32Array(buf);
    const i = new Int32Array(buf);
    const f = new Float32Array(buf);
    this.words.forEach((w, k) => {
      const kind = this.kinds[k];
      if (kind === 'f') f[k] = w;
      else if (kind === 'i') i[k] = w;
      else u[k] = w;
    });
    return buf;
  }
}

/** A bound range of a buffer, for ops that split tensors larger than one binding. */
export interface BufferRange {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export interface KernelCall {
  family: string;
  entry: string;
  spec?: Specialization;
  params: Params;
  inputs: ReadonlyArray<Tensor | BufferRange>;
  outputs: ReadonlyArray<Tensor | BufferRange>;
  workgroups: readonly [number, number?, number?];
  /** Describes the call in error messages, e.g. `conv2d x[2,3,8,8] w[4,3,3,3]`. */
  what?: string;
}

export interface RuntimeOptions extends GpuOptions {
  /** Submit after this many dispatches even without a readback (bounds in-flight uniform buffers). */
  dispatchesPerSubmit?: number;
}

const STORAGE_USAGE = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST;

export class Runtime {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatchesInBatch = 0;
  private readonly dispatchesPerSubmit: number;
  private readonly scopes: Array<Set<Tensor>> = [];
  private gradEnabled = true;
  private firstError: string | null = null;
  dispatchCount = 0;
  submitCount = 0;

  private constructor(readonly gpu: Gpu, opts: RuntimeOptions) {
    this.pool = new BufferPool(gpu.device, gpu.limits.maxBufferSize);
    this.pipelines = new PipelineCache(gpu.device);
    this.dispatchesPerSubmit = opts.dispatchesPerSubmit ?? 64;
    const onError = (ev: Event) => {
      const msg = (ev as GPUUncapturedErrorEvent).error?.message ?? String(ev);
      this.firstError ??= msg;
    };
    const dev = gpu.device as GPUDevice & { addEventListener?: unknown };
    if (typeof dev.addEventListener === 'function') dev.addEventListener('uncapturederror', onError);
    else dev.onuncapturederror = onError as (ev: GPUUncapturedErrorEvent) => void;
  }

  static async create(opts: RuntimeOptions = {}): Promise<Runtime> {
    return new Runtime(await acquireGpu(opts), opts);
  }

  get device(): GPUDevice {
    return this.gpu.device;
  }

  get limits(): GPUSupportedLimits {
    return this.gpu.limits;
  }

  // ---- tensors -------------------------------------------------------------------------------------------

  /** An uninitialised tensor; a kernel must write all of it. */
  empty(shape: Shape, label = 'tensor'): Tensor {
    this.assertUsable();
    const elements = Math.max(1, shapeSize(shape));
    const buffer = this.pool.acquire(elements * 4, STORAGE_USAGE, label);
    const t = new Tensor(this, new Storage(buffer, buffer.size / 4), shape);
    this.track(t);
    return t;
  }

  zeros(shape: Shape): Tensor {
    const t = this.empty(shape, 'zeros');
    this.endPass();
    this.commandEncoder().clearBuffer(t.buffer, 0, Math.ceil((Math.max(1, t.size) * 4) / 4) * 4);
    return t;
  }

  /** Uploads CPU values. `data` must hold exactly shapeSize(shape) finite or non-finite floats. */
  tensor(data: ArrayLike<number>, shape: Shape, requiresGrad = false): Tensor {
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw new Error(`texad: tensor data has ${data.length} values but shape ${formatShape(shape)} needs ${size}`);
    }
    const t = this.empty(shape, 'upload');
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    if (size > 0) this.device.queue.writeBuffer(t.buffer, 0, f32.buffer, f32.byteOffset, size * 4);
    t.requiresGrad = requiresGrad;
    return t;
  }

  /**
   * Overwrites a tensor's values in place. Pending commands are submitted first, because queue.writeBuffer
   * would otherwise overtake recorded-but-unsubmitted work that reads the old values.
   */
  write(t: Tensor, data: Float32Array): void {
    t.assertAlive('write');
    if (data.length !== t.size) {
      throw new Error(`texad: write: ${data.length} values for a tensor of shape ${formatShape(t.shape)}`);
    }
    this.flush();
    if (t.size > 0) this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, t.size * 4);
  }

  /** Copies `src` into a fresh tensor of the same shape. */
  clone(src: Tensor): Tensor {
    src.assertAlive('clone');
    const t = this.empty(src.shape, 'clone');
    this.endPass();
    if (src.size > 0) this.commandEncoder().copyBufferToBuffer(src.buffer, 0, t.buffer, 0, src.size * 4);
    return t;
  }

  // ---- dispatch ------------------------------------------------------------------------------------------

  dispatch(call: KernelCall): void {
    this.assertUsable();
    const what = call.what ?? `${call.family}/${call.entry}`;
    const [x, y = 1, z = 1] = call.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new Error(`texad: ${what} needs ${x}x${y}x${z} workgroups, over the device's ${maxGroups} per dimension`);
    }
    const pipeline = this.pipelines.get(call.family, call.entry, call.spec ?? {}, call.inputs.length, call.outputs.length);
    const uniform = this.pool.acquire(256, Usage.UNIFORM | Usage.COPY_DST, 'uniforms');
    const bytes = call.params.bytes();
    if (bytes.byteLength > uniform.size) throw new Error(`texad: ${what} has ${bytes.byteLength} bytes of uniforms (max ${uniform.size})`);
    this.device.queue.writeBuffer(uniform, 0, bytes);
    this.pool.release(uniform);
    // Bind the whole pooled buffer, not just the packed bytes: wgpu (Deno) checks a binding's size against the
    // previous pipeline's uniform struct when consecutive pipelines share a bind group layout, so a smaller
    // struct after a larger one failed validation.
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
    [...call.inputs, ...call.outputs].forEach((b, i) => {
      entries.push({ binding: 1 + i, resource: this.bindingResource(b, what) });
    });
    const bindGroup = this.device.createBindGroup({
      layout: this.pipelines.bindGroupLayout(call.inputs.length, call.outputs.length),
      entries,
    });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
    if (++this.dispatchesInBatch >= this.dispatchesPerSubmit) this.flush();
  }

  private bindingResource(b: Tensor | BufferRange, what: string): GPUBufferBinding {
    const limit = this.limits.maxStorageBufferBindingSize;
    if (b instanceof Tensor) {
      b.assertAlive(what);
      const size = Math.max(4, b.size * 4);
      if (size > limit) {
        throw new Error(
          `texad: ${what}: tensor ${formatShape(b.shape)} is ${size} bytes, over the device's ` +
            `maxStorageBufferBindingSize ${limit}; this op cannot split it: use a smaller batch or input size`,
        );
      }
      return { buffer: b.buffer, offset: 0, size };
    }
    if (b.size > limit) throw new Error(`texad: ${what}: binding of ${b.size} bytes over maxStorageBufferBindingSize ${limit}`);
    return { buffer: b.buffer, offset: b.offset, size: b.size };
  }

  /** Workgroup grid for `threads` invocations of `workgroupSize`, folded into 2-D past the per-dimension limit. */
  grid(threads: number, workgroupSize: number): [number, number] {
    const groups = Math.ceil(threads / workgroupSize);
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (groups <= max) return [groups, 1];
    const x = Math.min(max, Math.ceil(Math.sqrt(groups)));
    return [x, Math.ceil(groups / x)];
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) {
      // Everything recorded is already submitted, so buffers released since are free to reuse.
      this.pool.afterSubmit();
      return;
    }
    this.endPass();
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.dispatchesInBatch = 0;
    this.submitCount++;
    this.pool.afterSubmit();
  }

  /** Waits until the GPU has finished all submitted work; throws any error it raised. */
  async sync(): Promise<void> {
    this.flush();
    await this.pipelines.check();
    await this.withLossGuard(this.device.queue.onSubmittedWorkDone());
    this.throwIfFailed();
  }

  async read(t: Tensor): Promise<Float32Array> {
    t.assertAlive('read');
    const bytes = t.size * 4;
    if (bytes === 0) return new Float32Array(0);
    const staging = this.pool.acquire(
      bytes,
      Usage.MAP_READ | Usage.COPY_DST,
      'readback',
    );
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
    this.flush();
    await this.pipelines.check();
    try {
      await this.withLossGuard(staging.mapAsync(MAP_MODE_READ, 0, bytes));
      this.throwIfFailed();
      const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      return out;
    } finally {
      this.pool.release(staging);
    }
  }

  private async withLossGuard<T>(p: Promise<T>): Promise<T> {
    const lost = this.device.lost.then(() => {
      throw this.gpu.lostError ?? new Error('texad: the GPU device was lost');
    });
    return Promise.race([p, lost]);
  }

  private assertUsable(): void {
    if (this.gpu.lostError) throw this.gpu.lostError;
  }

  private throwIfFailed(): void {
    if (this.firstError !== null) {
      const msg = this.firstError;
      this.firstError = null;
      throw new Error(`texad: GPU validation error: ${msg}`);
    }
  }

  // ---- scopes and autograd switch ------------------------------------------------------------------------

  track(t: Tensor): void {
    this.scopes[this.scopes.length - 1]?.add(t);
  }

  untrack(t: Tensor): void {
    for (let i = this.scopes.length - 1; i >= 0; i--) if (this.scopes[i]!.delete(t)) return;
  }

  /**
   * Runs `fn` and disposes every tensor it created, except the tensors in its result (which move to the
   * enclosing scope) and tensors detached with keep().
   */
  tidy<T>(fn: () => T): T {
    this.scopes.push(new Set());
    let result: T;
    try {
      result = fn();
    } catch (err) {
      this.closeScope(undefined);
      throw err;
    }
    this.closeScope(result);
    return result;
  }

  /** tidy() for async functions; do not interleave two tidyAsync calls on one runtime. */
  async tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
    this.scopes.push(new Set());
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      this.closeScope(undefined);
      throw err;
    }
    this.closeScope(result);
    return result;
  }

  private closeScope(result: unknown): void {
    const scope = this.scopes.pop()!;
    const survivors = new Set<Tensor>();
    collectTensors(result, survivors);
    for (const t of scope) if (!survivors.has(t)) t.dispose();
    for (const t of survivors) if (!t.disposed) this.track(t);
  }

  /** Runs `fn` without recording gradients (inference, optimizer updates). */
  noGrad<T>(fn: () => T): T {
    const prev = this.gradEnabled;
    this.gradEnabled = false;
    try {
      return fn();
    } finally {
      this.gradEnabled = prev;
    }
  }

  get isGradEnabled(): boolean {
    return this.gradEnabled;
  }

  recordsGrad(...inputs: ReadonlyArray<Tensor | null | undefined>): boolean {
    return this.gradEnabled && inputs.some((t) => t != null && needsGrad(t));
  }

  /** Attaches a backward rule to `output` when any input takes part in autograd. */
  record(output: Tensor, op: string, inputs: Tensor[], backward: BackwardFn): Tensor {
    if (this.recordsGrad(...inputs)) output.node = { op, inputs, backward };
    return output;
  }

  async destroy(): Promise<void> {
    this.flush();
    this.pool.trim();
    await this.gpu.release();
  }
}

function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (value instanceof Tensor) into.add(value);
  else if (depth < 4 && Array.isArray(value)) for (const v of value) collectTensors(v, into, depth + 1);
  else if (depth < 4 && value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, into, depth + 1);
  }
}
