// Streaming, mergeable metric accumulators. Scores are staged into the kernel's linear memory piece by piece,
// keyed and split by class there, and every `chunkSize` scores the chunk is radix-sorted, compressed to runs of
// equal scores and merged into the RunState. Nothing holds all scores at once.
import { proCurve, rocCurve, type Curve, type CurveOptions } from './curves.ts';
import { Kernel } from './kernel.ts';
import { RunState, deserializeState, serializeState, type Kind } from './state.ts';

/** Scores: float32 scores keep 32-bit keys; float64 (or plain numbers) switch to 64-bit keys unless every value is exactly a float32. */
export type ScoreArray = Float32Array | Float64Array | ArrayLike<number>;
/** Labels or mask values: 0/1 numbers (any typed array, BigInt64Array included) or booleans. */
export type LabelArray = ArrayLike<number | boolean> | BigInt64Array;

export interface MetricsOptions {
  /**
   * Scores sorted together per chunk (default 4,194,304). Larger chunks mean fewer merges; the kernel memory is
   * about 8 bytes per chunk score for image metrics and 20 for pixel metrics (twice the key bytes for float64).
   */
  chunkSize?: number;
}

export type MetricName = 'auroc' | 'ap' | 'f1max' | 'aupro';

export interface ImageMetricsResult {
  /** Area under the ROC curve; ties get half credit (scikit-learn roc_auc_score). */
  auroc: number;
  /** Average precision, scikit-learn's step definition (average_precision_score). */
  ap: number;
  /** Maximum over thresholds of F1 = 2PR/(P+R). */
  f1max: number;
  /** The lowest score threshold (score >= threshold is anomalous) attaining f1max. */
  f1Threshold: number;
  positives: number;
  negatives: number;
  /** Why a metric is NaN (undefined for this data), by metric name. */
  nanReasons: Partial<Record<MetricName, string>>;
}

export interface PixelMetricsResult extends ImageMetricsResult {
  /** Area under the per-region-overlap curve up to FPR 0.3, divided by 0.3 (MVTec AD definition). */
  aupro: number;
  /** Connected ground-truth regions (8-connectivity) over all images. */
  regions: number;
}

const DEFAULT_CHUNK = 1 << 22;
const MAX_STAGE = 1 << 20;

function chunkOption(options: MetricsOptions | undefined): number {
  const c = options?.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isSafeInteger(c) || c < 1) throw new Error(`chunkSize must be a positive integer, got ${c}`);
  return c;
}

/** Totals of the data a sweep covered. */
interface Totals {
  negatives: number;
  positives: number;
  regions: number;
}

/** A compressed chunk still in kernel memory: ascending runs of each class (pointers), and its totals. */
interface ChunkRuns extends Totals {
  negKeys: number;
  negCnt: number;
  nNeg: number;
  posKeys: number;
  posCnt: number;
  nPos: number;
  /** Per-region-overlap columns (pixel metrics), else 0. */
  whole: number;
  hi: number;
  lo: number;
}

abstract class Accumulator<R extends ImageMetricsResult> {
  protected kernel: Kernel | undefined;
  protected pendingRegions = 0;
  /** Runs compressed for a compute() on an otherwise empty state, not yet copied into the state. */
  private unsettled: ChunkRuns | undefined;
  private broken: string | undefined;

  protected constructor(
    protected state: RunState,
    protected readonly chunkSize: number,
  ) {}

  get kind(): Kind {
    return this.state.kind;
  }

  /** Gives a fresh accumulator an existing kernel (see oneShot). */
  static lend(acc: Accumulator<ImageMetricsResult>, k: Kernel): void {
    if (acc.kernel) throw new Error('this accumulator already has its kernel');
    acc.kernel = k;
  }

  /** Folds another accumulator of the same kind into this one (states of disjoint shards give the whole's state). */
  merge(other: Accumulator<R>): this {
    this.usable();
    other.usable();
    this.flush();
    other.flush();
    this.state.merge(other.state);
    return this;
  }

  /** The exact state as bytes, for deserializeMetrics() in another process. */
  serialize(): Uint8Array {
    this.usable();
    this.flush();
    return serializeState(this.state);
  }

  /**
   * The ROC curve (FPR, TPR per distinct score) over everything added and merged so far, from the exact state:
   * its trapezoid area is the AUROC. Null when one class is missing. The accumulator stays usable.
   */
  rocCurve(opts?: CurveOptions): Curve | null {
    this.usable();
    this.flush();
    return rocCurve(this.state, opts);
  }

  /** Computes all metrics over everything added and merged so far; the accumulator stays usable. */
  compute(): R {
    this.usable();
    const k = (this.kernel ??= new Kernel());
    const s = this.state;
    if (s.negatives + s.positives === 0 && k.layout) {
      // Everything is in the kernel: sweep the chunk's runs where they are, and copy them into the state only if
      // the accumulator is used again. This is what makes one-shot calls fast.
      const r = (this.unsettled ??= this.compress());
      if (r) {
        k.x.walkBegin(r.negatives, r.positives, s.pro ? r.regions : 0);
        (s.keyBits === 64 ? k.x.walk64 : k.x.walk32)(r.negKeys, r.negCnt, r.nNeg, r.posKeys, r.posCnt, r.whole, r.hi, r.lo, r.nPos);
        return this.results(k, r);
      }
    }
    this.flush();
    s.sweep(k);
    return this.results(k, s);
  }

  protected abstract results(k: Kernel, totals: Totals): R;

  protected baseResults(k: Kernel, totals: Totals): ImageMetricsResult {
    const s = this.state;
    const x = k.x;
    const nanReasons: Partial<Record<MetricName, string>> = {};
    const N = totals.negatives;
    const P = totals.positives;
    const empty = N + P === 0 ? 'no scores were added' : undefined;
    let auroc = NaN;
    if (N > 0 && P > 0) {
      const u2 = (BigInt.asUintN(64, x.walkUHi()) << 64n) | BigInt.asUintN(64, x.walkULo());
      auroc = ratio(u2, 2n * BigInt(P) * BigInt(N));
    } else {
      nanReasons.auroc =
        empty ?? `only ${P === 0 ? 'negatives' : 'positives'} are present; AUROC needs both classes (scikit-learn: "Only one class present in y_true")`;
    }
    let ap = NaN;
    let f1max = NaN;
    let f1Threshold = NaN;
    if (P > 0) {
      ap = x.walkAp();
      f1max = x.walkF1();
      f1Threshold = s.keyScore(x.walkF1KeyLo() >>> 0, x.walkF1KeyHi() >>> 0);
    } else {
      const why = empty ?? 'there are no positives, so recall is undefined';
      nanReasons.ap = why;
      nanReasons.f1max = why;
    }
    return { auroc, ap, f1max, f1Threshold, positives: P, negatives: N, nanReasons };
  }

  protected usable(): void {
    if (this.broken !== undefined) {
      throw new Error(
        `this metrics accumulator is incomplete: an earlier add() failed after part of its data was added ` +
          `(${this.broken}); start a new accumulator`,
      );
    }
  }

  /** Runs `body`; if it throws after data was appended, the accumulator refuses further use. */
  protected guarded(body: (appended: () => void) => void): void {
    this.usable();
    this.settle();
    let appended = false;
    try {
      body(() => {
        appended = true;
      });
    } catch (err) {
      if (appended) this.broken = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  /** Makes sure the chunk can take `need` more scores with `stage` scores per staged piece. */
  protected room(need: number, stage: number, pixelCap: number): void {
    const k = (this.kernel ??= new Kernel());
    let L = k.layout;
    const bits = this.state.keyBits;
    const pixel = this.state.pro;
    const cap = Math.max(this.chunkSize, pixelCap);
    if (!L || L.keyBits !== bits || L.pixel !== pixel || L.stage < stage || L.cap < cap) {
      this.flush();
      L = k.configure(bits, pixel, cap, Math.max(stage, L?.stage ?? 0));
    }
    if (k.x.chunkNegatives() + k.x.chunkPositives() + need > L.cap) this.flush();
  }

  /**
   * Validates and keys `n` staged scores in place (f32 or f64 at F), widening the state to 64-bit keys when float64
   * scores are not all float32 values. `at` is the index of the first staged score, for messages.
   */
  protected keyStaged(double: boolean, n: number, at: number, where: Where): void {
    const k = this.kernel!;
    const x = k.x;
    let L = k.layout!;
    if (double) {
      const bad = x.firstNonFiniteF64(L.F, n);
      if (bad >= 0) throw nonFinite(where(at + bad), k.f64(L.F, n)[bad]!);
      if (L.keyBits === 32 && x.f64FitsF32(L.F, n)) {
        x.demoteF64(L.F, n);
        x.keysF32(L.F, n);
        return;
      }
      if (L.keyBits === 32) {
        // Staged data sits before the chunk and keeps its place: the stage size does not change.
        this.flush();
        this.state.widen();
        L = k.configure(64, L.pixel, L.cap, L.stage);
      }
      x.keysF64(L.F, n);
      return;
    }
    if (L.keyBits === 64) {
      x.promoteF32(L.F, n);
      const bad = x.keysF64(L.F, n);
      if (bad >= 0) throw nonFinite(where(at + bad), k.f64(L.F, n)[bad]!);
      return;
    }
    const bad = x.keysF32(L.F, n);
    if (bad >= 0) throw nonFinite(where(at + bad), k.f32(L.F, n)[bad]!);
  }

  /** Copies scores[from, from + n) into the staging area; returns whether they are staged as float64. */
  protected stageScores(scores: ScoreArray, from: number, n: number): boolean {
    const k = this.kernel!;
    const F = k.layout!.F;
    if (scores instanceof Float32Array) {
      k.f32(F, n).set(scores.subarray(from, from + n));
      return false;
    }
    const dst = k.f64(F, n);
    if (ArrayBuffer.isView(scores) && !(scores instanceof DataView) && !(scores instanceof BigInt64Array)) {
      dst.set((scores as Float64Array).subarray(from, from + n));
    } else {
      for (let i = 0; i < n; i++) dst[i] = Number(scores[from + i]);
    }
    return true;
  }

  /** Copies labels[from, from + n) as 0/1 bytes into the staging area, refusing anything else. */
  protected stageLabels(labels: LabelArray, from: number, n: number, where: Where): void {
    const k = this.kernel!;
    const M = k.layout!.M;
    const dst = k.u8(M, n);
    if (labels instanceof Uint8Array) {
      dst.set(labels.subarray(from, from + n));
      const bad = k.x.firstBadLabel(M, n);
      if (bad >= 0) throw badLabel(where(from + bad), labels[from + bad]!);
      return;
    }
    if (labels instanceof BigInt64Array) {
      // Read 64-bit labels as (low, high) 32-bit words rather than allocating a BigInt per element.
      const w = new Int32Array(labels.buffer, labels.byteOffset + from * 8, 2 * n);
      for (let i = 0; i < n; i++) {
        const lo = w[2 * i]!;
        if (w[2 * i + 1] !== 0 || (lo !== 0 && lo !== 1)) throw badLabel(where(from + i), labels[from + i]!);
        dst[i] = lo;
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const v = labels[from + i];
      if (v === 0 || v === false) dst[i] = 0;
      else if (v === 1 || v === true) dst[i] = 1;
      else throw badLabel(where(from + i), v);
    }
  }

  /** Moves everything added so far into the state. */
  protected flush(): void {
    this.settle();
    const r = this.compress();
    if (r) this.ingest(r);
  }

  /** Copies runs left in kernel memory by compute() into the state, before anything overwrites them. */
  protected settle(): void {
    const r = this.unsettled;
    this.unsettled = undefined;
    if (r) this.ingest(r);
  }

  /**
   * Sorts the chunk's positives and negatives and compresses each to runs, in kernel memory. Positives go first so
   * both run lists can coexist: their counts take T[0, runs) and the negatives sort in the rest of T.
   */
  private compress(): ChunkRuns | undefined {
    const k = this.kernel;
    const L = k?.layout;
    if (!k || !L) return undefined;
    const x = k.x;
    const nn = x.chunkNegatives();
    const np = x.chunkPositives();
    if (nn + np === 0) return undefined;
    const wide = L.keyBits === 64;
    const kw = wide ? 8 : 4;
    const sort = wide ? x.sort64 : x.sort32;
    const runs = wide ? x.runs64 : x.runs32;
    const posKeys = L.K + (L.cap + 1 - np) * kw;
    let nPos = 0;
    let whole = 0;
    let hi = 0;
    let lo = 0;
    if (np > 0) {
      if (L.pixel) {
        lo = L.P + 4 * (L.cap + 1 - np);
        whole = L.X;
        hi = L.U;
        sort(posKeys, lo, L.T, L.U, np);
        nPos = (wide ? x.proRuns64 : x.proRuns32)(posKeys, lo, np, L.T, whole, hi, lo);
      } else {
        sort(posKeys, 0, L.T, 0, np);
        nPos = runs(posKeys, np, L.T);
      }
    }
    const negCnt = L.T + Math.ceil((4 * nPos) / 8) * 8;
    sort(L.K, 0, negCnt, 0, nn);
    const nNeg = runs(L.K, nn, negCnt);
    const r: ChunkRuns = {
      negKeys: L.K, negCnt, nNeg, posKeys, posCnt: L.T, nPos, whole, hi, lo,
      negatives: nn, positives: np, regions: this.pendingRegions,
    };
    this.pendingRegions = 0;
    x.chunkReset();
    return r;
  }

  private ingest(r: ChunkRuns): void {
    const k = this.kernel!;
    const words = this.state.keyBits / 32;
    this.state.ingest(false, k.u32(r.negKeys, r.nNeg * words), r.nNeg, k.u32(r.negCnt, r.nNeg));
    this.state.ingest(
      true,
      k.u32(r.posKeys, r.nPos * words),
      r.nPos,
      k.u32(r.posCnt, r.nPos),
      r.whole ? [k.u32(r.whole, r.nPos), k.u32(r.hi, r.nPos), k.u32(r.lo, r.nPos)] : undefined,
    );
    this.state.negatives += r.negatives;
    this.state.positives += r.positives;
    this.state.regions += r.regions;
    this.state.checkTotals();
  }
}

/** Image-level (or any per-sample) metrics: AUROC, AP, F1-max. */
export class ImageMetrics extends Accumulator<ImageMetricsResult> {
  constructor(options?: MetricsOptions, state?: RunState) {
    super(state ?? new RunState('image', 32), chunkOption(options));
  }

  /** Adds scores with their 0/1 labels (1 = anomalous). */
  add(scores: ScoreArray, labels: LabelArray): this {
    if (scores.length !== labels.length) {
      throw new Error(`scores has ${scores.length} values but labels has ${labels.length}; they must pair up one to one`);
    }
    this.guarded((appended) => {
      const total = scores.length;
      for (let from = 0; from < total; ) {
        this.room(1, Math.min(MAX_STAGE, this.chunkSize), 0);
        const L = this.kernel!.layout!;
        const used = this.kernel!.x.chunkNegatives() + this.kernel!.x.chunkPositives();
        const n = Math.min(total - from, L.stage, L.cap - used);
        this.stageLabels(labels, from, n, (i) => `labels[${i}]`);
        const double = this.stageScores(scores, from, n);
        this.keyStaged(double, n, from, (i) => `scores[${i}]`);
        const K = this.kernel!.layout!;
        (K.keyBits === 64 ? this.kernel!.x.splitLabels64 : this.kernel!.x.splitLabels32)(K.F, K.M, n, K.K, K.cap);
        appended();
        from += n;
      }
    });
    return this;
  }

  protected results(k: Kernel, totals: Totals): ImageMetricsResult {
    return this.baseResults(k, totals);
  }
}

/** Pixel-level metrics over anomaly maps and ground-truth masks: AUROC, AUPRO (FPR <= 0.3), AP, F1-max. */
export class PixelMetrics extends Accumulator<PixelMetricsResult> {
  constructor(options?: MetricsOptions, state?: RunState) {
    super(state ?? new RunState('pixel', 32), chunkOption(options));
  }

  /**
   * Adds one or more images: `scores` and `mask` hold k * height * width values in C order (k images of height x
   * width). Mask values are 0/1 (1 = defect); regions are the 8-connected components of each image's mask.
   */
  add(scores: ScoreArray, mask: LabelArray, height: number, width: number): this {
    if (!Number.isSafeInteger(height) || !Number.isSafeInteger(width) || height < 1 || width < 1) {
      throw new Error(`height and width must be positive integers, got ${height} x ${width}`);
    }
    const px = height * width;
    if (scores.length !== mask.length) {
      throw new Error(`scores has ${scores.length} values but mask has ${mask.length}; they must pair up one to one`);
    }
    if (scores.length % px !== 0) {
      throw new Error(`scores has ${scores.length} values, not a whole number of ${height} x ${width} images`);
    }
    this.guarded((appended) => {
      for (let from = 0; from < scores.length; from += px) {
        const where = (name: string): Where => (i) => {
          const p = i % px;
          return `${name}[${(i - p) / px}, ${Math.floor(p / width)}, ${p % width}]`;
        };
        this.room(px, px, px + 1);
        this.stageLabels(mask, from, px, where('mask'));
        const double = this.stageScores(scores, from, px);
        this.keyStaged(double, px, from, where('scores'));
        const K = this.kernel!.layout!;
        const x = this.kernel!.x;
        const wide = K.keyBits === 64;
        if (x.anyNonZero(K.M, px)) {
          this.pendingRegions += x.regionSizes(K.M, height, width, K.Z, K.U, K.X);
          (wide ? x.splitSizes64 : x.splitSizes32)(K.F, K.Z, px, K.K, K.P, K.cap);
        } else {
          x.appendNegatives(K.F, px, K.K, wide ? 8 : 4);
        }
        appended();
      }
    });
    return this;
  }

  /**
   * The PRO curve (FPR, mean per-region overlap) up to `maxFpr` (default 0.3), from the exact state: its trapezoid
   * area divided by maxFpr is the AUPRO. Null without defect-free pixels or defect regions.
   */
  proCurve(opts?: CurveOptions & { maxFpr?: number }): Curve | null {
    this.usable();
    this.flush();
    return proCurve(this.state, opts);
  }

  protected results(k: Kernel, s: Totals): PixelMetricsResult {
    const base = this.baseResults(k, s);
    let aupro = NaN;
    if (s.negatives > 0 && s.regions > 0) aupro = k.x.walkProArea() / 0.3;
    else {
      base.nanReasons.aupro =
        s.negatives + s.positives === 0
          ? 'no scores were added'
          : s.regions === 0
            ? 'the masks hold no defect region'
            : 'there are no defect-free pixels, so the false-positive rate is undefined';
    }
    return { ...base, aupro, regions: s.regions };
  }
}

// One-shot calls reuse one idle kernel, so repeated evaluations pay neither instantiation nor first-touch page
// faults on fresh memory; a kernel that grew past POOL_BYTES is dropped rather than kept alive.
const POOL_BYTES = 256 << 20;
let idle: Kernel | undefined;

/** Drops the kernel one-shot calls keep for reuse (at most 256 MiB of wasm memory). */
export function releaseMetricsMemory(): void {
  idle = undefined;
}

/** Runs `use` on a throwaway accumulator backed by the pooled kernel. */
export function oneShot<A extends ImageMetrics | PixelMetrics, T>(acc: A, use: (acc: A) => T): T {
  const k = idle ?? new Kernel();
  idle = undefined;
  k.reset();
  Accumulator.lend(acc, k);
  try {
    return use(acc);
  } finally {
    if (k.bytes <= POOL_BYTES) idle = k;
  }
}

/** Restores an accumulator from serialize() output. */
export function deserializeMetrics(bytes: Uint8Array, options?: MetricsOptions): ImageMetrics | PixelMetrics {
  const state = deserializeState(bytes);
  return state.kind === 'pixel' ? new PixelMetrics(options, state) : new ImageMetrics(options, state);
}

/** num / den as the nearest double (within one unit in the last place) for 128-bit integers. */
function ratio(num: bigint, den: bigint): number {
  if (num <= 2n ** 53n && den <= 2n ** 53n) return Number(num) / Number(den);
  return Number((num << 64n) / den) / 2 ** 64;
}

/** Names the element at a flat input index in messages, e.g. "scores[17]" or "mask[3, 10, 4]". */
type Where = (index: number) => string;

function nonFinite(where: string, value: number): Error {
  return new Error(`${where} is ${value}; metrics need finite scores (replace NaN/Inf before evaluating)`);
}

function badLabel(where: string, value: unknown): Error {
  return new Error(`${where} is ${String(value)}; labels and masks must be 0 or 1 (binarise with mask > 0 first)`);
}
