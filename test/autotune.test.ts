import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GEMM_VARIANTS, defaultGemmVariant, subgroupGemm } from '../src/ops/gemm.ts';
import { matmul } from '../src/ops/matmul.ts';
import {
  autotune, autotuneCachePath, autotunePending, failedCandidates, pendingTuning, requestTuning, resetAutotune, shapeBucket,
  tunedVariant, tuneWhile, type Candidate,
} from '../src/runtime/autotune.ts';
import { Params } from '../src/runtime/runtime.ts';
import { gpuRuntime, randomData } from './helpers/gpu.ts';
import { posingAs, withLimits } from './helpers/limits.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'texad-autotune-'));
const saved = { dir: process.env.TEXAD_CACHE_DIR, flag: process.env.TEXAD_AUTOTUNE };
afterAll(() => {
  rmSync(cacheDir, { recursive: true, force: true });
  for (const [k, v] of [['TEXAD_CACHE_DIR', saved.dir], ['TEXAD_AUTOTUNE', saved.flag]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});
beforeEach(async () => {
  process.env.TEXAD_CACHE_DIR = cacheDir;
  process.env.TEXAD_AUTOTUNE = '1';
  rmSync(join(cacheDir, 'autotune.json'), { force: true });
  resetAutotune(await gpuRuntime());
});
afterEach(() => vi.restoreAllMocks());

/** A fake kernel: run() spins for `ms` so that wall-clock timing around rt.sync() sees it. */
function spinner(name: string, ms: number, runs: string[]): Candidate {
  return {
    name,
    run() {
      runs.push(name);
      const end = performance.now() + ms;
      while (performance.now() < end);
    },
  };
}

describe('autotune: buckets', () => {
  it('rounds each dimension up to a power of two', () => {
    expect(shapeBucket(1000, 1024, 1025, 1, 3)).toBe('1024x1024x2048x1x4');
  });
});

describe('autotune: timing and caching', () => {
  it('picks the fastest candidate, prunes slow ones after the first round, and remembers the winner', async () => {
    const rt = await gpuRuntime();
    const runs: string[] = [];
    const result = await autotune(rt, 'fake', '8x8', [spinner('slow', 12, runs), spinner('fast', 1, runs), spinner('mid', 6, runs)]);
    expect(result.winner).toBe('fast');
    expect(result.ms.fast!).toBeLessThan(result.ms.slow!);
    // One warm-up run each, then 5 rounds (the default): 'slow' and 'mid' are over 1.5x the best after round 1.
    expect(runs.filter((n) => n === 'fast').length).toBe(6);
    expect(runs.filter((n) => n === 'slow').length).toBe(2);
    expect(tunedVariant(rt, 'fake', '8x8')).toBe('fast');
    expect(tunedVariant(rt, 'fake', '16x16')).toBeUndefined();
  });

  it('skips a candidate that fails with a warning', async () => {
    const rt = await gpuRuntime();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const broken: Candidate = { name: 'broken', run: () => { throw new Error('no such pipeline'); } };
    const result = await autotune(rt, 'fake', '2x8', [broken, spinner('ok', 0, [])]);
    expect(result.winner).toBe('ok');
    expect(warn.mock.calls.some(([m]) => /candidate broken failed and is dropped for this kernel: no such pipeline/.test(String(m)))).toBe(true);
  });

  it('drops a candidate whose pipeline fails to compile, warning once for every later bucket of the kernel', async () => {
    const rt = await gpuRuntime();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const x = rt.zeros([64]).keep();
    const y = rt.zeros([64]).keep();
    // A workgroup size of 0 is invalid WGSL: the error surfaces asynchronously, at the tuner's sync.
    const relu4 = (wg: number): Candidate => ({
      name: `wg${wg}`,
      run: () => rt.dispatch({
        family: 'elementwise', entry: 'unary4', spec: { WG: wg, OP: 0, PER: 1 }, params: new Params().u32(16).f32(0, 0).u32(0),
        inputs: [x], outputs: [y], workgroups: [1],
      }),
    });
    try {
      for (const bucket of ['16', '32']) expect((await autotune(rt, 'relu4', bucket, [relu4(0), relu4(64)], { rounds: 1 })).winner).toBe('wg64');
      const warned = warn.mock.calls.map(([m]) => String(m)).filter((m) => m.includes('candidate wg0'));
      expect(warned.length).toBe(1);
      expect(warned[0]).toMatch(/relu4 16: candidate wg0 failed and is dropped for this kernel: .*failed to compile/);
      expect([...failedCandidates(rt, 'relu4').keys()]).toEqual(['wg0']);
      expect(failedCandidates(rt, 'other').size).toBe(0);
    } finally {
      x.dispose();
      y.dispose();
    }
  });

  it('tunes queued requests once, disposes their scratch, and persists winners across runtimes', async () => {
    const rt = await gpuRuntime();
    const runs: string[] = [];
    let built = 0;
    let disposed = 0;
    const request = () => requestTuning(rt, 'fake', '4x4', () => {
      built++;
      return [spinner('a', 5, runs), spinner('b', 0, runs)];
    }, () => disposed++);
    request();
    request();
    expect(pendingTuning(rt)).toBe(1);
    const done = await autotunePending(rt);
    expect(done.map((d) => [d.kernel, d.bucket, d.winner])).toEqual([['fake', '4x4', 'b']]);
    expect([built, disposed, pendingTuning(rt)]).toEqual([1, 1, 0]);
    const file = JSON.parse(readFileSync(await autotuneCachePath(), 'utf8')) as { winners: Record<string, string> };
    expect(Object.entries(file.winners)).toEqual([[`${rt.gpu.describe()}|fake|4x4`, 'b']]);
    // A fresh start reads the file instead of timing again.
    resetAutotune(rt);
    requestTuning(rt, 'fake', '4x4', () => [spinner('a', 0, runs), spinner('b', 0, runs)]);
    const before = runs.length;
    expect(await autotunePending(rt)).toEqual([]);
    expect(runs.length).toBe(before);
    expect(tunedVariant(rt, 'fake', '4x4')).toBe('b');
  });

  it('warns about a corrupt cache file, carries on, and rewrites it', async () => {
    const rt = await gpuRuntime();
    const path = await autotuneCachePath();
    writeFileSync(path, '{"version": 1, "winners": {tru');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    requestTuning(rt, 'fake', '2x2', () => [spinner('x', 0, []), spinner('y', 3, [])]);
    await autotunePending(rt);
    expect(warn.mock.calls.some(([m]) => /ignoring unreadable cache .*autotune\.json/.test(String(m)))).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8')).winners[`${rt.gpu.describe()}|fake|2x2`]).toBe('x');
  });

  it('with TEXAD_AUTOTUNE=0 runs nothing, queues nothing and keeps defaults', async () => {
    process.env.TEXAD_AUTOTUNE = '0';
    const rt = await gpuRuntime();
    const runs: string[] = [];
    const result = await autotune(rt, 'fake', '1x1', [spinner('first', 0, runs), spinner('second', 0, runs)]);
    expect(result.winner).toBe('first');
    expect(runs).toEqual([]);
    requestTuning(rt, 'fake', '1x1', () => [spinner('first', 0, runs)]);
    expect(pendingTuning(rt)).toBe(0);
    expect(tunedVariant(rt, 'fake', '1x1')).toBeUndefined();
  });
});

describe('autotune: gemm', () => {
  it('queues the buckets a forward pass uses and tunes them to a variant that still computes correctly', async () => {
    const rt = await gpuRuntime();
    const [m, k, n] = [20, 12, 16];
    const a = randomData(m * k, 1);
    const b = randomData(k * n, 2);
    const product = () => rt.tidyAsync(async () => matmul(rt.tensor(a, [m, k]), rt.tensor(b, [k, n])).read());
    const reference = await product();
    await tuneWhile(rt, () => void matmul(rt.tensor(a, [m, k]), rt.tensor(b, [k, n])), { rounds: 1 });
    expect(pendingTuning(rt)).toBe(0);
    const winners = JSON.parse(readFileSync(await autotuneCachePath(), 'utf8')).winners as Record<string, string>;
    const names = Object.values(winners);
    expect(names.length).toBe(1);
    expect(GEMM_VARIANTS.map((v) => v.name)).toContain(names[0]);
    const tuned = await product();
    for (let i = 0; i < tuned.length; i++) expect(tuned[i]).toBeCloseTo(reference[i]!, 5);
  });

  it('never offers a variant that exceeds the adapter limits', async () => {
    const rt = await gpuRuntime();
    const [m, k, n] = [12, 8, 20];
    const a = randomData(m * k, 3);
    const b = randomData(k * n, 4);
    const product = () => rt.tidyAsync(async () => matmul(rt.tensor(a, [m, k]), rt.tensor(b, [k, n])).read());
    const reference = await product();
    // wg64 needs 16x16 invocations and about 8 KiB of workgroup memory; the register tiles here need 8 lanes.
    // Staged tiles are timed on GPUs only, so the adapter poses as one.
    for (const limits of [{}, { maxComputeWorkgroupStorageSize: 1024 }, { maxComputeInvocationsPerWorkgroup: 64 }, { maxComputeWorkgroupSizeY: 8 }]) {
      resetAutotune(rt);
      rmSync(join(cacheDir, 'autotune.json'), { force: true });
      const tuned = await posingAs(rt, 'gpu', () => withLimits(rt, limits, async () => {
        await rt.tidyAsync(async () => void matmul(rt.tensor(a, [m, k]), rt.tensor(b, [k, n])));
        const [done] = await autotunePending(rt, { rounds: 1 });
        return { offered: Object.keys(done!.ms), result: await product() };
      }));
      if (Object.keys(limits).length === 0) expect(tuned.offered).toContain('wg64');
      else expect(tuned.offered, JSON.stringify(limits)).not.toContain('wg64');
      expect(tuned.offered.length).toBeGreaterThan(1);
      for (let i = 0; i < reference.length; i++) expect(tuned.result[i]).toBeCloseTo(reference[i]!, 5);
    }
  });

  it('does not time the staged (workgroup-memory) tiles on a CPU adapter', async () => {
    const rt = await gpuRuntime();
    const [m, k, n] = [12, 8, 20];
    resetAutotune(rt);
    rmSync(join(cacheDir, 'autotune.json'), { force: true });
    const done = await posingAs(rt, 'cpu', async () => {
      await rt.tidyAsync(async () => void matmul(rt.tensor(randomData(m * k, 3), [m, k]), rt.tensor(randomData(k * n, 4), [k, n])));
      return (await autotunePending(rt, { rounds: 1 }))[0];
    });
    const staged = GEMM_VARIANTS.filter((v) => v.mode === 'staged').map((v) => v.name);
    expect(staged.length).toBeGreaterThan(0);
    expect(Object.keys(done!.ms).filter((name) => staged.includes(name))).toEqual([]);
    expect(Object.keys(done!.ms).length).toBeGreaterThan(1);
    resetAutotune(rt);
  });

  it('never offers or defaults to a subgroup variant on a device without subgroups of 8 lanes', async () => {
    const rt = await gpuRuntime();
    const [m, k, n] = [24, 8, 160];
    const a = randomData(m * k, 5);
    const b = randomData(k * n, 6);
    const reference = await rt.tidyAsync(async () => matmul(rt.tensor(a, [m, k]), rt.tensor(b, [k, n])).read());
    const gpu = rt.gpu as { features: ReadonlySet<string> };
    const features = gpu.features;
    gpu.features = new Set([...features].filter((f) => f !== 'subgroups'));
    try {
      expect(subgroupGemm(rt)).toBe(false);
      expect(defaultGemmVariant(rt, 64)).not.toMatch(/^s/);
      resetAutotune(rt);
      rmSync(join(cacheDir, 'autotune.json'), { force: true });
      await rt.tidyAsync(async () => void matmul(rt.tensor(a, [m, k]), rt.tensor(b, [k, n])));
      const [done] = await autotunePending(rt, { rounds: 1 });
      expect(Object.keys(done!.ms).filter((name) => name.startsWith('s'))).toEqual([]);
      const result = await rt.tidyAsync(async () => matmul(rt.tensor(a, [m, k]), rt.tensor(b, [k, n])).read());
      for (let i = 0; i < reference.length; i++) expect(result[i]).toBeCloseTo(reference[i]!, 5);
    } finally {
      gpu.features = features;
      resetAutotune(rt);
    }
  });

  it('defaults to register tiles sized to the columns on a CPU adapter', async () => {
    const rt = await gpuRuntime();
    const cpu = rt.gpu.adapter.isFallbackAdapter || rt.gpu.adapter.architecture === 'software';
    const cpuTiles = subgroupGemm(rt) ? ['s16x16', 's8x8', 'r8x4'] : ['r8x16', 'r8x8', 'r8x4'];
    expect([64, 16, 3].map((n4) => defaultGemmVariant(rt, n4))).toEqual(cpu ? cpuTiles : ['wg64', 'wg64', 'wg64']);
  });
});
