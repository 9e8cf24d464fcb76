// Loading pixels for methods: single images and masks from paths or bytes, and a streaming batch loader that
// prefetches the next batches while the consumer (the GPU) works, within a fixed memory budget — Texture-AD's
// 43k images of 1024² do not fit in memory, and a starved GPU wastes more time than decoding takes.
import { DEFAULT_MAX_PIXELS, ImageDecodeError, probeImage } from './decode.ts';
import type { DecodePool } from './decode-pool.ts';
import { imageFromBytes, maskFromBytes, type ImageTensor, type MaskTensor, type ResizeMode, type ResizeOptions } from './image.ts';
import type { Protocol, SampleRef } from './protocol.ts';

/** Where bytes come from: the file system by default; a browser passes a fetch-based one. */
export type ByteSource = (path: string) => Promise<Uint8Array>;

// Imported on first use, so that browsers (which pass their own ByteSource) never load node:fs.
export const readFileBytes: ByteSource = async (path) => {
  const { readFile } = await import('node:fs/promises');
  return new Uint8Array(await readFile(path));
};

export interface LoadOptions extends ResizeOptions {
  read?: ByteSource;
}

async function bytesOf(src: string | Uint8Array, read: ByteSource): Promise<Uint8Array> {
  if (typeof src !== 'string') return src;
  try {
    return await read(src);
  } catch (err) {
    throw new Error(`${src}: cannot read (${(err as Error).message})`);
  }
}

/** Runs a decode, prefixing any error with the file it came from (when it came from a file). */
function named<T>(label: string | undefined, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (label !== undefined && err instanceof Error) throw new ImageDecodeError(`${label}: ${err.message}`);
    throw err;
  }
}

/** RGB CHW float in [0, 1]; bilinear (antialiased when shrinking) to `size` when given. */
export async function loadImage(src: string | Uint8Array, opts: LoadOptions = {}): Promise<ImageTensor> {
  const bytes = await bytesOf(src, opts.read ?? readFileBytes);
  return named(typeof src === 'string' ? src : undefined, () => imageFromBytes(bytes, opts));
}

/** Union of the masks, binarised > 0, nearest-neighbour to `size` when given. */
export async function loadMask(src: string | Uint8Array | readonly (string | Uint8Array)[],
  opts: LoadOptions = {}): Promise<MaskTensor> {
  const list = typeof src === 'string' || src instanceof Uint8Array ? [src] : src;
  const read = opts.read ?? readFileBytes;
  const bytes = await Promise.all(list.map((s) => bytesOf(s, read)));
  const label = list.every((s) => typeof s === 'string') ? list.join(', ') : undefined;
  return named(label, () => maskFromBytes(bytes, opts));
}

/** What a method may see of one image: its pixels and an opaque id. */
export interface MethodImage {
  readonly id: string;
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
}

export async function loadSample(protocol: Protocol, ref: SampleRef, opts: LoadOptions = {}): Promise<MethodImage> {
  const img = await loadImage(protocol.record(ref).path, opts);
  return Object.freeze({ id: ref.id, data: img.data, height: img.height, width: img.width });
}

export interface Batch {
  /** [count, 3, size, size] RGB in [0, 1]; `size` is the crop when the loader crops. */
  images: Float32Array;
  ids: string[];
  count: number;
  size: number;
  /** [count, size, size], 1 = defect; only when the loader was asked for masks (evaluation side). */
  masks?: Uint8Array;
}

export interface BatchOptions {
  /** Every image is resized to this (square side, or shorter side: see `mode`). */
  size: number;
  /** How `size` applies (ResizeMode; default 'square'): a method's official transform. */
  mode?: ResizeMode;
  /** Then centre-cropped to `crop` x `crop` (torchvision CenterCrop); batches are `crop` pixels square. */
  crop?: number;
  batchSize: number;
  /** Bytes the loader may hold at once: batches it has made and not yet seen released, plus decoding scratch. */
  memoryBudget?: number;
  /** Batches prepared ahead of the consumer (default 2), fewer when the budget does not allow it. */
  prefetch?: number;
  /** Also load masks (zeros for images without one). For metrics only; methods must not receive them. */
  masks?: boolean;
  read?: ByteSource;
  maxPixels?: number;
  /**
   * Decode and resize in these worker threads, up to `pool.size` images at once (each within the memory budget),
   * instead of on the calling thread. The caller owns the pool (DecodePool.create, close).
   */
  decodePool?: DecodePool;
}

export interface LoaderStats {
  budget: number;
  batchBytes: number;
  /** Most bytes held at any moment. */
  peakBytes: number;
  /** Most batches that were ready and waiting for the consumer at once. */
  maxReady: number;
  batches: number;
}

export const DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024;

/**
 * Async iterable of batches in the order of `refs`. A batch counts against the budget from when its buffers are
 * allocated until the consumer asks for the next batch (or stops), so keep what you need before moving on.
 */
export class BatchLoader implements AsyncIterable<Batch> {
  readonly stats: LoaderStats;
  readonly #protocol: Protocol;
  readonly #refs: readonly SampleRef[];
  readonly #opts: Required<Pick<BatchOptions, 'size' | 'batchSize' | 'prefetch' | 'maxPixels'>> & BatchOptions;
  #held = 0;
  #scratch = 0;

  constructor(protocol: Protocol, refs: readonly SampleRef[], opts: BatchOptions) {
    if (!(Number.isInteger(opts.size) && opts.size > 0 && Number.isInteger(opts.batchSize) && opts.batchSize > 0)) {
      throw new RangeError(`batch loader: size and batchSize must be positive integers, got ${opts.size}, ${opts.batchSize}`);
    }
    this.#protocol = protocol;
    this.#refs = refs;
    this.#opts = { prefetch: 2, maxPixels: DEFAULT_MAX_PIXELS, ...opts };
    const side = opts.crop ?? opts.size;
    const px = side * side;
    const batchBytes = opts.batchSize * (3 * px * 4 + (opts.masks ? px : 0));
    const budget = opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
    this.stats = { budget, batchBytes, peakBytes: 0, maxReady: 0, batches: 0 };
  }

  get heldBytes(): number {
    return this.#held + this.#scratch;
  }

  #note(): void {
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.#held + this.#scratch);
  }

  /** Bytes needed to decode and resize one image: file, decoded RGBA, float planes and the resize buffer. */
  #scratchFor(bytes: Uint8Array): number {
    const info = probeImage(bytes.subarray(0, Math.min(bytes.length, 64 * 1024))) ?? probeImage(bytes);
    if (!info) return bytes.length;
    const px = info.width * info.height;
    const sample = info.bitDepth > 8 ? 2 : 1;
    const s = this.#opts.size;
    // The resized image before the crop: its longer side grows past `size` when the aspect ratio is kept.
    const long = this.#opts.mode === 'shorter-side'
      ? Math.ceil((s * Math.max(info.width, info.height)) / Math.min(info.width, info.height)) : s;
    const resize = 3 * info.height * long * 4 + 3 * s * long * 4;
    const mask = this.#opts.masks ? 2 * px : 0;
    return bytes.length + px * 4 * sample + px * 12 + resize + mask;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    const { batchSize, read = readFileBytes, maxPixels } = this.#opts;
    const geometry = { size: this.#opts.size, mode: this.#opts.mode ?? 'square', crop: this.#opts.crop ?? this.#opts.size };
    const size = geometry.crop;
    const budget = this.stats.budget;
    const batchBytes = this.stats.batchBytes;
    const ready: Batch[] = [];
    let finished = false;
    let failure: unknown;
    let stopped = false;
    let wakeConsumer: (() => void) | undefined;
    let wakeProducer: (() => void) | undefined;
    const signal = (w: (() => void) | undefined): void => w?.();
    let worstScratch = 0;

    const produce = async (): Promise<void> => {
      for (let start = 0; start < this.#refs.length && !stopped; start += batchSize) {
        // Room for one more batch: within the prefetch depth, and within the budget including decode scratch.
        while (!stopped && (ready.length >= this.#opts.prefetch ||
          (this.#held > 0 && this.#held + batchBytes + worstScratch > budget))) {
          await new Promise<void>((r) => (wakeProducer = r));
        }
        if (stopped) return;
        const refs = this.#refs.slice(start, start + batchSize);
        const px = size * size;
        if (batchBytes + worstScratch > budget) {
          throw new RangeError(`memory budget of ${budget} bytes cannot hold one batch (${batchBytes} bytes) plus ` +
            `decoding (${worstScratch} bytes); raise memoryBudget or lower batchSize or size`);
        }
        const batch: Batch = { images: new Float32Array(refs.length * 3 * px), ids: refs.map((r) => r.id),
          count: refs.length, size, ...(this.#opts.masks ? { masks: new Uint8Array(refs.length * px) } : {}) };
        this.#held += batchBytes;
        this.#note();
        // Up to `width` decodes in flight (one without a pool); each holds its scratch until its pixels are in.
        const pool = this.#opts.decodePool;
        const width = pool?.size ?? 1;
        const inFlight = new Set<Promise<void>>();
        const opts = { ...geometry, maxPixels };
        for (let k = 0; k < refs.length; k++) {
          const rec = this.#protocol.record(refs[k]!);
          const bytes = await bytesOf(rec.path, read);
          const scratch = this.#scratchFor(bytes);
          worstScratch = Math.max(worstScratch, scratch);
          while (inFlight.size >= width || (inFlight.size > 0 && this.#held + this.#scratch + scratch > budget)) {
            await Promise.race(inFlight);
          }
          if (this.#held + this.#scratch + scratch > budget) {
            throw new RangeError(`${rec.path}: decoding it needs ${scratch} bytes, beyond the memory budget of ` +
              `${budget} with ${this.#held} held; raise memoryBudget or lower batchSize`);
          }
          this.#scratch += scratch;
          this.#note();
          const job = (async () => {
            try {
              const img = pool ? await pool.image(bytes, opts, rec.path) : named(rec.path, () => imageFromBytes(bytes, opts));
              batch.images.set(img.data, k * 3 * px);
              if (batch.masks && rec.maskPaths.length > 0) {
                const maskBytes = await Promise.all(rec.maskPaths.map((p) => bytesOf(p, read)));
                const label = rec.maskPaths.join(', ');
                const m = pool ? await pool.mask(maskBytes, opts, label) : named(label, () => maskFromBytes(maskBytes, opts));
                batch.masks.set(m.data, k * px);
              }
            } finally {
              this.#scratch -= scratch;
            }
          })();
          const tracked: Promise<void> = job.finally(() => inFlight.delete(tracked));
          tracked.catch(() => {}); // rethrown by the race or the final wait; never an unhandled rejection
          inFlight.add(tracked);
        }
        await Promise.all(inFlight);
        ready.push(batch);
        this.stats.maxReady = Math.max(this.stats.maxReady, ready.length);
        signal(wakeConsumer);
      }
    };

    const producer = produce().then(
      () => { finished = true; signal(wakeConsumer); },
      (err: unknown) => { failure = err; finished = true; signal(wakeConsumer); },
    );
    try {
      for (;;) {
        while (ready.length === 0 && !finished) await new Promise<void>((r) => (wakeConsumer = r));
        if (ready.length === 0) {
          if (failure !== undefined) throw failure;
          return;
        }
        const batch = ready.shift()!;
        signal(wakeProducer);
        this.stats.batches++;
        yield batch;
        this.#held -= batchBytes;
        signal(wakeProducer);
      }
    } finally {
      stopped = true;
      signal(wakeProducer);
      await producer;
      this.#held = 0;
      this.#scratch = 0;
    }
  }
}

/** Batches of `refs` (e.g. `protocol.trainItems`) as [B, 3, size, size] float tensors. */
export function batches(protocol: Protocol, refs: readonly SampleRef[], opts: BatchOptions): BatchLoader {
  return new BatchLoader(protocol, refs, opts);
}
