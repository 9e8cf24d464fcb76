// Waiting for Dawn in Node without taking the CPU from a CPU adapter.
//
// Dawn's Node bindings (npm `webgpu`) learn that GPU work has finished by polling: while any promise of a device
// (onSubmittedWorkDone, mapAsync, popErrorScope) is pending, each poll queues the next through the global
// `setImmediate`, a busy loop that holds the main thread at 100%. On a real GPU that costs a core and nothing else.
// On a CPU adapter the "GPU" is lavapipe's worker threads on the same cores, and the loop takes a core from them:
// with `perf` on this 2-core machine, during a stream of 1 Mi-float adds the main thread ran the whole time and
// each of lavapipe's two workers about half of it. With the polls asleep the same adds ran 1.2-1.9x faster and
// texad's 1024^3 matmul about 2x (README "Benchmarks", waiting for the GPU).
//
// pacedDawnWait therefore starts a Dawn operation with a wrapped `setImmediate` installed. Dawn looks the function
// up again for every poll, so the wrapper sees the first poll Dawn queues while the operation starts, and every
// poll queued from inside one of those polls; nothing else is touched (a caller's own setImmediate passes straight
// through, and gets a real Immediate that clearImmediate accepts). Before polling, a caught poll sleeps with
// Atomics.wait: not at all for the first POLL_SPIN_MS of a wait, so short waits cost what they did, then for an
// eighth of the time waited so far, at most POLL_SLEEP_MAX_MS, so a wait overshoots the GPU by at most that.
// Once no paced wait is pending, the polls Dawn queues go to the original setImmediate again (other operations,
// a library's own, are polled as Dawn polls them), and the wrapper is removed when the chain it caught ends.

/** Polls in the first part of a wait go out at once: a readback of a few floats takes about this long. */
export const POLL_SPIN_MS = 0.25;
/** The longest sleep before a poll, and so the most a wait can overshoot the GPU by. */
export const POLL_SLEEP_MAX_MS = 1;

type SetImmediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) => unknown;

interface PollState {
  /** The setImmediate that was installed before the wrapper. */
  original: SetImmediate;
  wrapper: SetImmediate;
  /** True while Dawn code that may queue a poll runs under the wrapper (an operation's start, or a caught poll). */
  catching: boolean;
  /** Caught polls queued and not yet run: the chain is alive while this is above zero. */
  queued: number;
  /** When the newest paced wait started (performance.now()); sleeps grow with the time since. */
  waitStart: number;
  /** Paced waits not yet settled. A caught poll sleeps only while one is, and lets go of the chain when none is. */
  waits: number;
}

let state: PollState | null = null;
let sleepCell: Int32Array | null = null;

/** Paced polls that slept so far, and how long in all: tests and benchmarks read them. */
export const pollStats = { sleeps: 0, sleptMs: 0 };

function sleep(ms: number): void {
  sleepCell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleepCell, 0, 0, ms);
}

function install(): PollState {
  const g = globalThis as unknown as { setImmediate: SetImmediate };
  const original = g.setImmediate;
  const s: PollState = { original, wrapper: original, catching: false, queued: 0, waitStart: performance.now(), waits: 0 };
  const wrapper: SetImmediate = (callback, ...args) => {
    if (!s.catching) return original(callback, ...args);
    s.queued++;
    return original(() => {
      s.queued--;
      const waited = performance.now() - s.waitStart;
      if (s.waits > 0 && waited > POLL_SPIN_MS) {
        const ms = Math.min(POLL_SLEEP_MAX_MS, waited / 8);
        sleep(ms);
        pollStats.sleeps++;
        pollStats.sleptMs += ms;
      }
      // With no paced wait left, the polls Dawn queues from here on go to the original: other pending operations
      // (a library's own, which may never stop coming) are polled as Dawn polls them.
      s.catching = s.waits > 0;
      try {
        callback(...args);
      } finally {
        s.catching = false;
        if (s.queued === 0) uninstall(s);
      }
    });
  };
  // Keep what Node hangs on its setImmediate (util.promisify.custom) for callers that look for it mid-wait.
  for (const key of Reflect.ownKeys(original)) {
    if (key !== 'length' && key !== 'name' && key !== 'prototype') {
      Reflect.defineProperty(wrapper, key, Reflect.getOwnPropertyDescriptor(original, key)!);
    }
  }
  s.wrapper = wrapper;
  g.setImmediate = wrapper;
  return s;
}

function uninstall(s: PollState): void {
  const g = globalThis as unknown as { setImmediate: SetImmediate };
  // A caller that installed its own setImmediate meanwhile (fake timers) keeps it.
  if (g.setImmediate === s.wrapper) g.setImmediate = s.original;
  if (state === s) state = null;
}

/**
 * Starts a Dawn operation (`start` calls e.g. queue.onSubmittedWorkDone or buffer.mapAsync) and waits for it,
 * with Dawn's polls paced as this file's header says. Where the operation queues no poll of its own (another
 * pending operation's polls will settle it), it waits as Dawn would.
 */
export async function pacedDawnWait<T>(start: () => Promise<T>): Promise<T> {
  if (typeof (globalThis as { setImmediate?: unknown }).setImmediate !== 'function') return start();
  const s = state ?? (state = install());
  s.waitStart = performance.now();
  s.waits++;
  try {
    s.catching = true;
    let pending: Promise<T>;
    try {
      pending = start();
    } finally {
      s.catching = false;
      if (s.queued === 0) uninstall(s);
    }
    return await pending;
  } finally {
    s.waits--;
  }
}
