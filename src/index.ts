// texad's public API for Node and Deno: the browser-safe core plus datasets (discovery, decoding, protocols,
// streaming loader, synthetic Texture-AD), the evaluation harness and reports. Browsers import 'texad/gpu'.
export * from './gpu.ts';
export * as data from './data/index.ts';
export {
  centreCrop, evaluate, trainingImages, METRIC_KEYS, METRIC_LABELS, type CategoryEvaluation, type EvaluateOptions, type MetricKey,
  type MetricSet,
} from './eval/evaluate.ts';
export { renderPanel, jet, type PanelInput } from './report/heatmap.ts';
export {
  categoryResult, meanStd, reportMarkdown, resultsJson, seedResult,
  type CategoryResult, type RunResults, type SeedResult, type Summary,
} from './report/results.ts';
export { main as cli } from './cli/main.ts';
