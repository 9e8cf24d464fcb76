// Per-adapter kernel variant selection. Ops are synchronous (they only record dispatches) while timing needs
// awaited GPU work, so tuning is an explicit asynchronous step:
//
//   1. An op asks `tunedVariant(rt, kernel, bucket)`; on a miss it runs its documented default variant and
//      queues a request with `requestTuning`, whose candidates can be rebuilt from shapes alone.
//   2. `await autotunePending(rt)` (or `await tuneWhile(rt, () => model(x))`) loads the persisted winners,
//      times the candidates of every request still unknown, and saves the new winners.
//   3. Later calls of the op in that bucket use the winner.
//
// A process that never awaits tuning therefore runs the defaults, deterministically. TEXAD_AUTOTUNE=0 turns
// tuning off altogether: nothing is timed, read or written, and every op keeps its default.
//
// Winners are keyed by adapter (description and host), kernel name (ops append a hash of their shader source,
// so editing a shader retunes) and shape bucket (next power of two of each dimension). They persist in
// $TEXAD_CACHE_DIR/autotune.json or ~/.cache/texad/autotune.json under Node and Deno, and in IndexedDB in
// browsers (plus memory everywhere).
import { hostRuntime } from './device.ts';
import { env, envSwitch } from './env.ts';
import type { Runtime } from './runtime.ts';

/** One way to run a kernel: `run` records its dispatches (on tensors it owns) and returns without waiting. */
export interface Candidate {
  name: string;
  run(): void;
}

/** How long autotune() measures. */
export interface TuneOptions {
  /** Timed rounds per candidate after a warm-up run (default 5; those 1.5x slower than the best stop after one); the fastest round counts. */
  rounds?: number;
  /** After the first round, candidates slower than this multiple of the best are dropped (default 1.5). */
  prune?: number;
}

/** What autotune() measured: the winner and each candidate's best time in ms. */
export interface TuneResult {
  winner: string;
  ms: Record<string, number>;
}

interface Request {
  kernel: string;
  bucket: string;
  candidates: () => Candidate[];
  dispose?: () => void;
}

interface TunerState {
  winners: Map<string, string>;
  pending: Map<string, Request>;
  /** `kernel|candidate` -> why it failed (compile or validation error): never run or reported again. */
  failed: Map<string, string>;
  loaded: boolean;
}

const states = new WeakMap<Runtime, TunerState>();

function state(rt: Runtime): TunerState {
  let s = states.get(rt);
  if (!s) states.set(rt, (s = { winners: new Map(), pending: new Map(), failed: new Map(), loaded: false }));
  return s;
}

/** False when TEXAD_AUTOTUNE=0 (or 'false'/'off'): ops keep their default variants and nothing is timed. */
export function autotuneEnabled(): boolean {
  return envSwitch('TEXAD_AUTOTUNE') !== false;
}

/** The shape bucket of a kernel call: the next power of two of each dimension, e.g. `1024x256x2048`. */
export function shapeBucket(...dims: number[]): string {
  return dims.map((d) => (d <= 1 ? 1 : 2 ** Math.ceil(Math.log2(d)))).join('x');
}

function adapterKey(rt: Runtime): string {
  return rt.gpu.describe();
}

function entryKey(rt: Runtime, kernel: string, bucket: string): string {
  return `${adapterKey(rt)}|${kernel}|${bucket}`;
}

/** The tuned variant for (kernel, bucket) on this runtime's adapter, if one is known; never waits. */
export function tunedVariant(rt: Runtime, kernel: string, bucket: string): string | undefined {
  if (!autotuneEnabled()) return undefined;
  return state(rt).winners.get(entryKey(rt, kernel, bucket));
}

/**
 * Queues (kernel, bucket) for the next autotunePending(); a bucket is queued once. `candidates` is called
 * only then, and `dispose` after timing, so requests should capture shapes, not the caller's tensors.
 */
export function requestTuning(rt: Runtime, kernel: string, bucket: string, candidates: () => Candidate[], dispose?: () => void): void {
  if (!autotuneEnabled()) return;
  const s = state(rt);
  const key = entryKey(rt, kernel, bucket);
  if (s.winners.has(key) || s.pending.has(key)) return;
  s.pending.set(key, { kernel, bucket, candidates, ...(dispose ? { dispose } : {}) });
}

/** Number of queued tuning requests (for tests and progress reports). */
export function pendingTuning(rt: Runtime): number {
  return state(rt).pending.size;
}

/**
 * Times each candidate and caches the fastest for (kernel, bucket). Wall-clock around rt.sync(), because
 * timestamp queries are quantised (100 us in browsers) or absent. Each candidate runs once untimed (pipeline
 * compilation), then in interleaved rounds so that drift of a shared machine hits all candidates alike. A
 * candidate that throws (e.g. a variant the driver cannot compile or validate) is dropped with one warning that
 * gives the reason, and is skipped without a word in every later tuning of the same kernel on this runtime. With
 * tuning disabled the first candidate wins without being run.
 */
export async function autotune(rt: Runtime, kernel: string, bucket: string, candidates: Candidate[],
  opts: TuneOptions = {}): Promise<TuneResult> {
  if (candidates.length === 0) throw new Error(`texad: autotune ${kernel} ${bucket}: no candidates`);
  if (!autotuneEnabled() || candidates.length === 1) return { winner: candidates[0]!.name, ms: {} };
  // Five rounds, not three: on lavapipe the subgroup GEMM tiles lie within 10-20% of each other and one lucky round
  // out of three once crowned s8x8 over s16x16 (16.6 against 23.5 GFLOP/s on the 1024^3 matmul).
  const rounds = Math.max(1, opts.rounds ?? 5);
  const prune = opts.prune ?? 1.5;
  const best = new Map<string, number>();
  const failed = state(rt).failed;
  let alive: Candidate[] = [];
  for (const c of candidates) {
    if (failed.has(`${kernel}|${c.name}`)) continue;
    try {
      c.run();
      await rt.sync();
      alive.push(c);
    } catch (err) {
      const reason = (err as Error).message;
      // A pipeline that failed to compile also invalidates the command buffer that used it; that second error
      // reaches the device later and would otherwise be blamed on the next candidate.
      await rt.sync().catch(() => undefined);
      failed.set(`${kernel}|${c.name}`, reason);
      warn(`${kernel} ${bucket}: candidate ${c.name} failed and is dropped for this kernel: ${reason}`);
    }
  }
  if (alive.length === 0) throw new Error(`texad: autotune ${kernel} ${bucket}: every candidate failed`);
  const runnable = [...alive];
  for (let r = 0; r < rounds; r++) {
    for (const c of alive) {
      const t0 = performance.now();
      c.run();
      await rt.sync();
      const ms = performance.now() - t0;
      best.set(c.name, Math.min(ms, best.get(c.name) ?? Infinity));
    }
    const fastest = Math.min(...alive.map((c) => best.get(c.name)!));
    alive = alive.filter((c) => best.get(c.name)! <= prune * fastest);
  }
  let winner = runnable[0]!.name;
  for (const c of runnable) if (best.get(c.name)! < best.get(winner)!) winner = c.name;
  state(rt).winners.set(entryKey(rt, kernel, bucket), winner);
  return { winner, ms: Object.fromEntries(best) };
}

/**
 * Loads persisted winners (once per runtime), tunes every queued request still unknown, and persists the
 * results. Returns what was tuned. Safe to call often: with nothing queued it returns at once.
 */
export async function autotunePending(rt: Runtime, opts: TuneOptions = {}): Promise<Array<TuneResult & { kernel: string; bucket: string }>> {
  if (!autotuneEnabled()) return [];
  const s = state(rt);
  if (!s.loaded) {
    s.loaded = true;
    for (const [k, v] of Object.entries(await store().load())) if (!s.winners.has(k)) s.winners.set(k, v);
  }
  const done: Array<TuneResult & { kernel: string; bucket: string }> = [];
  for (const [key, req] of [...s.pending]) {
    s.pending.delete(key);
    if (s.winners.has(key)) {
      req.dispose?.();
      continue;
    }
    try {
      done.push({ kernel: req.kernel, bucket: req.bucket, ...(await autotune(rt, req.kernel, req.bucket, req.candidates(), opts)) });
    } finally {
      req.dispose?.();
    }
  }
  if (done.length > 0) {
    const fresh: Record<string, string> = {};
    for (const d of done) fresh[entryKey(rt, d.kernel, d.bucket)] = d.winner;
    await store().save(fresh);
  }
  return done;
}

/** Runs `fn` (e.g. one forward pass) in a tidy scope, then tunes every kernel bucket it queued. */
export async function tuneWhile<T>(rt: Runtime, fn: () => T | Promise<T>, opts: TuneOptions = {}): Promise<T> {
  const result = await rt.tidyAsync(async () => fn());
  await rt.sync();
  await autotunePending(rt, opts);
  return result;
}

/** Candidates of `kernel` that failed on this runtime's adapter, with the reason (compile or validation error). */
export function failedCandidates(rt: Runtime, kernel: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, why] of state(rt).failed) if (key.startsWith(`${kernel}|`)) out.set(key.slice(kernel.length + 1), why);
  return out;
}

/** Forgets this runtime's winners, failures and queue (tests); the persisted cache is untouched. */
export function resetAutotune(rt: Runtime): void {
  for (const req of state(rt).pending.values()) req.dispose?.();
  states.delete(rt);
}

// ---- persistence -----------------------------------------------------------------------------------------

interface WinnerStore {
  load(): Promise<Record<string, string>>;
  save(fresh: Record<string, string>): Promise<void>;
}

interface CacheFile {
  version: 1;
  winners: Record<string, string>;
}

function warn(msg: string): void {
  console.warn(`texad: autotune: ${msg}`);
}

/** The cache file used under Node and Deno. */
export async function autotuneCachePath(): Promise<string> {
  const { join } = await import('node:path');
  const dir = env('TEXAD_CACHE_DIR') ?? join((await import('node:os')).homedir(), '.cache', 'texad');
  return join(dir, 'autotune.json');
}

function parseCache(text: string, path: string): Record<string, string> {
  try {
    const parsed = JSON.parse(text) as Partial<CacheFile>;
    if (parsed.version !== 1 || typeof parsed.winners !== 'object' || parsed.winners === null) throw new Error('unknown format');
    return Object.fromEntries(Object.entries(parsed.winners).filter(([, v]) => typeof v === 'string'));
  } catch (err) {
    warn(`ignoring unreadable cache ${path} (${(err as Error).message}); it will be rewritten`);
    return {};
  }
}

const fileStore: WinnerStore = {
  async load() {
    const path = await autotuneCachePath();
    const { readFile } = await import('node:fs/promises');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return {}; // no cache yet
    }
    return parseCache(text, path);
  },
  async save(fresh) {
    const path = await autotuneCachePath();
    const { mkdir, readFile, rename, writeFile } = await import('node:fs/promises');
    const { dirname } = await import('node:path');
    try {
      // Merge with what other processes saved meanwhile; write-then-rename so readers never see half a file.
      let winners: Record<string, string> = {};
      try {
        winners = parseCache(await readFile(path, 'utf8'), path);
      } catch {
        // no cache yet
      }
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`;
      const file: CacheFile = { version: 1, winners: { ...winners, ...fresh } };
      await writeFile(tmp, JSON.stringify(file, null, 1));
      await rename(tmp, path);
    } catch (err) {
      warn(`could not save ${path}: ${(err as Error).message}`);
    }
  },
};

const IDB_NAME = 'texad';
const IDB_STORE = 'autotune';

function idb(): Promise<IDBDatabase> | null {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!factory) return null;
  return new Promise((resolve, reject) => {
    const req = factory.open(IDB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(IDB_STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('indexedDB.open failed'));
  });
}

const browserStore: WinnerStore = {
  async load() {
    try {
      const db = await idb();
      if (!db) return {};
      const winners = await new Promise<Record<string, string>>((resolve, reject) => {
        const req = db.transaction(IDB_STORE, 'readonly').objectStore(IDB_STORE).get('winners');
        req.onsuccess = () => resolve((req.result as Record<string, string> | undefined) ?? {});
        req.onerror = () => reject(req.error ?? new Error('read failed'));
      });
      db.close();
      return winners;
    } catch (err) {
      warn(`IndexedDB unavailable (${(err as Error).message}); winners stay in memory`);
      return {};
    }
  },
  async save(fresh) {
    try {
      const db = await idb();
      if (!db) return;
      const winners = { ...(await this.load()), ...fresh };
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction(IDB_STORE, 'readwrite');
        tx.objectStore(IDB_STORE).put(winners, 'winners');
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error ?? new Error('write failed'));
      });
      db.close();
    } catch (err) {
      warn(`could not save to IndexedDB (${(err as Error).message})`);
    }
  },
};

function store(): WinnerStore {
  return hostRuntime() === 'browser' ? browserStore : fileStore;
}
