// curves/<method>/<category>-seed<N>.json: one unit's pooled ROC and PRO curves and its test images' scores, the
// data of report.html's plots. Written by `texad run` next to the unit's result, copied by `texad merge`.
import type { EvaluationCurves } from '../eval/evaluate.ts';
import type { Curve } from '../metrics/index.ts';

/** A curve's vertices as JSON arrays, 6 decimals (1e-6 of an axis: far below CURVE_TOLERANCE). */
export interface CurveJson {
  x: number[];
  y: number[];
}

export interface UnitCurves {
  /** Null when undefined for the data (one class only) or, for pixel curves, for a method without anomaly maps. */
  imageROC: CurveJson | null;
  pixelROC: CurveJson | null;
  /** PRO curve up to FPR 0.3 (AUPRO's range). */
  pro: CurveJson | null;
  /** Image scores per subclass, split by label. */
  scores: Record<string, { good: number[]; defective: number[] }>;
}

const round6 = (v: number): number => Math.round(v * 1e6) / 1e6;

function curveJson(c: Curve | null): CurveJson | null {
  return c && { x: Array.from(c.x, round6), y: Array.from(c.y, round6) };
}

/** The file content of one unit; `pixelMaps: false` drops the pixel curves (such maps carry no information). */
export function unitCurves(c: EvaluationCurves, pixelMaps: boolean): UnitCurves {
  return {
    imageROC: curveJson(c.imageROC),
    pixelROC: pixelMaps ? curveJson(c.pixelROC) : null,
    pro: pixelMaps ? curveJson(c.pro) : null,
    scores: c.scores,
  };
}
