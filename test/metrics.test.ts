import { describe, expect, it, vi } from 'vitest';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { readNpy, writeNpy } from '../src/io/npy.ts';
import {
  auroc,
  createImageMetrics,
  createPixelMetrics,
  deserializeMetrics,
  imageMetrics,
  pixelMetrics,
  releaseMetricsMemory,
  type ImageMetricsResult,
  type PixelMetricsResult,
} from '../src/metrics/index.ts';
import { RunState, mergeRuns, serializeState } from '../src/metrics/state.ts';
import { main } from '../src/cli/main.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'metrics');

interface Expected {
  auroc: number;
  ap: number;
  f1max: number;
  f1Threshold: number;
  positives: number;
  negatives: number;
  aupro?: number;
  regions?: number;
  pixel: boolean;
}

function fixture(name: string) {
  const dir = join(FIXTURES, name);
  return {
    scores: readNpy(readFileSync(join(dir, 'scores.npy'))),
    labels: readNpy(readFileSync(join(dir, 'labels.npy'))),
    expected: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected,
    dir,
  };
}

function expectGolden(got: ImageMetricsResult | PixelMetricsResult, want: Expected): void {
  expect(Math.abs(got.auroc - want.auroc)).toBeLessThanOrEqual(1e-9);
  expect(Math.abs(got.ap - want.ap)).toBeLessThanOrEqual(1e-9);
  expect(Math.abs(got.f1max - want.f1max)).toBeLessThanOrEqual(1e-9);
  expect(got.f1Threshold).toBe(want.f1Threshold);
  expect(got.positives).toBe(want.positives);
  expect(got.negatives).toBe(want.negatives);
  if (want.pixel) {
    const p = got as PixelMetricsResult;
    expect(Math.abs(p.aupro - want.aupro!)).toBeLessThanOrEqual(1e-6);
    expect(p.regions).toBe(want.regions);
  }
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sameBits(a: object, b: object): void {
  for (const [k, v] of Object.entries(a)) {
    if (typeof v === 'number') expect(Object.is(v, (b as Record<string, unknown>)[k]), `${k}: ${v} vs ${(b as Record<string, unknown>)[k]}`).toBe(true);
  }
  expect(JSON.stringify(a)).toBe(JSON.stringify(b));
}

const cases = readdirSync(FIXTURES).sort();

describe('golden fixtures (scikit-learn, MVTec AD AUPRO)', () => {
  it('has the fixture set', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  for (const name of cases) {
    it(`API equals the reference: ${name}`, () => {
      const { scores, labels, expected } = fixture(name);
      if (expected.pixel) {
        const [, h, w] = scores.shape as [number, number, number];
        expectGolden(pixelMetrics(scores.data as Float32Array, labels.data, h, w), expected);
      } else {
        expectGolden(imageMetrics(scores.data as Float32Array, labels.data), expected);
      }
    });

    it(`texad metrics --json equals the reference: ${name}`, async () => {
      const { expected, dir } = fixture(name);
      const args = ['metrics', '--scores', join(dir, 'scores.npy'), '--labels', join(dir, 'labels.npy'), '--json'];
      if (expected.pixel) args.push('--pixel');
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      try {
        expect(await main(args)).toBe(0);
        expectGolden(JSON.parse(String(log.mock.calls[0]![0])), expected);
      } finally {
        log.mockRestore();
      }
    });
  }

  it('streams through many small chunks to the same bits as one chunk', () => {
    for (const name of ['ties', 'float64', 'pixel-set', 'pixel-float64']) {
      const { scores, labels, expected } = fixture(name);
      const s = scores.data as Float32Array;
      if (expected.pixel) {
        const [, h, w] = scores.shape as [number, number, number];
        const one = createPixelMetrics().add(s, labels.data, h, w).compute();
        const small = createPixelMetrics({ chunkSize: 97 }).add(s, labels.data, h, w).compute();
        sameBits(one, small);
      } else {
        const one = createImageMetrics().add(s, labels.data).compute();
        const small = createImageMetrics({ chunkSize: 7 }).add(s, labels.data).compute();
        sameBits(one, small);
      }
    }
  });
});

describe('merging shards', () => {
  it('random shard splits merge to the unsplit result bit for bit (pixel)', () => {
    const { scores, labels } = fixture('pixel-set');
    const [k, h, w] = scores.shape as [number, number, number];
    const px = h * w;
    const s = scores.data as Float32Array;
    const m = labels.data as Uint8Array;
    // Every fourth map arrives as float64 values no float32 can hold: shards holding one switch to 64-bit keys
    // (pixel states widen, with their region mass) and must still merge exactly with 32-bit shards.
    const maps = Array.from({ length: k }, (_, i) => {
      const img = s.subarray(i * px, (i + 1) * px);
      return i % 4 === 0 ? Float64Array.from(img, (v) => v + 2 ** -40) : img;
    });
    const wholeAcc = createPixelMetrics();
    maps.forEach((map, i) => wholeAcc.add(map, m.subarray(i * px, (i + 1) * px), h, w));
    const whole = wholeAcc.compute();
    const rand = rng(7);
    for (let trial = 0; trial < 12; trial++) {
      const shards = Array.from({ length: 1 + Math.floor(rand() * 5) }, () =>
        createPixelMetrics({ chunkSize: 1 + Math.floor(rand() * 4000) }),
      );
      const order = Array.from({ length: k }, (_, i) => i).sort(() => rand() - 0.5);
      for (const i of order) {
        const shard = shards[Math.floor(rand() * shards.length)]!;
        shard.add(maps[i]!, m.subarray(i * px, (i + 1) * px), h, w);
      }
      // Merge in a random tree, passing some shards through serialize/deserialize on the way.
      let pool = shards.map((sh) => (rand() < 0.5 ? deserializeMetrics(sh.serialize()) : sh));
      while (pool.length > 1) {
        const a = pool.splice(Math.floor(rand() * pool.length), 1)[0]!;
        const b = pool.splice(Math.floor(rand() * pool.length), 1)[0]!;
        pool.push(a.merge(b as never));
      }
      sameBits(whole, pool[0]!.compute());
    }
  });

  it('random shard splits merge to the unsplit result bit for bit (image, float64 scores)', () => {
    const { scores, labels } = fixture('float64');
    const s = scores.data as Float64Array;
    const l = labels.data;
    const whole = imageMetrics(s, l);
    const rand = rng(11);
    for (let trial = 0; trial < 12; trial++) {
      const shards = Array.from({ length: 2 + Math.floor(rand() * 4) }, () => createImageMetrics({ chunkSize: 50 }));
      for (let from = 0; from < s.length; ) {
        const n = 1 + Math.floor(rand() * 200);
        shards[Math.floor(rand() * shards.length)]!.add(s.subarray(from, from + n), l.subarray(from, from + n) as BigInt64Array);
        from += n;
      }
      const merged = shards.reduce((a, b) => a.merge(deserializeMetrics(b.serialize()) as typeof a));
      sameBits(whole, merged.compute());
    }
  });

  it('merges a float32 shard with a float64 shard exactly (32-bit keys widen to 64-bit)', () => {
    const { scores, labels } = fixture('ties');
    const s32 = scores.data as Float32Array;
    const l = labels.data as Uint8Array;
    // Half of the data as float64 values no float32 can hold, tied with each other across classes.
    const s64 = Float64Array.from(s32, (v, i) => (i % 3 === 0 ? v + 1e-9 : v));
    const half = s32.length / 2;
    const whole = createImageMetrics({ chunkSize: 300 }).add(s32.subarray(0, half), l.subarray(0, half));
    whole.add(s64.subarray(half), l.subarray(half));
    const a = createImageMetrics().add(s32.subarray(0, half), l.subarray(0, half));
    const b = createImageMetrics().add(s64.subarray(half), l.subarray(half));
    const ab = deserializeMetrics(a.serialize()).merge(b as never).compute();
    const ba = b.merge(a as never).compute();
    const merged = new Float64Array(s32.length);
    merged.set(s32.subarray(0, half));
    merged.set(s64.subarray(half), half);
    const want = reference(Array.from(merged), Array.from(l));
    sameBits(whole.compute(), ab);
    sameBits(ab, ba);
    expect(Math.abs(ab.auroc - want.auroc)).toBeLessThan(1e-12);
    expect(ab.f1Threshold).toBe(want.f1Threshold);
  });

  it('refuses to merge image metrics into pixel metrics', () => {
    const img = createImageMetrics().add([0.5, 0.2], [1, 0]);
    const pix = createPixelMetrics().add([0.5, 0.2], [1, 0], 1, 2);
    expect(() => pix.merge(img as never)).toThrow(/cannot merge image metrics into pixel metrics/);
  });
});

/** Brute-force references straight from the definitions, for random small inputs. */
function reference(scores: number[], labels: number[]) {
  const P = labels.filter((l) => l === 1).length;
  const N = labels.length - P;
  let u = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      u += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  const thresholds = [...new Set(scores)].sort((a, b) => b - a);
  let ap = 0;
  let prevRecall = 0;
  let f1max = -1;
  let f1Threshold = NaN;
  for (const t of thresholds) {
    const tp = scores.filter((s, i) => s >= t && labels[i] === 1).length;
    const fp = scores.filter((s, i) => s >= t && labels[i] === 0).length;
    ap += (tp / P - prevRecall) * (tp / (tp + fp));
    prevRecall = tp / P;
    const f1 = (2 * tp) / (tp + fp + P);
    if (f1 >= f1max) {
      f1max = f1;
      f1Threshold = t;
    }
  }
  return { auroc: u / (P * N), ap, f1max, f1Threshold };
}

describe('random data against brute force', () => {
  it('AUROC, AP and F1-max match the definitions for random ties and signs', () => {
    const rand = rng(3);
    for (let trial = 0; trial < 60; trial++) {
      const n = 2 + Math.floor(rand() * 150);
      const levels = 1 + Math.floor(rand() * 30);
      const scores = Array.from({ length: n }, () => Math.fround((Math.floor(rand() * levels) - levels / 2) * 0.37));
      const labels = Array.from({ length: n }, () => (rand() < 0.4 ? 1 : 0));
      labels[0] = 1;
      labels[1] = 0;
      const want = reference(scores, labels);
      const got = imageMetrics(Float32Array.from(scores), labels);
      expect(Math.abs(got.auroc - want.auroc)).toBeLessThan(1e-12);
      expect(Math.abs(got.ap - want.ap)).toBeLessThan(1e-12);
      expect(Math.abs(got.f1max - want.f1max)).toBeLessThan(1e-12);
      expect(got.f1Threshold).toBe(want.f1Threshold);
    }
  });

  it('counts 8-connected regions like a flood fill', () => {
    const rand = rng(5);
    for (let trial = 0; trial < 30; trial++) {
      const h = 1 + Math.floor(rand() * 40);
      const w = 1 + Math.floor(rand() * 40);
      const density = rand() * 0.7;
      const mask = Uint8Array.from({ length: h * w }, () => (rand() < density ? 1 : 0));
      const seen = new Uint8Array(h * w);
      let regions = 0;
      for (let i = 0; i < h * w; i++) {
        if (!mask[i] || seen[i]) continue;
        regions++;
        const stack = [i];
        seen[i] = 1;
        while (stack.length) {
          const p = stack.pop()!;
          const y = Math.floor(p / w);
          const x = p % w;
          for (let dy = -1; dy <= 1; dy++) {
            for (let dx = -1; dx <= 1; dx++) {
              const yy = y + dy;
              const xx = x + dx;
              const q = yy * w + xx;
              if (yy >= 0 && yy < h && xx >= 0 && xx < w && mask[q] && !seen[q]) {
                seen[q] = 1;
                stack.push(q);
              }
            }
          }
        }
      }
      const scores = Float32Array.from({ length: h * w }, () => rand());
      const r = pixelMetrics(scores, mask, h, w);
      expect(r.regions).toBe(regions);
    }
  });
});

describe('exact counts beyond 2^32', () => {
  it('keeps equal scores whose counts overflow u32 as separate runs', () => {
    const a = { suf: new Uint16Array([3, 9]), cnt: new Uint32Array([0xffffffff, 1]) };
    const b = { suf: new Uint16Array([3, 9]), cnt: new Uint32Array([7, 2]) };
    const m = mergeRuns(a, b);
    expect([...m.suf]).toEqual([3, 3, 9]);
    expect([...m.cnt]).toEqual([0xffffffff, 7, 3]);
  });

  it('computes AUROC from a 128-bit Mann-Whitney numerator', () => {
    // 2^32 + 4 negatives at score 0; 2^32 - 1 positives at 0 and 2^32 - 1 at 1: AUROC = (1 + 0.5) / 2 exactly.
    const s = new RunState('image', 32);
    const keyOf = (v: number) => (new Uint32Array(new Float32Array([v]).buffer)[0]! | 0x80000000) >>> 0;
    s.ingest(false, new Uint32Array([keyOf(0)]), 1, new Uint32Array([0xffffffff]));
    s.ingest(false, new Uint32Array([keyOf(0)]), 1, new Uint32Array([5]));
    s.ingest(true, new Uint32Array([keyOf(0), keyOf(1)]), 2, new Uint32Array([0xffffffff, 0xffffffff]));
    s.negatives = 2 ** 32 + 4;
    s.positives = 2 * (2 ** 32 - 1);
    const r = deserializeMetrics(serializeState(s)).compute();
    expect(r.auroc).toBe(0.75);
    expect(r.f1Threshold).toBe(0);
    expect(r.negatives).toBe(2 ** 32 + 4);
  });
});

describe('bad input', () => {
  it('names NaN and infinite scores', () => {
    expect(() => imageMetrics([0.1, NaN, 0.3], [0, 1, 0])).toThrow(/scores\[1\] is NaN; metrics need finite scores/);
    expect(() => imageMetrics(new Float32Array([0.1, 0.2, Infinity]), [0, 1, 0])).toThrow(/scores\[2\] is Infinity/);
    const maps = new Float32Array(2 * 3 * 4).fill(0.5);
    maps[12 + 4 + 2] = -Infinity;
    expect(() => pixelMetrics(maps, new Uint8Array(24), 3, 4)).toThrow(/scores\[1, 1, 2\] is -Infinity/);
  });

  it('refuses labels other than 0/1', () => {
    expect(() => imageMetrics([0.1, 0.2], new Uint8Array([0, 255]))).toThrow(/labels\[1\] is 255; labels and masks must be 0 or 1/);
    expect(() => imageMetrics([0.1, 0.2], [0, -1])).toThrow(/labels\[1\] is -1/);
    expect(() => imageMetrics([0.1, 0.2], new BigInt64Array([1n, 2n]))).toThrow(/labels\[1\] is 2/);
    expect(() => pixelMetrics(new Float32Array(4), new Uint8Array([0, 0, 0, 2]), 2, 2)).toThrow(/mask\[0, 1, 1\] is 2/);
  });

  it('refuses length and shape mismatches', () => {
    expect(() => imageMetrics([0.1, 0.2, 0.3], [0, 1])).toThrow(/scores has 3 values but labels has 2/);
    expect(() => pixelMetrics(new Float32Array(10), new Uint8Array(10), 2, 2)).toThrow(/not a whole number of 2 x 2 images/);
    expect(() => pixelMetrics(new Float32Array(8), new Uint8Array(4), 2, 2)).toThrow(/scores has 8 values but mask has 4/);
  });

  it('reports undefined metrics as NaN with the reason', () => {
    const neg = imageMetrics([0.1, 0.2], [0, 0]);
    expect(neg.auroc).toBeNaN();
    expect(neg.ap).toBeNaN();
    expect(neg.f1max).toBeNaN();
    expect(neg.nanReasons.auroc).toMatch(/only negatives are present; AUROC needs both classes/);
    const pos = imageMetrics([0.1, 0.2], [1, 1]);
    expect(pos.auroc).toBeNaN();
    expect(pos.nanReasons.auroc).toMatch(/only positives/);
    expect(pos.ap).toBe(1);
    const normal = pixelMetrics(new Float32Array([0.1, 0.2, 0.3, 0.4]), new Uint8Array(4), 2, 2);
    expect(normal.aupro).toBeNaN();
    expect(normal.nanReasons.aupro).toMatch(/no defect region/);
    const empty = createPixelMetrics().compute();
    expect(empty.nanReasons.aupro).toBe('no scores were added');
    expect(auroc([], [])).toBeNaN();
  });

  it('one-shot calls work again after their pooled memory is released', () => {
    expect(auroc([0.1, 0.9], [0, 1])).toBe(1);
    releaseMetricsMemory();
    expect(auroc([0.9, 0.1], [0, 1])).toBe(0);
  });

  it('a failure midway through an add() leaves a refusing accumulator', () => {
    const acc = createPixelMetrics();
    const maps = new Float32Array(3 * 4).fill(0.5);
    maps[9] = NaN;
    expect(() => acc.add(maps, new Uint8Array(12), 2, 2)).toThrow(/scores\[2, 0, 1\] is NaN/);
    expect(() => acc.compute()).toThrow(/an earlier add\(\) failed after part of its data was added/);
    // A bad first image appends nothing, so the accumulator stays usable.
    const ok = createPixelMetrics();
    expect(() => ok.add(new Float32Array([NaN, 0, 0, 0]), new Uint8Array(4), 2, 2)).toThrow(/NaN/);
    expect(ok.add(new Float32Array([1, 0, 0, 0]), new Uint8Array([1, 0, 0, 0]), 2, 2).compute().auroc).toBe(1);
  });

  it('refuses corrupt states', () => {
    const bytes = createImageMetrics().add([0.3, 0.1], [1, 0]).serialize();
    expect(() => deserializeMetrics(bytes.subarray(0, 20))).toThrow(/shorter than the header/);
    const wrong = bytes.slice();
    wrong[0] = 0;
    expect(() => deserializeMetrics(wrong)).toThrow(/not a texad metrics state/);
    const counts = bytes.slice();
    new DataView(counts.buffer).setFloat64(16, 5, true);
    expect(() => deserializeMetrics(counts)).toThrow(/run counts disagree with its totals/);
  });
});

describe('texad metrics CLI', () => {
  const run = async (args: string[]) => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const code = await main(['metrics', ...args]);
      return { code, out: log.mock.calls.map((c) => String(c[0])).join('\n'), err: err.mock.calls.map((c) => String(c[0])).join('\n') };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  };

  it('saves shard states and merges them to the whole', async () => {
    const { scores, labels, expected } = fixture('pixel-set');
    const [k, h, w] = scores.shape as [number, number, number];
    const dir = mkdtempSync(join(tmpdir(), 'texad-metrics-'));
    const half = (k / 2) * h * w;
    const states: string[] = [];
    for (const [i, [a, b]] of [[0, half], [half, k * h * w]].entries()) {
      writeFileSync(join(dir, `s${i}.npy`), writeNpy((scores.data as Float32Array).slice(a, b), [k / 2, h, w]));
      writeFileSync(join(dir, `l${i}.npy`), writeNpy((labels.data as Uint8Array).slice(a, b), [k / 2, h, w], '|b1'));
      const state = join(dir, `state${i}.bin`);
      const r = await run(['--scores', join(dir, `s${i}.npy`), '--labels', join(dir, `l${i}.npy`), '--pixel', '--save-state', state]);
      expect(r.code).toBe(0);
      states.push(state);
    }
    const merged = await run(['--merge', ...states, '--json']);
    expect(merged.code).toBe(0);
    expectGolden(JSON.parse(merged.out), expected);
  });

  it('takes a single H x W map with --pixel', async () => {
    const { scores, labels, expected } = fixture('pixel-single');
    const [, h, w] = scores.shape as [number, number, number];
    const dir = mkdtempSync(join(tmpdir(), 'texad-metrics-'));
    writeFileSync(join(dir, 's.npy'), writeNpy(scores.data as Float32Array, [h, w]));
    writeFileSync(join(dir, 'l.npy'), writeNpy(labels.data as Uint8Array, [h, w]));
    const r = await run(['--scores', join(dir, 's.npy'), '--labels', join(dir, 'l.npy'), '--pixel', '--json']);
    expect(r.code).toBe(0);
    expectGolden(JSON.parse(r.out), expected);
  });

  it('prints a readable table with reasons for NaN', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'texad-metrics-'));
    writeFileSync(join(dir, 's.npy'), writeNpy(new Float32Array([0.2, 0.1]), [2]));
    writeFileSync(join(dir, 'l.npy'), writeNpy(new Uint8Array([0, 0]), [2]));
    const r = await run(['--scores', join(dir, 's.npy'), '--labels', join(dir, 'l.npy')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^auroc {6}NaN \(only negatives are present/);
    expect(r.out).toMatch(/negatives {2}2/);
  });

  it('names shape and dtype problems', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'texad-metrics-'));
    writeFileSync(join(dir, 's.npy'), writeNpy(new Float32Array(8), [2, 2, 2]));
    writeFileSync(join(dir, 'l.npy'), writeNpy(new Uint8Array(8), [2, 4]));
    writeFileSync(join(dir, 'f.npy'), writeNpy(new Float32Array(8), [2, 2, 2]));
    writeFileSync(join(dir, 'i.npy'), writeNpy(new Int32Array(8), [2, 2, 2]));
    expect((await run(['--scores', join(dir, 's.npy'), '--labels', join(dir, 'l.npy'), '--pixel'])).err).toMatch(
      /shape mismatch: scores are \(2, 2, 2\), labels \(2, 4\)/,
    );
    expect((await run(['--scores', join(dir, 's.npy'), '--labels', join(dir, 'f.npy'), '--pixel'])).err).toMatch(
      /labels are <f4; use bool, uint8 or int/,
    );
    expect((await run(['--scores', join(dir, 'i.npy'), '--labels', join(dir, 'i.npy'), '--pixel'])).err).toMatch(
      /scores are <i4; use float32 or float64/,
    );
    expect((await run(['--scores', join(dir, 's.npy'), '--labels', join(dir, 'i.npy')])).err).toMatch(
      /image metrics need 1-D arrays; these are \(2, 2, 2\) \(anomaly maps need --pixel\)/,
    );
    expect((await run(['--labels', join(dir, 'i.npy')])).code).toBe(2);
    expect((await run(['--merge', '--json', 'a.bin'])).err).toMatch(/--json takes no value, got 'a.bin'/);
  });
});

describe('portability', () => {
  it('runs unbuilt under Deno', () => {
    const dir = mkdtempSync(join(tmpdir(), 'texad-metrics-'));
    const script = join(dir, 'check.ts');
    const entry = join(import.meta.dirname, '..', 'src', 'metrics', 'index.ts');
    writeFileSync(script, `import { imageMetrics } from ${JSON.stringify(entry)};\n` +
      'console.log(JSON.stringify(imageMetrics(new Float32Array([0.1, 0.4, 0.35, 0.8]), [0, 0, 1, 1])));\n');
    const deno = join(import.meta.dirname, '..', 'node_modules', '.bin', 'deno');
    const out = JSON.parse(execFileSync(deno, ['run', '--no-prompt', `--allow-read=${join(import.meta.dirname, '..')},${dir}`, script], { encoding: 'utf8' }));
    expect(out.auroc).toBe(0.75);
    expect(out.ap).toBeCloseTo(0.8333333333333333, 15);
    expect(out.f1Threshold).toBe(Math.fround(0.35));
  });
});
