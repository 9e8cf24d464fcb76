// Storage and uniform buffers reused by size bucket. A released buffer returns to the free list only after
// the submit that used it, because queue.writeBuffer into it would otherwise overtake still-unsubmitted commands.

const MIN_BUCKET = 256;

/** GPUBufferUsage / GPUMapMode values from the spec, usable before Dawn installs its globals in Node. */
export const Usage = { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
export const MAP_MODE_READ = 1;
export const SHADER_STAGE_COMPUTE = 4;

/** Rounds a byte size up to its bucket: powers of two up to 1 MiB, then multiples of 1/8 of the power of two. */
export function bucketSize(bytes: number): number {
  const b = Math.max(MIN_BUCKET, Math.ceil(bytes / 16) * 16);
  const p = 2 ** Math.ceil(Math.log2(b));
  if (p <= 1 << 20) return p;
  const step = p / 8;
  return Math.ceil(b / step) * step;
}

export interface PoolStats {
  allocatedBytes: number;
  freeBytes: number;
  buffersCreated: number;
  reuses: number;
}

/**
 * A tensor or buffer larger than a device limit (`maxBufferSize`, `maxStorageBufferBindingSize`). Its own class so
 * that a caller can turn it into a better answer (e.g. Mean-Shift names the largest batch that fits).
 */
export class DeviceLimitError extends Error {
  constructor(message: string, readonly bytes: number, readonly limitName: 'maxBufferSize' | 'maxStorageBufferBindingSize',
    readonly limit: number) {
    super(message);
    this.name = 'DeviceLimitError';
  }
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private pending: Array<[string, GPUBuffer]> = [];
  private readonly stats: PoolStats = { allocatedBytes: 0, freeBytes: 0, buffersCreated: 0, reuses: 0 };

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = bucketSize(bytes);
    if (size > this.maxBufferSize) {
      throw new DeviceLimitError(
        `texad: ${label} needs a ${bytes}-byte buffer but the device allows at most ${this.maxBufferSize} bytes ` +
          `(maxBufferSize); use a smaller batch or input size`,
        bytes, 'maxBufferSize', this.maxBufferSize,
      );
    }
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const reused = list?.pop();
    if (reused) {
      this.stats.reuses++;
      this.stats.freeBytes -= size;
      return reused;
    }
    this.stats.buffersCreated++;
    this.stats.allocatedBytes += size;
    return this.device.createBuffer({ size, usage, label });
  }

  /** Queues the buffer for reuse after the next submit. */
  release(buffer: GPUBuffer): void {
    this.pending.push([`${buffer.usage}:${buffer.size}`, buffer]);
  }

  /** Called right after queue.submit: everything released before it may now be reused. */
  afterSubmit(): void {
    for (const [key, buffer] of this.pending) {
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(buffer);
      this.stats.freeBytes += buffer.size;
    }
    this.pending = [];
  }

  /** Destroys every idle buffer (e.g. between pipeline stages with very different shapes). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.allocatedBytes -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
    this.stats.freeBytes = 0;
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }
}
