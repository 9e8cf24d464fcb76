// Paced polling (src/runtime/paced-polling.ts): while texad waits for a CPU adapter, Dawn's polls sleep between
// each other instead of spinning on a core lavapipe needs. The first tests drive pacedDawnWait with a stand-in for
// Dawn's poll loop (it looks setImmediate up again for every poll, as Dawn's AsyncRunner does), so what is caught,
// slept and let go is checked exactly; the last one runs it on the real device.
import { describe, expect, it } from 'vitest';
import { add } from '../src/ops/elementwise.ts';
import { pacedDawnWait, pollStats, POLL_SLEEP_MAX_MS } from '../src/runtime/paced-polling.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { gpuRuntime } from './helpers/gpu.ts';

/**
 * A stand-in for one Dawn device: start() begins an operation that settles after `busyMs` of wall time; while
 * any operation is pending, each poll queues the next through the global setImmediate.
 */
function fakeDawn() {
  let pending: Array<{ until: number; resolve: () => void }> = [];
  let ticking = false;
  const dawn = {
    polls: 0,
    /** Polls while `forever` is set never settle it (a library's operation that keeps the loop alive). */
    forever: false,
    start(busyMs: number): Promise<void> {
      const p = new Promise<void>((resolve) => pending.push({ until: performance.now() + busyMs, resolve }));
      if (!ticking) queue();
      return p;
    },
  };
  const tick = () => {
    dawn.polls++;
    const now = performance.now();
    for (const op of pending.filter((o) => o.until <= now)) op.resolve();
    pending = pending.filter((o) => o.until > now);
    ticking = false;
    if (pending.length > 0 || dawn.forever) queue();
  };
  const queue = () => {
    ticking = true;
    (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(tick);
  };
  return dawn;
}

describe('paced polling', () => {
  it('sleeps between the polls of a long wait, at most POLL_SLEEP_MAX_MS each, and puts setImmediate back', async () => {
    const original = globalThis.setImmediate;
    const dawn = fakeDawn();
    const before = { ...pollStats };
    const t0 = performance.now();
    await pacedDawnWait(() => dawn.start(30));
    const waited = performance.now() - t0;
    const sleeps = pollStats.sleeps - before.sleeps;
    expect(globalThis.setImmediate).toBe(original);
    expect(sleeps).toBeGreaterThan(5);
    expect((pollStats.sleptMs - before.sleptMs) / sleeps).toBeLessThanOrEqual(POLL_SLEEP_MAX_MS);
    // A busy loop polls every 1-10 us: 3,000-30,000 polls in 30 ms. Paced, only the first POLL_SPIN_MS polls at
    // that rate (at most ~250), then about 40 polls between growing sleeps.
    expect(dawn.polls).toBeLessThan(1500);
    expect(waited).toBeGreaterThanOrEqual(29);
  });

  it("leaves a caller's own setImmediate alone: it runs, and clearImmediate cancels it", async () => {
    const dawn = fakeDawn();
    const ran: string[] = [];
    const wait = pacedDawnWait(() => dawn.start(10));
    // Scheduled mid-wait, under the wrapper: passed through to Node's setImmediate.
    const cancelled = setImmediate(() => ran.push('cancelled'));
    clearImmediate(cancelled);
    await new Promise<void>((resolve) => setImmediate(() => { ran.push('mine'); resolve(); }));
    await wait;
    expect(ran).toEqual(['mine']);
  });

  it('lets go of a poll loop that outlives the wait: later polls neither sleep nor pass through the wrapper', async () => {
    const original = globalThis.setImmediate;
    const dawn = fakeDawn();
    dawn.forever = true;
    try {
      await pacedDawnWait(() => dawn.start(5));
      const sleeps = pollStats.sleeps;
      const polls = dawn.polls;
      while (dawn.polls < polls + 20) await new Promise((resolve) => setTimeout(resolve, 1));
      expect(pollStats.sleeps).toBe(sleeps);
      expect(globalThis.setImmediate).toBe(original);
    } finally {
      dawn.forever = false;
    }
  });

  it('joins a poll loop already running without touching it', async () => {
    const dawn = fakeDawn();
    const first = dawn.start(15); // started outside texad: its polls spin as Dawn's do
    const sleeps = pollStats.sleeps;
    await pacedDawnWait(() => dawn.start(5));
    await first;
    expect(pollStats.sleeps).toBe(sleeps);
  });

  it('is on for a CPU adapter in Node and paces the waits of sync and read', async () => {
    const rt = await gpuRuntime();
    expect(rt.gpu.pacedPolling).toBe(true);
    const n = 1 << 18;
    const a = rt.tensor(new Float32Array(n).fill(1), [n]);
    const b = rt.tensor(new Float32Array(n).fill(2), [n]);
    let y = add(a, b);
    for (let i = 0; i < 40; i++) y = add(y, a); // tens of ms of work on lavapipe
    const sleeps = pollStats.sleeps;
    const out = await y.read();
    expect(out[0]).toBe(43);
    expect(out[n - 1]).toBe(43);
    expect(pollStats.sleeps).toBeGreaterThan(sleeps);
  });

  it('can be turned off', async () => {
    const rt = await Runtime.create({ pacedPolling: false });
    try {
      expect(rt.gpu.pacedPolling).toBe(false);
      const sleeps = pollStats.sleeps;
      const n = 1 << 18;
      const a = rt.tensor(new Float32Array(n).fill(1), [n]);
      let y = a;
      for (let i = 0; i < 20; i++) y = add(y, a);
      expect((await y.read())[n - 1]).toBe(21);
      expect(pollStats.sleeps).toBe(sleeps);
    } finally {
      await rt.destroy();
    }
  });
});
