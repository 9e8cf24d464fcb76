// Where backbone parameters come from: a safetensors checkpoint (checked against the architecture before any value
// is read) or texad's seeded random initialisation, drawn on the GPU.
import { hashString } from '../data/random.ts';
import { SafetensorsReader, fileSource, type ByteRangeSource } from '../io/safetensors.ts';
import { GpuRng, type RngKey } from '../ops/random.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { formatShape, shapeSize, type Shape, type Tensor } from '../runtime/tensor.ts';

/** How random-init mode draws a tensor: the initialisers torchvision and PyTorch use for these layers. */
export type Init =
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; bound: number }
  | { kind: 'constant'; value: number };

/** One parameter (or buffer) of an architecture, under its PyTorch state-dict name. */
export interface ParamSpec {
  key: string;
  shape: Shape;
  init: Init;
}

/** Every tensor an architecture defines, so a checkpoint can be checked as a whole. */
export interface Manifest {
  /** The architecture name, as tools/export-weights.py records it in the file's `texad.arch` metadata. */
  arch: string;
  /** All parameters of the full network, in definition order. */
  params: readonly ParamSpec[];
  /** Stored tensors the network never uses (classifier head, BatchNorm step counters); they are not unexpected. */
  ignore?: RegExp;
}

/** A checkpoint that does not fit the architecture asked for; the message names the file and the tensors. */
export class WeightsError extends Error {}

/** A source of parameter values. */
export interface WeightStore {
  /** The file path or a description such as `random init (seed 0)`, for messages. */
  readonly name: string;
  /** Throws a WeightsError unless the store can provide every parameter in `needed` with its manifest shape. */
  check(manifest: Manifest, needed: ReadonlySet<string>): void;
  /** One parameter, as CPU values or as a tensor on `rt` that the caller then owns. */
  read(rt: Runtime, p: ParamSpec): Promise<Float32Array | Tensor>;
  close(): Promise<void>;
}

/**
 * The Philox key of parameter `name` under `seed`: [seed, FNV-1a(name)]. Keying by name rather than position makes
 * a value independent of which layers are built (early exit) and lets tools/golden/backbones.py reproduce it.
 */
export function initKey(seed: number, name: string): RngKey {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new WeightsError(`random-init seed must be an integer in [0, 2^32), got ${seed}`);
  }
  return [seed, hashString(name)];
}

/**
 * How random-init mode draws weights. 'torchvision': the distributions of a freshly constructed torchvision/PyTorch
 * model. 'zero-mean': the same values, then every k x k (k > 1) kernel made zero-mean over its window (per
 * output/input channel pair), so that a random network responds to local contrast (texture) rather than to
 * brightness and colour; 1 x 1 kernels, biases and BatchNorm are unchanged. tools/golden/backbones.py reproduces both.
 */
export type RandomInit = 'torchvision' | 'zero-mean';

/**
 * Seeded random initialisation: element e of parameter `key` is element e of stream 0 of GpuRng(initKey(seed, key))
 * (Philox4x32-10; normals by Box-Muller), scaled per `Init`, then shaped by `init` (RandomInit). BatchNorm comes out
 * as the identity (weight 1, bias 0, mean 0, variance 1).
 */
export function randomWeights(seed = 0, init: RandomInit = 'torchvision'): WeightStore {
  initKey(seed, '');
  if (init !== 'torchvision' && init !== 'zero-mean') {
    throw new WeightsError(`unknown random init '${String(init)}'; use 'torchvision' or 'zero-mean'`);
  }
  const draw = async (rt: Runtime, p: ParamSpec): Promise<Float32Array | Tensor> => {
    if (p.init.kind === 'constant') return new Float32Array(shapeSize(p.shape)).fill(p.init.value);
    const rng = new GpuRng(rt, initKey(seed, p.key));
    return p.init.kind === 'normal' ? rng.normal(p.shape, 0, p.init.std) : rng.uniform(p.shape, -p.init.bound, p.init.bound);
  };
  return {
    name: init === 'torchvision' ? `random init (seed ${seed})` : `random init (seed ${seed}), zero-mean kernels`,
    check: () => {},
    async read(rt, p) {
      const value = await draw(rt, p);
      const window = p.shape.length === 4 ? p.shape[2]! * p.shape[3]! : 1;
      if (init === 'torchvision' || window === 1) return value;
      const data = value instanceof Float32Array ? value : await value.read();
      if (!(value instanceof Float32Array)) value.dispose();
      // Float32 subtraction of a float64 window mean, as tools/golden/backbones.py zero_mean() does it.
      for (let g = 0; g < data.length; g += window) {
        let mean = 0;
        for (let k = 0; k < window; k++) mean += data[g + k]!;
        mean /= window;
        for (let k = 0; k < window; k++) data[g + k]! -= mean;
      }
      return data;
    },
    close: async () => {},
  };
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function listSome(items: string[], limit = 3): string {
  const shown = items.slice(0, limit).join(', ');
  return items.length > limit ? `${shown} and ${items.length - limit} more` : shown;
}

/** A store over a safetensors checkpoint, reading one tensor at a time. */
export function checkpointWeights(reader: SafetensorsReader): WeightStore {
  return {
    name: reader.name,
    check(manifest, needed) {
      const file = reader.name;
      const declared = reader.metadata['texad.arch'];
      if (declared !== undefined && declared !== manifest.arch) {
        throw new WeightsError(
          `${file} holds ${declared} weights, not ${manifest.arch}: pass a ${manifest.arch} checkpoint ` +
            `(python3 tools/export-weights.py ${manifest.arch} --out ${manifest.arch}.safetensors)`,
        );
      }
      const known = new Set(manifest.params.map((p) => p.key));
      const missing = manifest.params.filter((p) => needed.has(p.key) && !reader.tensors.has(p.key))
        .map((p) => `'${p.key}'`);
      const misshaped: string[] = [];
      for (const p of manifest.params) {
        const stored = reader.tensors.get(p.key);
        if (stored && !sameShape(stored.shape, p.shape)) {
          const [file, arch] = [formatShape(stored.shape), formatShape(p.shape)];
          misshaped.push(`'${p.key}' is ${file} in the file but ${arch} in ${manifest.arch}`);
        }
      }
      const unexpected = [...reader.tensors.keys()].filter((k) => !known.has(k) && !manifest.ignore?.test(k))
        .map((k) => `'${k}'`);
      if (missing.length + misshaped.length + unexpected.length === 0) return;
      const problems = [
        misshaped.length ? `${misshaped.length} tensors have other shapes (${listSome(misshaped)})` : '',
        missing.length ? `${missing.length} tensors are missing (${listSome(missing)})` : '',
        unexpected.length ? `${unexpected.length} tensors are unexpected (${listSome(unexpected)})` : '',
      ].filter(Boolean);
      throw new WeightsError(
        `${file} does not fit ${manifest.arch}: ${problems.join('; ')}. Is it a checkpoint of another architecture? ` +
          `tools/export-weights.py writes one file per architecture under torchvision's tensor names.`,
      );
    },
    read: (_rt, p) => reader.read(p.key, p.shape),
    close: () => reader.close(),
  };
}

/** 'random' (seeded init), a safetensors path (Node, Deno), its bytes (browsers), a ByteRangeSource, or a store. */
export type WeightsSource = 'random' | string | Uint8Array | ByteRangeSource | WeightStore;

function isStore(s: WeightsSource): s is WeightStore {
  return typeof s === 'object' && 'check' in s;
}

/** Opens a weights source; a path is the only case that touches the file system. */
export async function openWeights(source: WeightsSource, seed = 0): Promise<WeightStore> {
  if (source === 'random') return randomWeights(seed);
  if (typeof source === 'string') return checkpointWeights(await SafetensorsReader.open(await fileSource(source)));
  if (isStore(source)) return source;
  return checkpointWeights(await SafetensorsReader.open(source));
}

/** The environment variable naming the folder where texad looks for `<backbone>.safetensors`. */
export const WEIGHTS_ENV = 'TEXAD_WEIGHTS';

/**
 * Where the weights of `backbone` live by convention: `<dir>/<backbone>.safetensors`, with `dir` defaulting to
 * $TEXAD_WEIGHTS. Undefined when neither is set (browsers have no environment).
 */
export function conventionalWeightsPath(backbone: string, dir?: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const folder = dir ?? env?.[WEIGHTS_ENV];
  if (!folder) return undefined;
  return `${folder.replace(/[\\/]+$/, '')}/${backbone}.safetensors`;
}
