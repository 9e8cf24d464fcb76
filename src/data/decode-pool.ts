// Decoding and resizing in worker threads (issue 18): a PNG or JPEG of 1024² takes tens of milliseconds to decode and
// resize, time in which the main thread cannot queue GPU work. A DecodePool runs imageFromBytes / maskFromBytes in
// `size` workers — Node worker_threads, or module Web Workers in Deno and browsers — and BatchLoader keeps that many
// decodes in flight while the consumer trains on the previous batch. Workers are unref'd in Node, so an idle pool
// never keeps a process alive.
import { ImageDecodeError } from './decode.ts';
import { READY, type DecodeReply, type DecodeRequest } from './decode-protocol.ts';
import type { ImageTensor, MaskTensor, ResizeOptions } from './image.ts';

type Decoded = Extract<DecodeReply, { data: unknown }>;

interface WorkerHandle {
  post(req: DecodeRequest, transfer: ArrayBuffer[]): void;
  onReply(f: (reply: DecodeReply) => void, fail: (err: Error) => void): void;
  terminate(): Promise<unknown> | void;
}

const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string' &&
  typeof (globalThis as { Deno?: unknown }).Deno === 'undefined';

/**
 * The worker script beside this module: decode-worker.js in the built package. Running from TypeScript sources
 * (vitest, `deno run src/...`), there is only decode-worker.ts, which Node cannot start: the pool then fails to
 * start, naming the file, and BatchLoader's callers decode in-thread (decodeWorkers 0).
 */
function workerUrl(): URL {
  const self = import.meta.url;
  return new URL(self.endsWith('.ts') && !isNode ? './decode-worker.ts' : './decode-worker.js', self);
}

/** Starts a worker and resolves once it has loaded and said so (a missing or broken script rejects instead). */
async function startWorker(url: URL): Promise<WorkerHandle> {
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    const { EventEmitter } = await import('node:events');
    const w = new Worker(url);
    w.unref();
    // events.once rejects on an 'error' first (a missing or broken script) and removes both listeners either way.
    const [first] = await EventEmitter.once(w, 'message');
    if (first !== READY) throw new Error(`unexpected first message ${String(first)}`);
    return {
      post: (req, transfer) => w.postMessage(req, transfer),
      onReply: (f, fail) => {
        w.on('message', f);
        w.on('error', fail);
      },
      terminate: () => w.terminate(),
    };
  }
  const WebWorker = (globalThis as unknown as { Worker?: new (u: URL, o: { type: 'module' }) => Worker }).Worker;
  if (!WebWorker) throw new Error('this runtime has no Worker');
  const w = new WebWorker(url, { type: 'module' });
  await new Promise<void>((resolve, reject) => {
    w.onmessage = (e: MessageEvent) => (e.data === READY ? resolve() : reject(new Error(`unexpected first message ${String(e.data)}`)));
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
  return {
    post: (req, transfer) => w.postMessage(req, transfer),
    onReply: (f, fail) => {
      w.onmessage = (e: MessageEvent<DecodeReply>) => f(e.data);
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        fail(new Error(e.message));
      };
    },
    terminate: () => w.terminate(),
  };
}

/** Decodes images and masks in worker threads; jobs are spread over the workers and answered in any order. */
export class DecodePool {
  readonly size: number;
  readonly #workers: WorkerHandle[];
  readonly #pending = new Map<number, { resolve: (r: DecodeReply) => void; reject: (e: Error) => void }>();
  #next = 0;
  #closed = false;

  private constructor(workers: WorkerHandle[]) {
    this.size = workers.length;
    this.#workers = workers;
    for (const w of workers) {
      w.onReply((reply) => {
        const job = this.#pending.get(reply.id);
        this.#pending.delete(reply.id);
        job?.resolve(reply);
      }, (err) => {
        // A worker that dies takes its jobs with it: fail every pending job rather than hang.
        for (const job of this.#pending.values()) job.reject(new Error(`decode worker failed: ${err.message}`));
        this.#pending.clear();
      });
    }
  }

  /** Starts `size` workers (at least 1); rejects, naming the worker script, when they cannot start. */
  static async create(size: number): Promise<DecodePool> {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`decode pool: size must be a positive integer, got ${size}`);
    const url = workerUrl();
    const workers: WorkerHandle[] = [];
    try {
      for (let i = 0; i < size; i++) workers.push(await startWorker(url));
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw new Error(`decode pool: cannot start the worker ${url.href} (${(err as Error).message}); decode in-thread ` +
        'instead (decodeWorkers 0, --decode-workers 0)');
    }
    return new DecodePool(workers);
  }

  #submit(kind: DecodeRequest['kind'], bytes: Uint8Array[], opts: ResizeOptions, label: string | undefined): Promise<Decoded> {
    if (this.#closed) return Promise.reject(new Error('decode pool: closed'));
    const id = this.#next++;
    const reply = new Promise<DecodeReply>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    // The bytes are copied to the worker, not transferred: callers (and a ByteSource's cache) may keep them.
    this.#workers[id % this.size]!.post({ id, kind, bytes, opts }, []);
    return reply.then((r) => {
      if ('error' in r) {
        const message = label === undefined ? r.error : `${label}: ${r.error}`;
        throw r.decodeError ? new ImageDecodeError(message) : new Error(message);
      }
      return r as Decoded;
    });
  }

  /** imageFromBytes in a worker; errors are prefixed with `label` (the file) like the in-thread loader's. */
  async image(bytes: Uint8Array, opts: ResizeOptions, label?: string): Promise<ImageTensor> {
    const r = await this.#submit('image', [bytes], opts, label);
    return { data: r.data as Float32Array, height: r.height, width: r.width };
  }

  /** maskFromBytes in a worker. */
  async mask(bytes: readonly Uint8Array[], opts: ResizeOptions, label?: string): Promise<MaskTensor> {
    const r = await this.#submit('mask', [...bytes], opts, label);
    return { data: r.data as Uint8Array, height: r.height, width: r.width };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#pending.values()) job.reject(new Error('decode pool: closed'));
    this.#pending.clear();
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
