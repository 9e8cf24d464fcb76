// MobileNetV2 in Keras's layout (keras.applications.mobilenet_v2, Sandler et al. 2018): a 3x3 stride-2 stem,
// then 17 inverted-residual blocks (1x1 expand, 3x3 depthwise, 1x1 linear project, residual add when shape and
// stride allow), every activation ReLU6, BatchNorm eps 1e-3. Parameters and taps keep their Keras layer names
// (`block_6_expand/kernel`, tap `block_6_expand_relu`), so weights converted from TF.js or Keras load as they are;
// kernels are stored in Keras's [kh, kw, in, out] layout and transposed on load. Frozen only: BatchNorm is folded
// into every convolution and nothing is recorded for autograd.
import { conv2d } from '../ops/conv2d.ts';
import { channelConv2d } from '../ops/depthwise.ts';
import { add, affine, clamp } from '../ops/elementwise.ts';
import { pad2d } from '../ops/layout.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Tensor } from '../runtime/tensor.ts';
import { FrozenKerasNetwork, kerasConvParams, loadKerasConv, type KerasConv } from './keras.ts';
import { checkImages, consumed } from './layers.ts';
import type { Manifest, WeightStore } from './weights.ts';

/** Keras's BatchNormalization epsilon in MobileNetV2. */
const BN_EPS = 1e-3;

/** The MobileNetV2 widths texad builds, by their Keras width multiplier (alpha). */
export const MOBILENETS = { mobilenet_v2: 1.0, 'mobilenet_v2_1.4': 1.4 } as const;

export type MobileNetName = keyof typeof MOBILENETS;

/** (expansion t, output channels c, repeats n, first stride s) of each stage, Sandler et al. Table 2. */
const STAGES: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

/** Keras's _make_divisible: round to the nearest multiple of 8, never more than 10% down. */
function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** A convolution with BatchNorm and its ReLU6 (null for projections), under Keras layer names. */
interface ConvDef extends KerasConv {
  relu: string | null;
  stride: number;
}

/** One step of the network: a convolution, or a residual add of a block's input to its projection. */
type Step = { conv: ConvDef } | { add: string };

interface MobileNetDef {
  steps: Step[];
  /** Every tap in network order with its channels and cumulative stride. */
  taps: Array<{ name: string; channels: number; stride: number }>;
}

function define(alpha: number): MobileNetDef {
  const steps: Step[] = [];
  const taps: MobileNetDef['taps'] = [];
  let stride = 1;
  const conv = (name: string, bn: string, relu: string | null, depthwise: boolean, cin: number, cout: number,
    kernel: number, s: number) => {
    stride *= s;
    steps.push({ conv: { name, bn, relu, depthwise, scale: true, inChannels: cin, outChannels: cout, kh: kernel, kw: kernel, stride: s } });
    taps.push({ name: relu ?? bn, channels: cout, stride });
  };
  let channels = makeDivisible(32 * alpha);
  conv('Conv1', 'bn_Conv1', 'Conv1_relu', false, 3, channels, 3, 2);
  let id = 0;
  for (const [t, c, n, s] of STAGES) {
    const out = makeDivisible(c * alpha);
    for (let r = 0; r < n; r++, id++) {
      const prefix = id === 0 ? 'expanded_conv_' : `block_${id}_`;
      const cin = channels;
      const inner = cin * t;
      if (id > 0) conv(`${prefix}expand`, `${prefix}expand_BN`, `${prefix}expand_relu`, false, cin, inner, 1, 1);
      conv(`${prefix}depthwise`, `${prefix}depthwise_BN`, `${prefix}depthwise_relu`, true, inner, inner, 3, r === 0 ? s : 1);
      conv(`${prefix}project`, `${prefix}project_BN`, null, false, inner, out, 1, 1);
      if (cin === out && (r > 0 || s === 1)) {
        // The add's output replaces the projection's as the block's tap (the projection alone is not a tap).
        steps.push({ add: `${prefix}add` });
        taps[taps.length - 1]!.name = `${prefix}add`;
      }
      channels = out;
    }
  }
  const last = alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
  conv('Conv_1', 'Conv_1_bn', 'out_relu', false, channels, last, 1, 1);
  return { steps, taps };
}

function convDefs(steps: readonly Step[]): ConvDef[] {
  return steps.flatMap((s) => ('conv' in s ? [s.conv] : []));
}

/** Every tensor of the network; the classifier head (and any head a transfer-learned model adds) is ignored. */
export function mobilenetManifest(name: MobileNetName): Manifest {
  const defs = convDefs(define(MOBILENETS[name]).steps);
  const known = new Set(defs.flatMap((d) => [d.name, d.bn]));
  // Tensors of layers that are not part of the backbone (Keras 'predictions', nsfwjs's dense head) are not
  // unexpected: any tensor whose layer is not a backbone layer is ignored.
  const ignore = { test: (key: string) => !known.has(key.split('/')[0]!) };
  return { arch: name, params: defs.flatMap(kerasConvParams), ignore };
}

/** The taps of `name` in network order: Keras layer names of every ReLU6, projection and residual add output. */
export function mobilenetTaps(name: MobileNetName): string[] {
  return define(MOBILENETS[name]).taps.map((t) => t.name);
}

/** Keras's correct_pad for a 3x3 stride-2 window: TF 'same' padding, [top, bottom, left, right]. */
function samePadding(h: number, w: number): [number, number, number, number] {
  return [h % 2, 1, w % 2, 1];
}

interface Layer {
  def: ConvDef;
  weight: Tensor;
  bias: Tensor;
}

export interface MobileNetOptions {
  taps: readonly string[];
  /** x * 2 - 1 inside forward() (Keras's mobilenet_v2.preprocess_input) when true; raw [0, 1] pixels when false. */
  normalize: boolean;
}

/** A loaded MobileNetV2; see loadBackbone() in ./index.ts. */
export class MobileNetV2 extends FrozenKerasNetwork {
  private constructor(
    readonly name: MobileNetName,
    readonly taps: readonly string[],
    private readonly def: MobileNetDef,
    /** Steps up to the last tap. */
    private readonly steps: Step[],
    layers: Map<string, Layer>,
    private readonly normalize: boolean,
  ) {
    super(layers);
  }

  get channels(): Record<string, number> {
    return Object.fromEntries(this.taps.map((t) => [t, this.def.taps.find((d) => d.name === t)!.channels]));
  }

  /** Checks `store` against the whole architecture, then reads and folds the layers up to the last tap. */
  static async load(rt: Runtime, name: MobileNetName, store: WeightStore, opts: MobileNetOptions): Promise<MobileNetV2> {
    const def = define(MOBILENETS[name]);
    const known = def.taps.map((t) => t.name);
    const unknown = opts.taps.filter((t) => !known.includes(t));
    if (unknown.length > 0 || opts.taps.length === 0) {
      throw new Error(
        `texad: ${name} has no tap ${unknown.map((t) => `'${t}'`).join(', ') || '(none asked)'}; choose Keras layer ` +
          `names such as block_6_expand_relu, block_13_expand_relu, out_relu (all: ${known.join(', ')})`,
      );
    }
    const taps = known.filter((t) => opts.taps.includes(t));
    const lastTap = taps[taps.length - 1]!;
    const end = def.steps.findIndex((s) => ('add' in s ? s.add : s.conv.relu ?? s.conv.bn) === lastTap);
    const steps = def.steps.slice(0, end + 1);
    store.check(mobilenetManifest(name), new Set(convDefs(steps).flatMap(kerasConvParams).map((p) => p.key)));
    const layers = new Map<string, Layer>();
    try {
      for (const d of convDefs(steps)) layers.set(d.name, { def: d, ...(await loadKerasConv(rt, store, d, BN_EPS)) });
    } catch (err) {
      for (const l of layers.values()) [l.weight, l.bias].forEach((t) => t.dispose());
      throw err;
    }
    return new MobileNetV2(name, taps, def, steps, layers, opts.normalize);
  }

  /** [C, H, W] of a tap for an H x W input: every stride-2 step maps n to ceil(n / 2) (TF 'same'). */
  outputShape(tap: string, [h, w]: readonly [number, number]): [number, number, number] {
    const t = this.def.taps.find((d) => d.name === tap);
    if (!t) throw new Error(`texad: ${this.name} has no tap '${tap}'`);
    for (let s = t.stride; s > 1; s /= 2) [h, w] = [Math.ceil(h / 2), Math.ceil(w / 2)];
    return [t.channels, h, w];
  }

  /** Images [N, 3, H, W] (RGB in [0, 1]) -> taps, NCHW. Nothing is recorded; activations are freed as they go. */
  forward(images: Tensor): Record<string, Tensor> {
    checkImages(images, this.name);
    return images.rt.noGrad(() => {
      const out: Record<string, Tensor> = {};
      const kept = new Set<Tensor>([images]);
      const free = (t: Tensor | null) => {
        if (t && !kept.has(t)) t.dispose();
      };
      const tap = (name: string, t: Tensor) => {
        if (this.taps.includes(name)) {
          out[name] = t;
          kept.add(t);
        }
      };
      let x = this.normalize ? affine(images, 2, -1) : images;
      // The current block's input, alive until its residual add (or the next block when it has none).
      let blockInput: Tensor | null = null;
      for (const step of this.steps) {
        if ('add' in step) {
          const y = add(x, blockInput!);
          free(x);
          free(blockInput);
          blockInput = null;
          x = y;
          tap(step.add, x);
          continue;
        }
        const d = step.conv;
        const layer = this.layers.get(d.name)!;
        if (d.name.endsWith('_expand') || d.name === 'expanded_conv_depthwise') {
          free(blockInput);
          blockInput = x;
        }
        let input = x;
        let padding: number | [number, number, number, number] = (d.kh - 1) / 2;
        if (d.stride === 2) {
          const [top, bottom, left, right] = samePadding(x.shape[2]!, x.shape[3]!);
          padding = [top, bottom, left, right];
          if (!d.depthwise) input = pad2d(x, [left, right, top, bottom]);
        }
        let y: Tensor;
        if (d.depthwise) {
          y = channelConv2d(input, layer.weight, layer.bias, { stride: d.stride, padding, activation: 'relu6' });
        } else {
          y = conv2d(input, layer.weight, layer.bias, { stride: d.stride, padding: input === x ? (d.kh - 1) / 2 : 0 });
          if (d.relu) y = consumed(y, clamp(y, 0, 6));
        }
        if (input !== x) input.dispose();
        if (x !== blockInput) free(x);
        x = y;
        tap(d.relu ?? d.bn, x);
      }
      free(blockInput);
      return out;
    });
  }

}
