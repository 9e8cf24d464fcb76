// InceptionV3 in Keras's layout (keras.applications.inception_v3, Szegedy et al. 2016): every convolution is
// conv (no bias) + BatchNormalization(scale=False, eps 1e-3) + ReLU, named by Keras's automatic numbering in
// creation order (`conv2d_12`, `batch_normalization_12`, as Keras 2.2.4 and the TF.js models converted from it name
// them); the inception blocks concatenate their branches into `mixed0` .. `mixed10`, which are the taps. Frozen only:
// BatchNorm is folded into the convolutions. Spatial sizes follow Keras's 'valid' windows, so inputs need at least
// 75 x 75 pixels (the network's own minimum).
import { conv2d } from '../ops/conv2d.ts';
import { affine } from '../ops/elementwise.ts';
import { concat, pad2d } from '../ops/layout.ts';
import { avgPool2d, maxPool2d } from '../ops/pool.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Tensor } from '../runtime/tensor.ts';
import { FrozenKerasNetwork, kerasConvParams, loadKerasConv, type KerasConv } from './keras.ts';
import { checkImages } from './layers.ts';
import type { Manifest, WeightStore } from './weights.ts';

const BN_EPS = 1e-3;

interface Conv extends KerasConv {
  stride: number;
  same: boolean;
}

/** One node of the graph; values are numbered, 0 being the (scaled) input image. */
type Op =
  | { kind: 'conv'; def: Conv; input: number; out: number }
  | { kind: 'maxpool' | 'avgpool'; input: number; out: number }
  | { kind: 'concat'; name: string; inputs: number[]; out: number };

interface InceptionDef {
  ops: Op[];
  channels: number[];
  /** The mixed blocks: tap name -> value id. */
  taps: Map<string, number>;
}

/** The graph in keras-applications' creation order, which fixes Keras's automatic layer numbering. */
function define(): InceptionDef {
  const ops: Op[] = [];
  const channels = [3];
  const taps = new Map<string, number>();
  let convs = 0;
  const value = (c: number) => channels.push(c) - 1;
  const conv = (x: number, filters: number, kh: number, kw: number, stride = 1, padding: 'same' | 'valid' = 'same') => {
    convs++;
    const def: Conv = {
      name: `conv2d_${convs}`, bn: `batch_normalization_${convs}`, depthwise: false, scale: false,
      inChannels: channels[x]!, outChannels: filters, kh, kw, stride, same: padding === 'same',
    };
    const out = value(filters);
    ops.push({ kind: 'conv', def, input: x, out });
    return out;
  };
  const pool = (kind: 'maxpool' | 'avgpool', x: number) => {
    const out = value(channels[x]!);
    ops.push({ kind, input: x, out });
    return out;
  };
  const cat = (inputs: number[], name: string) => {
    const out = value(inputs.reduce((a, i) => a + channels[i]!, 0));
    ops.push({ kind: 'concat', name, inputs, out });
    if (name.startsWith('mixed') && !name.includes('_')) taps.set(name, out);
    return out;
  };
  let x = conv(0, 32, 3, 3, 2, 'valid');
  x = conv(x, 32, 3, 3, 1, 'valid');
  x = conv(x, 64, 3, 3);
  x = pool('maxpool', x);
  x = conv(x, 80, 1, 1, 1, 'valid');
  x = conv(x, 192, 3, 3, 1, 'valid');
  x = pool('maxpool', x);
  // mixed0..2: 35 x 35 at 299 px.
  for (const [i, poolFilters] of [32, 64, 64].entries()) {
    const b1 = conv(x, 64, 1, 1);
    let b5 = conv(x, 48, 1, 1);
    b5 = conv(b5, 64, 5, 5);
    let b3 = conv(x, 64, 1, 1);
    b3 = conv(b3, 96, 3, 3);
    b3 = conv(b3, 96, 3, 3);
    const bp = conv(pool('avgpool', x), poolFilters, 1, 1);
    x = cat([b1, b5, b3, bp], `mixed${i}`);
  }
  {
    const b3 = conv(x, 384, 3, 3, 2, 'valid');
    let bd = conv(x, 64, 1, 1);
    bd = conv(bd, 96, 3, 3);
    bd = conv(bd, 96, 3, 3, 2, 'valid');
    x = cat([b3, bd, pool('maxpool', x)], 'mixed3');
  }
  // mixed4..7: 17 x 17, factorised 7 x 7 convolutions.
  for (const [i, c] of [128, 160, 160, 192].entries()) {
    const b1 = conv(x, 192, 1, 1);
    let b7 = conv(x, c, 1, 1);
    b7 = conv(b7, c, 1, 7);
    b7 = conv(b7, 192, 7, 1);
    let bd = conv(x, c, 1, 1);
    bd = conv(bd, c, 7, 1);
    bd = conv(bd, c, 1, 7);
    bd = conv(bd, c, 7, 1);
    bd = conv(bd, 192, 1, 7);
    const bp = conv(pool('avgpool', x), 192, 1, 1);
    x = cat([b1, b7, bd, bp], `mixed${4 + i}`);
  }
  {
    let b3 = conv(x, 192, 1, 1);
    b3 = conv(b3, 320, 3, 3, 2, 'valid');
    let b7 = conv(x, 192, 1, 1);
    b7 = conv(b7, 192, 1, 7);
    b7 = conv(b7, 192, 7, 1);
    b7 = conv(b7, 192, 3, 3, 2, 'valid');
    x = cat([b3, b7, pool('maxpool', x)], 'mixed8');
  }
  // mixed9, mixed10: 8 x 8, expanded filter banks. The unnamed inner concatenations are Keras's concatenate_N.
  for (let i = 0; i < 2; i++) {
    const b1 = conv(x, 320, 1, 1);
    const b3 = conv(x, 384, 1, 1);
    const b3a = conv(b3, 384, 1, 3);
    const b3b = conv(b3, 384, 3, 1);
    const b3cat = cat([b3a, b3b], `mixed9_${i}`);
    let bd = conv(x, 448, 1, 1);
    bd = conv(bd, 384, 3, 3);
    const bda = conv(bd, 384, 1, 3);
    const bdb = conv(bd, 384, 3, 1);
    const bdcat = cat([bda, bdb], `concatenate_${i + 1}`);
    const bp = conv(pool('avgpool', x), 192, 1, 1);
    x = cat([b1, b3cat, bdcat, bp], `mixed${9 + i}`);
  }
  return { ops, channels, taps };
}

function convs(ops: readonly Op[]): Conv[] {
  return ops.flatMap((o) => (o.kind === 'conv' ? [o.def] : []));
}

/** Every tensor of the network; the classifier head (and any transfer-learned head) is ignored. */
export function inceptionManifest(): Manifest {
  const defs = convs(define().ops);
  const known = new Set(defs.flatMap((d) => [d.name, d.bn]));
  return { arch: 'inception_v3', params: defs.flatMap(kerasConvParams), ignore: { test: (k: string) => !known.has(k.split('/')[0]!) } };
}

/** The taps of InceptionV3: `mixed0` .. `mixed10`. */
export const INCEPTION_TAPS: readonly string[] = [...define().taps.keys()];

const windowOut = (n: number, k: number, s: number) => Math.floor((n - k) / s) + 1;

export interface InceptionOptions {
  taps: readonly string[];
  /** x * 2 - 1 inside forward() (Keras's inception_v3.preprocess_input) when true; raw [0, 1] pixels when false. */
  normalize: boolean;
}

/** A loaded InceptionV3; see loadBackbone() in ./index.ts. */
export class InceptionV3 extends FrozenKerasNetwork {
  readonly name = 'inception_v3';

  private constructor(
    readonly taps: readonly string[],
    private readonly def: InceptionDef,
    private readonly ops: Op[],
    layers: Map<string, { weight: Tensor; bias: Tensor }>,
    private readonly normalize: boolean,
  ) {
    super(layers);
  }

  get channels(): Record<string, number> {
    return Object.fromEntries(this.taps.map((t) => [t, this.def.channels[this.def.taps.get(t)!]!]));
  }

  static async load(rt: Runtime, store: WeightStore, opts: InceptionOptions): Promise<InceptionV3> {
    const def = define();
    const unknown = opts.taps.filter((t) => !def.taps.has(t));
    if (unknown.length > 0 || opts.taps.length === 0) {
      throw new Error(`texad: inception_v3 has no tap ${unknown.map((t) => `'${t}'`).join(', ') || '(none asked)'}; choose from ${INCEPTION_TAPS.join(', ')}`);
    }
    const taps = INCEPTION_TAPS.filter((t) => opts.taps.includes(t));
    const lastValue = def.taps.get(taps[taps.length - 1]!)!;
    const ops = def.ops.slice(0, def.ops.findIndex((o) => o.out === lastValue) + 1);
    store.check(inceptionManifest(), new Set(convs(ops).flatMap(kerasConvParams).map((p) => p.key)));
    const layers = new Map<string, { weight: Tensor; bias: Tensor }>();
    try {
      for (const d of convs(ops)) layers.set(d.name, await loadKerasConv(rt, store, d, BN_EPS));
    } catch (err) {
      for (const l of layers.values()) [l.weight, l.bias].forEach((t) => t.dispose());
      throw err;
    }
    return new InceptionV3(taps, def, ops, layers, opts.normalize);
  }

  /** [C, H, W] of a tap for an H x W input ('valid' windows shrink, 'same' ones keep the size). */
  outputShape(tap: string, [h, w]: readonly [number, number]): [number, number, number] {
    const id = this.def.taps.get(tap);
    if (id === undefined) throw new Error(`texad: inception_v3 has no tap '${tap}'`);
    const sizes: Array<[number, number]> = [[h, w]];
    for (const op of this.def.ops) {
      if (op.kind === 'concat') sizes[op.out] = sizes[op.inputs[0]!]!;
      else {
        const [ih, iw] = sizes[op.input]!;
        if (op.kind === 'maxpool') sizes[op.out] = [windowOut(ih, 3, 2), windowOut(iw, 3, 2)];
        else if (op.kind === 'conv' && !op.def.same) {
          sizes[op.out] = [windowOut(ih, op.def.kh, op.def.stride), windowOut(iw, op.def.kw, op.def.stride)];
        } else sizes[op.out] = [ih, iw];
      }
      if (op.out === id) break;
    }
    const [oh, ow] = sizes[id]!;
    return [this.def.channels[id]!, oh, ow];
  }

  /** Images [N, 3, H, W] (RGB in [0, 1]) -> the mixed taps, NCHW. Nothing is recorded. */
  forward(images: Tensor): Record<string, Tensor> {
    checkImages(images, this.name);
    return images.rt.noGrad(() => {
      // Remaining reads of each value, so every intermediate is freed right after its last consumer.
      const uses = new Map<number, number>();
      for (const op of this.ops) for (const i of op.kind === 'concat' ? op.inputs : [op.input]) uses.set(i, (uses.get(i) ?? 0) + 1);
      const values = new Map<number, Tensor>([[0, this.normalize ? affine(images, 2, -1) : images]]);
      const out: Record<string, Tensor> = {};
      const tapIds = new Map(this.taps.map((t) => [this.def.taps.get(t)!, t]));
      const release = (id: number) => {
        const left = uses.get(id)! - 1;
        uses.set(id, left);
        const t = values.get(id)!;
        if (left === 0 && !tapIds.has(id) && t !== images) t.dispose();
      };
      for (const op of this.ops) {
        let y: Tensor;
        if (op.kind === 'concat') {
          y = concat(op.inputs.map((i) => values.get(i)!), 1);
          op.inputs.forEach(release);
        } else {
          const x = values.get(op.input)!;
          if (op.kind === 'conv') y = this.conv(op.def, x);
          else if (op.kind === 'maxpool') y = maxPool2d(x, { kernel: 3, stride: 2 });
          // TF's 'same' average pooling divides by the window's cells inside the image.
          else y = avgPool2d(x, { kernel: 3, stride: 1, padding: 1, countIncludePad: false });
          release(op.input);
        }
        values.set(op.out, y);
        const tap = tapIds.get(op.out);
        if (tap) out[tap] = y;
      }
      return out;
    });
  }

  /** conv + folded BatchNorm + ReLU; 'same' on a non-square kernel pads explicitly (conv2d pads both axes alike). */
  private conv(d: Conv, x: Tensor): Tensor {
    const { weight, bias } = this.layers.get(d.name)!;
    const [ph, pw] = d.same ? [(d.kh - 1) / 2, (d.kw - 1) / 2] : [0, 0];
    if (ph === pw) return conv2d(x, weight, bias, { stride: d.stride, padding: ph, activation: 'relu' });
    const padded = pad2d(x, [pw, pw, ph, ph]);
    const y = conv2d(padded, weight, bias, { stride: d.stride, activation: 'relu' });
    padded.dispose();
    return y;
  }

}
