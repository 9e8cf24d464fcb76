// The method registry: the only place the CLI and apps get detectors from. Each entry is typed by its method's
// configuration (MethodEntry<Config>); defineMethod erases the type behind a uniform interface, so the registry
// holds methods of different configurations without casts.
import type { Runtime } from '../runtime/runtime.ts';
import type { Detector, TrainingUnit } from './detector.ts';
import type { ResolvedResources, ResourceSpecs } from './resources.ts';
import { DRAEM } from './draem/entry.ts';
import { PYRAMIDFLOW } from './pyramidflow/entry.ts';
import { EFFICIENTAD } from './efficientad/entry.ts';
import { MSFLOW } from './msflow/entry.ts';
import { MEANSHIFT } from './meanshift/entry.ts';
import { SIMPLENET } from './simplenet/entry.ts';

export type {
  Detector, DetectorState, FitOptions, FitReport, ImageBatch, Prediction, Progress, TrainingImages, TrainingUnit,
} from './detector.ts';
export type { ImagesResource, ResolvedResources, ResourceSpec, ResourceSpecs, WeightsResource } from './resources.ts';

/** What a method's `create` receives: its full configuration, the method seed and the resolved resources. */
export interface BuildOptions<Config> {
  config: Config;
  /** Seed of the method's own randomness (initialisation, noise, shuffling). */
  seed: number;
  resources: ResolvedResources;
}

/** One method, typed by its configuration (official hyper-parameter names). */
export interface MethodEntry<Config extends object> {
  /** One line for --help and reports. */
  description: string;
  /** Named configurations; `paper` (the official settings) and `quick` (CPU-sized) by convention. */
  presets: Record<string, Config>;
  /** What training length counts (FitOptions.length, Progress.done). */
  unit: TrainingUnit;
  /** Whether fit() uses FitOptions.validation; the CLI then holds out validation images (src/data/protocol.ts). */
  validation: boolean;
  /**
   * Whether predict()'s maps localise anomalies. False for image-level methods (their maps carry no information):
   * their pixel metrics are left out of results.json and shown as "–" in the tables.
   */
  pixelMaps: boolean;
  /** Backbones, teachers and image folders this configuration needs, by key. */
  resources(config: Config): ResourceSpecs;
  create(rt: Runtime, opts: BuildOptions<Config>): Promise<Detector>;
  /** Overrides of the quick preset that make test/methods.test.ts fit in seconds on 32-64 px images. */
  tinyConfig: Partial<Config>;
}

/** Options of createDetector: a preset, overrides under the official names, the seed and resources. */
export interface CreateOptions {
  preset: string;
  seed: number;
  /** Overrides of the preset (official hyper-parameter names); unknown keys and wrong types are refused by name. */
  config?: Record<string, unknown>;
  /** Resolved resources by key (see RegisteredMethod.resources); missing weights fall back to seeded random ones. */
  resources?: ResolvedResources;
}

/** A registered method with its configuration type erased: what the CLI, apps and tests use. */
export interface RegisteredMethod {
  readonly name: string;
  readonly description: string;
  readonly presets: readonly string[];
  readonly unit: TrainingUnit;
  readonly validation: boolean;
  readonly pixelMaps: boolean;
  /** The full configuration of a preset with overrides (throws naming unknown presets and keys). */
  config(preset: string, overrides?: Record<string, unknown>): Record<string, unknown>;
  /** The resources of a preset with overrides, so they can be located before the model is built. */
  resources(preset: string, overrides?: Record<string, unknown>): ResourceSpecs;
  create(rt: Runtime, opts: CreateOptions): Promise<Detector>;
  readonly tinyConfig: Record<string, unknown>;
}

/**
 * A preset with overrides, checked: an unknown preset names the available ones, an unknown key the known keys, a
 * value of another type than the preset's (number, string, boolean, array) the key and both types.
 */
export function parseConfig<Config extends object>(method: string, presets: Record<string, Config>, preset: string,
  overrides: Record<string, unknown> = {}): Config {
  const base = presets[preset];
  if (!base) throw new Error(`texad: method '${method}' has no preset '${preset}'; available: ${Object.keys(presets).join(', ')}`);
  const known = base as Record<string, unknown>;
  const unknown = Object.keys(overrides).filter((k) => !(k in known));
  if (unknown.length > 0) {
    throw new Error(`texad: ${method} has no hyper-parameter ${unknown.map((k) => `'${k}'`).join(', ')}; ` +
      `known: ${Object.keys(known).join(', ')}`);
  }
  const kind = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
  const wrong = Object.entries(overrides).filter(([k, v]) => kind(v) !== kind(known[k]))
    .map(([k, v]) => `${k} must be ${kind(known[k])} (like ${JSON.stringify(known[k])}), got ${JSON.stringify(v)}`);
  if (wrong.length > 0) throw new Error(`texad: ${method} config: ${wrong.join('; ')}`);
  return { ...base, ...overrides } as Config;
}

/** Registers a typed entry behind the uniform RegisteredMethod interface. */
export function defineMethod<Config extends object>(name: string, entry: MethodEntry<Config>): RegisteredMethod {
  const config = (preset: string, overrides?: Record<string, unknown>) => parseConfig(name, entry.presets, preset, overrides);
  return {
    name,
    description: entry.description,
    presets: Object.keys(entry.presets),
    unit: entry.unit,
    validation: entry.validation,
    pixelMaps: entry.pixelMaps,
    config: (preset, overrides) => Object.fromEntries(Object.entries(config(preset, overrides))),
    resources: (preset, overrides) => entry.resources(config(preset, overrides)),
    create: (rt, opts) => entry.create(rt, {
      config: config(opts.preset, opts.config), seed: opts.seed, resources: opts.resources ?? {},
    }),
    tinyConfig: Object.fromEntries(Object.entries(entry.tinyConfig)),
  };
}

export const METHODS: Record<string, RegisteredMethod> = {
  simplenet: defineMethod('simplenet', SIMPLENET),
  draem: defineMethod('draem', DRAEM),
  pyramidflow: defineMethod('pyramidflow', PYRAMIDFLOW),
  efficientad: defineMethod('efficientad', EFFICIENTAD),
  msflow: defineMethod('msflow', MSFLOW),
  meanshift: defineMethod('meanshift', MEANSHIFT),
};

/** A method by name; throws naming the registered methods on a typo. */
export function methodEntry(method: string): RegisteredMethod {
  const entry = METHODS[method];
  if (!entry) throw new Error(`texad: unknown method '${method}'; available: ${Object.keys(METHODS).join(', ')}`);
  return entry;
}

/** Creates a detector by method name; throws naming the known methods, presets and hyper-parameters on a typo. */
export async function createDetector(rt: Runtime, method: string, opts: CreateOptions): Promise<Detector> {
  return methodEntry(method).create(rt, opts);
}
