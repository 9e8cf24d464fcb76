// Keras convolutions (Conv2D / DepthwiseConv2D without bias, then BatchNormalization) as texad loads them:
// parameters under their Keras names and layouts, random init as Keras draws it, BatchNorm folded on load.
import { foldBatchNorm } from '../ops/norm.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Tensor } from '../runtime/tensor.ts';
import type { Modal, Module, NamedTensor } from '../nn/layers.ts';
import { asArray } from './layers.ts';
import type { ParamSpec, WeightStore } from './weights.ts';

/** A bias-free Keras convolution followed by a BatchNormalization layer. */
export interface KerasConv {
  /** Keras layer names of the convolution (`block_3_expand`, `conv2d_12`) and of its BatchNorm. */
  name: string;
  bn: string;
  depthwise: boolean;
  /** Whether the BatchNorm has gamma (Keras `scale=True`; InceptionV3 uses scale=False). */
  scale: boolean;
  inChannels: number;
  outChannels: number;
  kh: number;
  kw: number;
}

/** Keras kernel shapes: Conv2D [kh, kw, in, out], DepthwiseConv2D [kh, kw, in, 1]. */
function kernelShape(d: KerasConv): [number, number, number, number] {
  return [d.kh, d.kw, d.inChannels, d.depthwise ? 1 : d.outChannels];
}

/**
 * Manifest entries with Keras's initialisers for random-init mode: glorot_uniform on the kernel (fans from the
 * Keras kernel shape, as Keras computes them), BatchNorm the identity.
 */
export function kerasConvParams(d: KerasConv): ParamSpec[] {
  const shape = kernelShape(d);
  const receptive = d.kh * d.kw;
  const bound = Math.sqrt(6 / (receptive * shape[2] + receptive * shape[3]));
  const o = d.outChannels;
  const constant = (key: string, value: number): ParamSpec => ({ key: `${d.bn}/${key}`, shape: [o], init: { kind: 'constant', value } });
  return [
    { key: `${d.name}/${d.depthwise ? 'depthwise_kernel' : 'kernel'}`, shape, init: { kind: 'uniform', bound } },
    ...(d.scale ? [constant('gamma', 1)] : []),
    constant('beta', 0),
    constant('moving_mean', 0),
    constant('moving_variance', 1),
  ];
}

/** Keras [kh, kw, in, out] (or [kh, kw, C, 1] depthwise) -> texad [out, in, kh, kw] (or [C, 1, kh, kw]). */
function transposeKernel(k: Float32Array, d: KerasConv): Float32Array {
  const [kh, kw, cin, cout] = kernelShape(d);
  const out = new Float32Array(k.length);
  // A depthwise kernel's channel axis is `cin`, and each output channel has one input: [C, 1, kh, kw].
  const c = d.depthwise ? 1 : cin;
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        for (let j = 0; j < cout; j++) {
          const [oi, ci] = d.depthwise ? [i, 0] : [j, i];
          out[((oi * c + ci) * kh + y) * kw + x] = k[((y * kw + x) * cin + i) * cout + j]!;
        }
      }
    }
  }
  return out;
}

/** Reads a conv and its BatchNorm from `store` and folds them: texad-layout weight and bias tensors (kept). */
export async function loadKerasConv(rt: Runtime, store: WeightStore, d: KerasConv, eps: number): Promise<{ weight: Tensor; bias: Tensor }> {
  const [kernelSpec, ...bnSpecs] = kerasConvParams(d) as [ParamSpec, ...ParamSpec[]];
  const kernel = await asArray(await store.read(rt, kernelSpec));
  const values = await Promise.all(bnSpecs.map(async (p) => asArray(await store.read(rt, p))));
  const gamma = d.scale ? values.shift()! : new Float32Array(d.outChannels).fill(1);
  const [beta, mean, variance] = values as [Float32Array, Float32Array, Float32Array];
  const folded = foldBatchNorm(transposeKernel(kernel, d), null, { gamma, beta, mean, var: variance }, d.outChannels, eps);
  const shape = d.depthwise ? [d.outChannels, 1, d.kh, d.kw] : [d.outChannels, d.inChannels, d.kh, d.kw];
  return { weight: rt.tensor(folded.weight, shape).keep(), bias: rt.tensor(folded.bias, [d.outChannels]).keep() };
}

/**
 * The Module side of a frozen Keras network: its convolutions with BatchNorm folded in, by Keras layer name
 * (`block_3_expand.weight`, `.bias`), nothing trainable. Folded BatchNorm has no batch statistics to switch to, so
 * the mode is recorded (like the frozen parts of a ResNet) and changes nothing.
 */
export abstract class FrozenKerasNetwork implements Module, Modal {
  training = false;

  protected constructor(protected readonly layers: ReadonlyMap<string, { weight: Tensor; bias: Tensor }>) {}

  train(mode = true): this {
    this.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  tensors(): NamedTensor[] {
    return [...this.layers].flatMap(([name, l]) => [
      { name: `${name}.weight`, tensor: l.weight },
      { name: `${name}.bias`, tensor: l.bias },
    ]);
  }

  trainable(): NamedTensor[] {
    return [];
  }

  dispose(): void {
    for (const l of this.layers.values()) [l.weight, l.bias].forEach((t) => t.dispose());
  }
}
