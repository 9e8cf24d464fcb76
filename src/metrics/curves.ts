// The ROC and PRO curves behind AUROC and AUPRO, read from the same exact state the metrics are computed from: one
// vertex per distinct score, highest first, so the trapezoid area under the vertices is the metric itself (no
// binning). A tolerance drops vertices while streaming, for plots: a vertex is kept only once it has moved more
// than the tolerance (relative to the axis span) from the last kept one, which keeps every kept vertex on the exact
// curve and the simplified polyline within the tolerance of it (the curves are monotone).
import { PARTITIONS, type RunState } from './state.ts';

export interface Curve {
  /** False-positive rate of each vertex, ascending; the first vertex is (0, 0) at threshold +Infinity. */
  x: Float64Array;
  /** True-positive rate (ROC) or mean per-region overlap (PRO) of each vertex. */
  y: Float64Array;
  /** Each vertex's score threshold: scores >= threshold count as anomalous. */
  thresholds: Float64Array;
}

export interface CurveOptions {
  /**
   * Largest distance, as a fraction of each axis's span, by which the returned polyline may depart from the exact
   * curve (default 0: every vertex). 1e-3 keeps a curve to a few hundred vertices, below a pixel on any plot.
   */
  tolerance?: number;
}

const TWO_POW_M32 = 2 ** -32;
const TWO_POW_M64 = 2 ** -64;
const U32 = 4294967296;

/** Collects vertices, dropping those within the tolerance of the last kept one (the last vertex is always kept). */
class Polyline {
  private readonly xs: number[] = [0];
  private readonly ys: number[] = [0];
  private readonly ts: number[] = [Infinity];
  private pending: [number, number, number] | undefined;

  constructor(
    private readonly tolX: number,
    private readonly tolY: number,
  ) {}

  push(x: number, y: number, t: number): void {
    const n = this.xs.length - 1;
    if (Math.abs(x - this.xs[n]!) > this.tolX || Math.abs(y - this.ys[n]!) > this.tolY) {
      this.xs.push(x);
      this.ys.push(y);
      this.ts.push(t);
      this.pending = undefined;
    } else {
      this.pending = [x, y, t];
    }
  }

  done(): Curve {
    if (this.pending) {
      this.xs.push(this.pending[0]);
      this.ys.push(this.pending[1]);
      this.ts.push(this.pending[2]);
    }
    return { x: Float64Array.from(this.xs), y: Float64Array.from(this.ys), thresholds: Float64Array.from(this.ts) };
  }
}

function tolerance(opts: CurveOptions | undefined): number {
  const t = opts?.tolerance ?? 0;
  if (!(t >= 0 && t < 1)) throw new Error(`curve tolerance must be in [0, 1), got ${t}`);
  return t;
}

/**
 * Visits every distinct score of a state, highest first, with the negatives and positives at that score and
 * (pixel states) the positives' per-region-overlap mass. Equal keys in several runs are summed, as everywhere.
 * `visit` returns false to stop.
 */
function descend(s: RunState, visit: (score: number, neg: number, pos: number, mass: number) => boolean): void {
  const wide = s.keyBits === 64;
  for (let p = PARTITIONS - 1; p >= 0; p--) {
    const n = s.neg[p];
    const q = s.pos[p];
    if (!n && !q) continue;
    let i = (n?.suf.length ?? 0) - 1;
    let j = (q?.suf.length ?? 0) - 1;
    while (i >= 0 || j >= 0) {
      const key = Math.max(i >= 0 ? n!.suf[i]! : -1, j >= 0 ? q!.suf[j]! : -1);
      let neg = 0;
      while (i >= 0 && n!.suf[i] === key) neg += n!.cnt[i--]!;
      let pos = 0;
      let mass = 0;
      while (j >= 0 && q!.suf[j] === key) {
        pos += q!.cnt[j]!;
        if (q!.whole) mass += q!.whole[j]! + q!.hi![j]! * TWO_POW_M32 + q!.lo![j]! * TWO_POW_M64;
        j--;
      }
      const score = wide ? s.keyScore(key % U32, ((p << 16) | Math.floor(key / U32)) >>> 0) : s.keyScore(((p << 16) | key) >>> 0, 0);
      if (!visit(score, neg, pos, mass)) return;
    }
  }
}

/** The ROC curve (FPR, TPR) of a state; null when one class is missing (AUROC is undefined then too). */
export function rocCurve(s: RunState, opts?: CurveOptions): Curve | null {
  const tol = tolerance(opts);
  if (s.negatives === 0 || s.positives === 0) return null;
  const line = new Polyline(tol, tol);
  let fp = 0;
  let tp = 0;
  descend(s, (score, neg, pos) => {
    fp += neg;
    tp += pos;
    line.push(fp / s.negatives, tp / s.positives, score);
    return true;
  });
  return line.done();
}

/**
 * The PRO curve (FPR, mean per-region overlap) of a pixel state up to `maxFpr` (default 0.3, AUPRO's limit), the
 * last vertex interpolated at maxFpr exactly as AUPRO integrates it; null without defect-free pixels or regions.
 */
export function proCurve(s: RunState, opts?: CurveOptions & { maxFpr?: number }): Curve | null {
  if (!s.pro) throw new Error('a PRO curve needs pixel metrics (createPixelMetrics), not image metrics');
  const tol = tolerance(opts);
  const limit = opts?.maxFpr ?? 0.3;
  if (!(limit > 0 && limit <= 1)) throw new Error(`maxFpr must be in (0, 1], got ${limit}`);
  if (s.negatives === 0 || s.regions === 0) return null;
  const line = new Polyline(tol * limit, tol);
  let fp = 0;
  let mass = 0;
  let prevX = 0;
  let prevY = 0;
  descend(s, (score, neg, _pos, m) => {
    fp += neg;
    mass += m;
    const x = fp / s.negatives;
    const y = mass / s.regions;
    if (x <= limit) {
      line.push(x, y, score);
      prevX = x;
      prevY = y;
      return true;
    }
    if (prevX !== limit) line.push(limit, prevY + ((y - prevY) * (limit - prevX)) / (x - prevX), score);
    return false;
  });
  return line.done();
}

/** Trapezoid area under a curve's vertices (AUROC for a ROC curve; AUPRO × maxFpr for a PRO curve). */
export function curveArea(c: Curve): number {
  let area = 0;
  for (let k = 1; k < c.x.length; k++) area += 0.5 * (c.y[k]! + c.y[k - 1]!) * (c.x[k]! - c.x[k - 1]!);
  return area;
}
