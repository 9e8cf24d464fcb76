// The decode suite (issue 18): images/s of decoding 1024² PNG and JPEG files and resizing them to 256², on the
// calling thread (what BatchLoader does without a pool) against a DecodePool of worker threads, sampled in
// interleaved rounds. CPU only: no adapter is opened. The workers also leave the main thread free to queue GPU
// work, which images/s does not show.
import { availableParallelism, loadavg } from 'node:os';
import jpeg from 'jpeg-js';
import { DecodePool } from '../src/data/decode-pool.ts';
import { encodePng } from '../src/data/encode.ts';
import { imageFromBytes } from '../src/data/image.ts';
import { interleavedRounds, median, perRoundSpeedup } from './harness.ts';

const SIDE = 1024;
const TARGET = 256;

export interface DecodeBenchOptions {
  /** Files per format decoded per sample (default 8). */
  images?: number;
  rounds?: number;
  /** Pool sizes to compare with the calling thread (default 1 and the core count). */
  workers?: number[];
  log?: (line: string) => void;
}

export interface DecodeRow {
  format: 'png' | 'jpeg';
  /** Median images/s per contestant: 'in-thread', 'workers N'. */
  imagesPerSecond: Record<string, number>;
  /** Median per-round speed-up of each pool over the calling thread. */
  speedup: Record<string, number>;
  fileBytes: number;
}

export interface DecodeBenchReport {
  images: number;
  side: number;
  target: number;
  cores: number;
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
  rows: DecodeRow[];
}

/** A 1024² photograph-like texture (smooth gradients, a weave and noise) so that PNG compresses realistically. */
function texture(seed: number): Uint8Array {
  const px = new Uint8Array(SIDE * SIDE * 3);
  let s = seed * 2654435761 >>> 0;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      const weave = 40 * Math.sin(x * 0.21 + seed) * Math.cos(y * 0.17);
      const base = 110 + 60 * Math.sin((x + y) / 180 + seed) + weave + ((s >>> 24) % 24);
      const i = 3 * (y * SIDE + x);
      px[i] = Math.max(0, Math.min(255, base + 20));
      px[i + 1] = Math.max(0, Math.min(255, base));
      px[i + 2] = Math.max(0, Math.min(255, base - 25));
    }
  }
  return px;
}

function files(count: number): Record<'png' | 'jpeg', Uint8Array[]> {
  const out = { png: [] as Uint8Array[], jpeg: [] as Uint8Array[] };
  for (let k = 0; k < count; k++) {
    const rgb = texture(k);
    out.png.push(encodePng(rgb, SIDE, SIDE, 3));
    const rgba = new Uint8Array(SIDE * SIDE * 4);
    for (let i = 0; i < SIDE * SIDE; i++) rgba.set([rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!, 255], 4 * i);
    out.jpeg.push(new Uint8Array(jpeg.encode({ data: rgba, width: SIDE, height: SIDE }, 90).data));
  }
  return out;
}

interface Contestant {
  name: string;
  run(bytes: readonly Uint8Array[]): Promise<void>;
  roundsMs: number[];
}

export async function runDecodeBench(opts: DecodeBenchOptions = {}): Promise<DecodeBenchReport> {
  const log = opts.log ?? (() => {});
  const count = opts.images ?? 8;
  const rounds = opts.rounds ?? 5;
  const sizes = [...new Set(opts.workers ?? [1, availableParallelism()])];
  const report: DecodeBenchReport = {
    images: count, side: SIDE, target: TARGET, cores: availableParallelism(), loadAverageAtStart: loadavg(), loadAverageAtEnd: [], rows: [],
  };
  log(`decode: encoding ${count} ${SIDE}² PNG and JPEG files`);
  const data = files(count);
  const pools = await Promise.all(sizes.map((n) => DecodePool.create(n)));
  try {
    for (const format of ['png', 'jpeg'] as const) {
      const bytes = data[format];
      const contestants: Contestant[] = [
        { name: 'in-thread', roundsMs: [], run: async (b) => { for (const f of b) imageFromBytes(f, { size: TARGET }); } },
        ...pools.map((pool) => ({
          name: `workers ${pool.size}`, roundsMs: [] as number[],
          run: async (b: readonly Uint8Array[]) => { await Promise.all(b.map((f) => pool.image(f, { size: TARGET }))); },
        })),
      ];
      for (const c of contestants) await c.run(bytes.slice(0, 1)); // warm-up: JIT, worker start
      await interleavedRounds(contestants, rounds, async (c) => {
        const start = performance.now();
        await c.run(bytes);
        return performance.now() - start;
      }, async (_, err) => { throw err; }, (round) => log(`  ${format} round ${round + 1}/${rounds}: ` +
        contestants.map((c) => `${c.name} ${c.roundsMs.at(-1)!.toFixed(0)} ms`).join(', ')));
      const inThread = contestants[0]!.roundsMs;
      report.rows.push({
        format,
        fileBytes: Math.round(bytes.reduce((n, b) => n + b.length, 0) / bytes.length),
        imagesPerSecond: Object.fromEntries(contestants.map((c) => [c.name, count / (median(c.roundsMs) / 1000)])),
        speedup: Object.fromEntries(contestants.slice(1).map((c) => [c.name, perRoundSpeedup(inThread, c.roundsMs)])),
      });
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  report.loadAverageAtEnd = loadavg();
  return report;
}

export function formatDecodeReport(r: DecodeBenchReport): string {
  const lines = [`decode (${r.images} files of ${r.side}² per format, resized to ${r.target}², ${r.cores} cores; load average ` +
    `${r.loadAverageAtStart[0]!.toFixed(1)} at start, ${r.loadAverageAtEnd[0]!.toFixed(1)} at end): images/s, speed-up over the calling thread`];
  for (const row of r.rows) {
    lines.push(`  ${row.format} (${(row.fileBytes / 1024).toFixed(0)} KiB/file): ` +
      Object.entries(row.imagesPerSecond).map(([k, v]) => `${k} ${v.toFixed(1)}${row.speedup[k] ? ` (${row.speedup[k]!.toFixed(2)}x)` : ''}`).join(', '));
  }
  return lines.join('\n');
}
