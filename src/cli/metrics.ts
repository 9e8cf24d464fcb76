import { openSync, readSync, closeSync, fstatSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from './main.ts';
import { parseArgs, boolFlag, numberFlag, UsageError, type ParsedArgs } from './args.ts';
import { NPY_PREAMBLE_BYTES, npyElements, npyHeaderLength, parseNpyHeader, type NpyHeader } from '../io/npy.ts';
import {
  ImageMetrics,
  PixelMetrics,
  deserializeMetrics,
  type ImageMetricsResult,
  type PixelMetricsResult,
} from '../metrics/index.ts';

const SCORE_DTYPES = ['<f4', '<f8'];
const LABEL_DTYPES = ['|u1', '|b1', '<i4', '<i8', '<u2', '<i2'];
/** Elements read per piece of a 1-D file. */
const PIECE = 1 << 22;

export const command: Command = {
  summary: 'exact AUROC, AP, F1-max (and pixel AUPRO) from .npy scores and labels',
  help: `usage: texad metrics --scores FILE.npy --labels FILE.npy [--pixel] [--json] [--save-state FILE]
       texad metrics --merge STATE [STATE...] [--json]

Computes anomaly-detection metrics exactly (AUROC, AP and F1 equal scikit-learn's; AUPRO follows the MVTec AD
evaluation) and prints them. Files are streamed, so arrays may be larger than memory.
  --scores FILE    float32 or float64 .npy scores, higher = more anomalous
  --labels FILE    bool/uint8/int .npy 0/1 labels (1 = anomalous), same shape as the scores
  --pixel          pixel metrics: scores are N x H x W anomaly maps (or one H x W map) and labels the ground-truth
                   masks; adds AUPRO (8-connected regions, FPR limit 0.3). Without it both arrays are 1-D.
  --json           print JSON (NaN metrics as null, with the reason under nanReasons)
  --save-state F   also write the exact metric state to F; states of disjoint shards merge with --merge
  --merge          the positional arguments are states written by --save-state: merge them and print the metrics
  --chunk-size N   scores sorted per chunk (default 4194304); memory is about 8 (image) or 20 (pixel) bytes each`,
  async run(argv) {
    const args = parseArgs(argv);
    for (const name of ['pixel', 'json']) {
      const v = args.flags.get(name);
      if (typeof v === 'string') throw new UsageError(`--${name} takes no value, got '${v}' (state files go right after --merge)`);
    }
    const chunk = args.flags.has('chunk-size') ? { chunkSize: numberFlag(args, 'chunk-size') } : undefined;
    let acc: ImageMetrics | PixelMetrics;
    if (boolFlag(args, 'merge')) {
      acc = mergeStates(args, chunk);
    } else {
      const scoresPath = fileFlag(args, 'scores');
      const labelsPath = fileFlag(args, 'labels');
      if (args.positional.length > 0) throw new UsageError(`unexpected argument '${args.positional[0]}'`);
      acc = boolFlag(args, 'pixel') ? new PixelMetrics(chunk) : new ImageMetrics(chunk);
      accumulate(acc, scoresPath, labelsPath);
    }
    const statePath = args.flags.get('save-state');
    if (statePath !== undefined) {
      if (statePath === true) throw new UsageError('missing --save-state FILE');
      writeFileSync(statePath, acc.serialize());
    }
    const result = acc.compute();
    console.log(boolFlag(args, 'json') ? JSON.stringify(result, null, 2) : format(result));
    return 0;
  },
};

function fileFlag(args: ParsedArgs, name: string): string {
  const v = args.flags.get(name);
  if (v === undefined || v === true) throw new UsageError(`missing --${name} FILE.npy`);
  return v;
}

function mergeStates(args: ParsedArgs, chunk: { chunkSize: number } | undefined): ImageMetrics | PixelMetrics {
  // parseArgs binds the first path to --merge itself.
  const first = args.flags.get('merge');
  const paths = [...(typeof first === 'string' ? [first] : []), ...args.positional];
  if (paths.length === 0) throw new UsageError('--merge needs at least one state file');
  let acc: ImageMetrics | PixelMetrics | undefined;
  for (const path of paths) {
    let next: ImageMetrics | PixelMetrics;
    try {
      next = deserializeMetrics(readFileSync(path), chunk);
    } catch (err) {
      throw new Error(`${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (acc && acc.kind !== next.kind) throw new Error(`${path} holds ${next.kind} metrics, ${paths[0]} ${acc.kind} metrics`);
    acc = acc ? (acc as PixelMetrics).merge(next as PixelMetrics) : next;
  }
  return acc!;
}

/** An open .npy file read piece by piece. */
class NpyFile {
  readonly header: NpyHeader;
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      const pre = new Uint8Array(NPY_PREAMBLE_BYTES);
      readSync(this.fd, pre, 0, pre.length, 0);
      const length = npyHeaderLength(pre);
      const head = new Uint8Array(NPY_PREAMBLE_BYTES + length);
      readSync(this.fd, head, 0, head.length, 0);
      this.header = parseNpyHeader(head);
      const expected = this.header.dataOffset + this.header.size * this.header.itemSize;
      const actual = fstatSync(this.fd).size;
      if (actual < expected) throw new Error(`truncated: ${actual} bytes, the header promises ${expected}`);
    } catch (err) {
      closeSync(this.fd);
      throw new Error(`${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Elements [from, from + count). */
  read(from: number, count: number) {
    const h = this.header;
    const bytes = new Uint8Array(count * h.itemSize);
    readSync(this.fd, bytes, 0, bytes.length, h.dataOffset + from * h.itemSize);
    return npyElements(h.dtype, bytes, 0, count);
  }

  close(): void {
    closeSync(this.fd);
  }
}

function accumulate(acc: ImageMetrics | PixelMetrics, scoresPath: string, labelsPath: string): void {
  const scores = new NpyFile(scoresPath);
  let labels: NpyFile | undefined;
  try {
    labels = new NpyFile(labelsPath);
    const s = scores.header;
    const l = labels.header;
    if (!SCORE_DTYPES.includes(s.dtype)) {
      throw new Error(`${scoresPath}: scores are ${s.dtype}; use float32 or float64 (scores.astype(np.float32))`);
    }
    if (!LABEL_DTYPES.includes(l.dtype)) {
      throw new Error(`${labelsPath}: labels are ${l.dtype}; use bool, uint8 or int 0/1 labels (labels.astype(np.uint8))`);
    }
    if (s.shape.join() !== l.shape.join()) {
      throw new Error(`shape mismatch: scores are (${s.shape.join(', ')}), labels (${l.shape.join(', ')}); they must be equal`);
    }
    if (acc instanceof PixelMetrics) {
      if (s.shape.length !== 2 && s.shape.length !== 3) {
        throw new Error(`--pixel needs N x H x W (or H x W) arrays; these are (${s.shape.join(', ')})`);
      }
      const [h, w] = s.shape.slice(-2) as [number, number];
      const px = h * w;
      for (let from = 0; from < s.size; from += px) {
        acc.add(scores.read(from, px) as Float32Array | Float64Array, labels.read(from, px), h, w);
      }
    } else {
      if (s.shape.length !== 1) {
        throw new Error(`image metrics need 1-D arrays; these are (${s.shape.join(', ')}) (anomaly maps need --pixel)`);
      }
      for (let from = 0; from < s.size; from += PIECE) {
        const n = Math.min(PIECE, s.size - from);
        acc.add(scores.read(from, n) as Float32Array | Float64Array, labels.read(from, n));
      }
    }
  } finally {
    scores.close();
    labels?.close();
  }
}

function format(r: ImageMetricsResult | PixelMetricsResult): string {
  const reasons = r.nanReasons as Record<string, string | undefined>;
  const metric = (name: string, v: number, extra = ''): string =>
    `${name.padEnd(10)} ${Number.isNaN(v) ? `NaN (${reasons[name]})` : v.toPrecision(10)}${extra}`;
  const lines = [metric('auroc', r.auroc)];
  if ('aupro' in r) lines.push(metric('aupro', r.aupro));
  lines.push(metric('ap', r.ap));
  lines.push(metric('f1max', r.f1max, Number.isNaN(r.f1max) ? '' : ` at threshold ${r.f1Threshold}`));
  lines.push(`${'positives'.padEnd(10)} ${r.positives}`, `${'negatives'.padEnd(10)} ${r.negatives}`);
  if ('regions' in r) lines.push(`${'regions'.padEnd(10)} ${r.regions}`);
  return lines.join('\n');
}
