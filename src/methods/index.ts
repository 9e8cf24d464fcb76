// The method registry: the only place the CLI and apps get detectors from.
import type { WeightsSource } from '../backbones/weights.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Detector } from './detector.ts';
import { Draem } from './draem/index.ts';
import { SimpleNet, simpleNetConfig } from './simplenet/index.ts';

export type { Detector, DetectorState, FitOptions, ImageBatch, Prediction, TrainingImages } from './detector.ts';

export interface CreateOptions {
  preset: string;
  /** Seed of the method's own randomness (initialisation, noise, shuffling). */
  seed: number;
  /** Backbone weights; 'random' = the documented seeded initialisation. */
  weights?: WeightsSource;
  /** Method-specific overrides of the preset (official hyper-parameter names). */
  config?: Record<string, unknown>;
}

interface MethodEntry {
  presets: readonly string[];
  /** The backbone a preset uses, so weights can be located before the model is built. */
  backbone(preset: string): string;
  create(rt: Runtime, opts: CreateOptions): Promise<Detector>;
}

export const METHODS: Record<string, MethodEntry> = {
  simplenet: {
    presets: ['quick', 'paper'],
    backbone: (preset) => simpleNetConfig(preset as 'quick' | 'paper').backbone,
    async create(rt, opts) {
      return SimpleNet.create(rt, {
        preset: opts.preset as 'quick' | 'paper',
        config: { ...opts.config, seed: opts.seed },
        ...(opts.weights !== undefined ? { weights: opts.weights } : {}),
      });
    },
  },
  draem: {
    presets: ['quick', 'paper'],
    // Trained from scratch: no backbone, no weights file.
    backbone: () => 'none',
    async create(rt, opts) {
      return Draem.create(rt, { preset: opts.preset as 'quick' | 'paper', config: { ...opts.config, seed: opts.seed } });
    },
  },
};

/** Creates a detector by method name; throws naming the known methods and presets on a typo. */
export async function createDetector(rt: Runtime, method: string, opts: CreateOptions): Promise<Detector> {
  const entry = METHODS[method];
  if (!entry) throw new Error(`texad: unknown method '${method}'; available: ${Object.keys(METHODS).join(', ')}`);
  if (!entry.presets.includes(opts.preset)) {
    throw new Error(`texad: method '${method}' has no preset '${opts.preset}'; available: ${entry.presets.join(', ')}`);
  }
  return entry.create(rt, opts);
}
