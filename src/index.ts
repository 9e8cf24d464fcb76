// texad's public API for Node and Deno: the browser-safe core plus datasets (discovery, decoding, protocols,
// streaming loader, synthetic Texture-AD), the evaluation harness and reports. Browsers import 'texad/gpu'.
export * from './gpu.ts';
export * as data from './data/index.ts';
export {
  evaluate, trainingImages, type CategoryEvaluation, type EvaluateOptions, type MetricSet,
} from './eval/evaluate.ts';
export { ColourHistogram, PatchStatsKnn, REFERENCE_DETECTORS, referenceFloor } from './eval/reference.ts';
export { renderPanel, jet, type PanelInput } from './report/heatmap.ts';
export {
  categoryResult, meanStd, reportMarkdown, resultsJson, seedResult,
  type CategoryResult, type RunResults, type SeedResult, type Summary,
} from './report/results.ts';
export { main as cli } from './cli/main.ts';
