// texad's public API for Node and Deno: the browser-safe core plus datasets (discovery, decoding, protocols,
// streaming loader, synthetic Texture-AD), the evaluation harness and reports. Browsers import 'texad/gpu'.
export * from './gpu.ts';
export * as data from './data/index.ts';
export {
  evaluate, trainingImages, CURVE_TOLERANCE, METRIC_KEYS, METRIC_LABELS, type CategoryEvaluation, type EvaluateOptions,
  type EvaluationCurves, type MetricKey, type MetricSet,
} from './eval/evaluate.ts';
export { ColourHistogram, PatchStatsKnn, REFERENCE_DETECTORS, REFERENCE_SIZE, referenceFloor } from './eval/reference.ts';
export { renderPanel, jet, type PanelInput } from './report/heatmap.ts';
export {
  categoryResult, meanStd, parseSeedResult, PIXEL_METRIC_KEYS, resultsJson, runResults, seedResult,
  type CategoryResult, type MethodResults, type ReferenceFloor, type RunResults, type SeedResult, type Summary,
} from './report/results.ts';
export { reportMarkdown, type ReportOptions } from './report/markdown.ts';
export { reportHtml, type HtmlReportInput } from './report/html.ts';
export { unitCurves, type CurveJson, type UnitCurves } from './report/curves.ts';
export { paperTables, resultsCsv, tableMarkdown, TABLE_METRICS, type PaperTable, type TableRow } from './report/tables.ts';
export { assembleRun, MergeError, mergeShards, type ShardManifest, type UnitResult } from './report/merge.ts';
export { writeRunOutputs } from './report/outputs.ts';
export { parseShard, planUnits, shardUnits, unitKey, type Shard, type Unit } from './eval/units.ts';
export { readTfjsModelFile } from './io/tfjs.ts';
export { main as cli } from './cli/main.ts';
