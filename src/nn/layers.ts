// Trainable layers: parameter holders over the ops, with PyTorch's initialisations drawn from a seeded CPU
// generator (so a seed gives the same weights in every runtime) and named parameters for optimizers and
// checkpoints.
import { linear } from '../ops/matmul.ts';
import { batchNorm } from '../ops/norm.ts';
import { cpuNormal, cpuUniform } from '../ops/random.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Tensor } from '../runtime/tensor.ts';

export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

/** Anything owning tensors that a checkpoint must hold; `trainable` marks what optimizers update. */
export interface Module {
  tensors(): NamedTensor[];
  trainable(): NamedTensor[];
  dispose(): void;
}

/** Seeded initialiser: each call draws a fresh Philox stream of the seed. */
export class Initializer {
  private stream = 0;
  constructor(readonly seed: number) {}

  normal(n: number, std: number): Float32Array {
    return cpuNormal(this.seed, this.stream++, n, 0, std);
  }

  uniform(n: number, bound: number): Float32Array {
    return cpuUniform(this.seed, this.stream++, n, -bound, bound);
  }
}

/** torch.nn.Linear; weight [out, in]. `init: 'xavier-normal'` is what SimpleNet applies to its Linear layers. */
export class Linear implements Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    rt: Runtime,
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    init: Initializer,
    opts: { bias?: boolean; weightInit?: 'default' | 'xavier-normal' } = {},
  ) {
    const bound = 1 / Math.sqrt(inFeatures);
    const w = opts.weightInit === 'xavier-normal'
      ? init.normal(inFeatures * outFeatures, Math.sqrt(2 / (inFeatures + outFeatures)))
      // PyTorch's default (kaiming_uniform with a = sqrt(5)) reduces to U(-1/sqrt(in), 1/sqrt(in)).
      : init.uniform(inFeatures * outFeatures, bound);
    this.weight = rt.tensor(w, [outFeatures, inFeatures], true).keep();
    this.bias = opts.bias === false ? null : rt.tensor(init.uniform(outFeatures, bound), [outFeatures], true).keep();
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  tensors(): NamedTensor[] {
    return this.trainable();
  }

  trainable(): NamedTensor[] {
    const out = [{ name: `${this.name}.weight`, tensor: this.weight }];
    if (this.bias) out.push({ name: `${this.name}.bias`, tensor: this.bias });
    return out;
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}

/** torch.nn.BatchNorm1d / 2d: gamma 1, beta 0, running mean 0 and variance 1; `training` picks the mode. */
export class BatchNorm implements Module {
  readonly gamma: Tensor;
  readonly beta: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  training = true;

  constructor(rt: Runtime, readonly name: string, readonly channels: number, readonly momentum = 0.1, readonly eps = 1e-5) {
    this.gamma = rt.tensor(new Float32Array(channels).fill(1), [channels], true).keep();
    this.beta = rt.tensor(new Float32Array(channels), [channels], true).keep();
    this.runningMean = rt.tensor(new Float32Array(channels), [channels]).keep();
    this.runningVar = rt.tensor(new Float32Array(channels).fill(1), [channels]).keep();
  }

  forward(x: Tensor): Tensor {
    return batchNorm(x, this.gamma, this.beta, { runningMean: this.runningMean, runningVar: this.runningVar }, {
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
    });
  }

  tensors(): NamedTensor[] {
    return [
      ...this.trainable(),
      { name: `${this.name}.running_mean`, tensor: this.runningMean },
      { name: `${this.name}.running_var`, tensor: this.runningVar },
    ];
  }

  trainable(): NamedTensor[] {
    return [
      { name: `${this.name}.weight`, tensor: this.gamma },
      { name: `${this.name}.bias`, tensor: this.beta },
    ];
  }

  dispose(): void {
    for (const t of this.tensors()) t.tensor.dispose();
  }
}

/** Reads every tensor of a module to the CPU (checkpoints). */
export async function readModule(m: Module): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const { name, tensor } of m.tensors()) out[name] = { shape: [...tensor.shape], data: await tensor.read() };
  return out;
}

/** Writes saved values into a module's tensors in place, checking names and shapes. */
export function writeModule(m: Module, values: Record<string, { shape: number[]; data: Float32Array }>, what: string): void {
  for (const { name, tensor } of m.tensors()) {
    const v = values[name];
    if (!v) throw new Error(`texad: ${what}: checkpoint has no tensor '${name}'`);
    if (v.shape.join() !== tensor.shape.join()) {
      throw new Error(`texad: ${what}: tensor '${name}' has shape [${v.shape}] in the checkpoint, the model expects [${tensor.shape}]`);
    }
    tensor.rt.write(tensor, v.data);
  }
}
