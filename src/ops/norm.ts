// Batch and layer normalisation (shaders/norm.wgsl), forward and backward, plus folding eval-mode BatchNorm
// into a preceding convolution on the CPU.
import { Params, type BufferRange, type Runtime } from '../runtime/runtime.ts';
import { Tensor, formatShape, needsGrad, shapeSize } from '../runtime/tensor.ts';
import { full } from './elementwise.ts';

const WG = 256;

/** A tensor viewed as [N, C, S]: S is the product of the dims after the channel dim (1 for [N, C]). */
interface ChannelView {
  n: number;
  c: number;
  s: number;
}

function channelView(x: Tensor, op: string): ChannelView {
  x.assertAlive(op);
  if (x.rank < 2) throw new Error(`texad: ${op} needs x of shape [N, C, ...], got ${formatShape(x.shape)}`);
  return { n: x.shape[0]!, c: x.shape[1]!, s: shapeSize(x.shape.slice(2)) };
}

function checkVector(t: Tensor | null, c: number, name: string, what: string): void {
  if (!t) return;
  t.assertAlive(what);
  if (t.rank !== 1 || t.shape[0] !== c) {
    throw new Error(`texad: ${what}: ${name} has shape ${formatShape(t.shape)}, expected [${c}] (one value per channel)`);
  }
}

/** `t`, or a temporary [c] tensor of `value` standing in for an absent affine parameter. */
function orFill(rt: Runtime, t: Tensor | null, c: number, value: number): Tensor {
  return t ?? full(rt, [c], value);
}

function disposeStandIn(standIn: Tensor, original: Tensor | null): void {
  if (standIn !== original) standIn.dispose();
}

const nextPow2 = (v: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, v)));

/** Workgroup size of the per-channel reductions: few fat lanes and few barriers suit lavapipe best. */
const REDUCE_WG = 64;

/** Item modes of the per-channel reductions (see shaders/norm.wgsl). */
const SINGLE = 0;
const SPATIAL = 1;
const ACROSS = 2;

/** Uniforms and grid of the per-channel reduction kernels (item modes and lane split in shaders/norm.wgsl). */
function lanes(v: ChannelView, eps = 0, momentum = 0): { params: Params; workgroups: [number] } {
  const mode = v.s % 4 === 0 ? SPATIAL : v.s === 1 && v.c % 4 === 0 ? ACROSS : SINGLE;
  const groups = mode === ACROSS ? v.c / 4 : v.c;
  const items = mode === SPATIAL ? v.s / 4 : mode === ACROSS ? 1 : v.s;
  // Short rows: several groups per workgroup, so neighbouring lanes read neighbouring memory.
  const tc = items < 4 ? Math.min(16, nextPow2(groups)) : 1;
  const sw = Math.min(REDUCE_WG / tc, nextPow2(items));
  const rw = REDUCE_WG / (tc * sw);
  return {
    params: new Params().u32(v.n, v.c, groups, items, mode, tc, sw, rw, v.n * v.s).f32(v.n * v.s, eps, momentum),
    workgroups: [Math.ceil(groups / tc)],
  };
}

/**
 * Binds a tensor rounded up to whole vec4s, for kernels that read or write four elements at a time. Pool
 * buffers are 16-byte multiples, so the range stays inside the buffer; padding lanes hold values nobody reads
 * (only bind outputs the op allocated itself, as padding lanes may be written).
 */
export function vec4Binding(t: Tensor, op: string): BufferRange {
  const size = Math.max(1, Math.ceil(t.size / 4)) * 16;
  if (size > t.buffer.size) {
    throw new Error(`texad: ${op}: tensor ${formatShape(t.shape)} lives in a ${t.buffer.size}-byte buffer, not a whole number of vec4s`);
  }
  return { buffer: t.buffer, offset: 0, size };
}

/** Forms of the channel_map kernel (shaders/norm.wgsl); the `Relu` forms are BatchNorm fused with a ReLU. */
const MapForm = { normalize: 0, scale: 1, trainGrad: 2, normalizeRelu: 3, trainGradRelu: 4, scaleRelu: 5 } as const;

/**
 * A 4-wide per-channel map of `u` (and `w`) over the [N, C, S] view with coefficient rows `coef`: the BN
 * forward from stats, a gradient scaled by stats row 0, or the training-mode input gradient u * a + w * b + d.
 */
function channelMap(
  form: (typeof MapForm)[keyof typeof MapForm],
  u: Tensor,
  w: Tensor | null,
  coef: Tensor,
  view: ChannelView,
  what: string,
): Tensor {
  const rt = u.rt;
  const y = rt.empty(u.shape, 'batchNorm');
  const vec4s = Math.ceil(u.size / 4);
  rt.dispatch({
    family: 'norm',
    entry: 'channel_map',
    spec: { WG },
    params: new Params().u32(vec4s, view.c, view.s, form),
    inputs: [vec4Binding(u, what), vec4Binding(w ?? u, what), coef],
    outputs: [vec4Binding(y, what)],
    workgroups: rt.grid(vec4s, WG),
    what,
  });
  return y;
}

/**
 * Per-channel sums of g * xhat and g (the gamma and beta gradients), from BN or LN statistics; with `relu`, g is
 * masked by the fused ReLU's pre-activation (BN only).
 */
function gradParams(x: Tensor, g: Tensor, stats: Tensor, v: ChannelView, perPixel: boolean, what: string, relu = false): [Tensor, Tensor] {
  const rt = x.rt;
  const dgamma = rt.empty([v.c], 'dgamma');
  const dbeta = rt.empty([v.c], 'dbeta');
  const { params, workgroups } = lanes(v);
  rt.dispatch({
    family: 'norm',
    entry: 'grad_params',
    spec: { WG: REDUCE_WG, PER_PIXEL: perPixel, RELU: relu },
    params,
    inputs: [vec4Binding(x, what), vec4Binding(g, what), stats],
    outputs: [dgamma, dbeta],
    workgroups,
    what: `${what} backward (gamma, beta)`,
  });
  return [dgamma, dbeta];
}

/** Keeps the gradient of a parameter that takes part in autograd, disposes it otherwise. */
function gradFor(param: Tensor | null, grad: Tensor): Tensor | null {
  if (param && needsGrad(param)) return grad;
  grad.dispose();
  return null;
}

/** Running statistics of a BatchNorm layer, updated in place in training mode. */
export interface BatchNormState {
  runningMean: Tensor;
  runningVar: Tensor;
}

/**
 * BatchNorm over dim 1 of [N, C] (BatchNorm1d), [N, C, L] or [N, C, H, W] (BatchNorm2d), PyTorch semantics.
 * Training: normalises with the batch mean and biased variance, updates `state` in place (momentum, unbiased
 * variance) and back-propagates through the batch statistics. Eval: uses `state`, still differentiable in x,
 * gamma and beta. Absent gamma/beta mean 1/0. `relu: true` returns relu(batchNorm(...)) with the ReLU fused into
 * the normalising pass and its gradient into the backward passes (the mask is recomputed from x and the
 * statistics), so the pair costs no extra pass over the tensor and no pre-activation temporary.
 */
export function batchNorm(
  x: Tensor,
  gamma: Tensor | null,
  beta: Tensor | null,
  state: BatchNormState | null,
  opts: { training: boolean; momentum?: number; eps?: number; relu?: boolean },
): Tensor {
  const v = channelView(x, 'batchNorm');
  const relu = opts.relu ?? false;
  const what = `batchNorm${relu ? '+relu' : ''} x${formatShape(x.shape)}`;
  checkVector(gamma, v.c, 'gamma', what);
  checkVector(beta, v.c, 'beta', what);
  checkVector(state?.runningMean ?? null, v.c, 'runningMean', what);
  checkVector(state?.runningVar ?? null, v.c, 'runningVar', what);
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? 1e-5;
  if (!(eps > 0) || !(momentum >= 0 && momentum <= 1)) {
    throw new Error(`texad: ${what}: eps must be > 0 and momentum in [0, 1], got eps ${eps}, momentum ${momentum}`);
  }
  const rt = x.rt;
  const gammaT = orFill(rt, gamma, v.c, 1);
  const betaT = orFill(rt, beta, v.c, 0);
  // stats rows: scale = gamma * invstd, beta, mean, invstd.
  const stats = rt.empty([4, v.c], 'bn stats');
  if (opts.training) {
    if (v.n * v.s < 2) {
      throw new Error(`texad: ${what}: training mode needs more than one value per channel; use a larger batch or eval mode`);
    }
    // Without a state the running statistics go to scratch buffers that are dropped.
    const runningMean = state?.runningMean ?? rt.empty([v.c], 'bn scratch');
    const runningVar = state?.runningVar ?? rt.empty([v.c], 'bn scratch');
    const { params, workgroups } = lanes(v, eps, momentum);
    rt.dispatch({
      family: 'norm',
      entry: 'bn_train_stats',
      spec: { WG: REDUCE_WG },
      params,
      inputs: [vec4Binding(x, what), gammaT, betaT],
      outputs: [stats, runningMean, runningVar],
      workgroups,
      what,
    });
    if (!state) {
      runningMean.dispose();
      runningVar.dispose();
    }
  } else {
    if (!state) throw new Error(`texad: ${what}: eval mode needs the running statistics (state), got null`);
    rt.dispatch({
      family: 'norm',
      entry: 'bn_eval_stats',
      spec: { WG },
      params: new Params().u32(v.c).f32(eps).u32(0, 0),
      inputs: [gammaT, betaT, state.runningMean, state.runningVar],
      outputs: [stats],
      workgroups: [Math.ceil(v.c / WG)],
      what,
    });
  }
  disposeStandIn(gammaT, gamma);
  disposeStandIn(betaT, beta);
  const y = channelMap(relu ? MapForm.normalizeRelu : MapForm.normalize, x, null, stats, v, what);
  const inputs = [x, gamma, beta].filter((t): t is Tensor => t !== null);
  if (!rt.recordsGrad(...inputs)) {
    stats.dispose();
    return y;
  }
  const affine = [gamma, beta].filter((t): t is Tensor => t !== null);
  return rt.record(y, relu ? 'batchNorm+relu' : 'batchNorm', inputs, (gy) => {
    let dx: Tensor | null = null;
    let sums: [Tensor, Tensor] | null = null;
    if (opts.training) {
      // The input gradient needs both sums even when gamma and beta are frozen.
      sums = gradParams(x, gy, stats, v, false, what, relu);
      if (needsGrad(x)) {
        const coef = rt.empty([relu ? 6 : 3, v.c], 'bn grad coef');
        rt.dispatch({
          family: 'norm',
          entry: 'bn_grad_coef',
          spec: { WG, RELU: relu },
          params: new Params().u32(v.c).f32(1 / (v.n * v.s)).u32(0, 0),
          inputs: [stats, sums[0], sums[1]],
          outputs: [coef],
          workgroups: [Math.ceil(v.c / WG)],
          what: `${what} backward (x)`,
        });
        dx = channelMap(relu ? MapForm.trainGradRelu : MapForm.trainGrad, gy, x, coef, v, `${what} backward (x)`);
        coef.dispose();
      }
    } else {
      if (affine.some(needsGrad)) sums = gradParams(x, gy, stats, v, false, what, relu);
      if (needsGrad(x)) dx = channelMap(relu ? MapForm.scaleRelu : MapForm.scale, gy, relu ? x : null, stats, v, `${what} backward (x)`);
    }
    const grads: Array<Tensor | null> = [dx];
    if (gamma) grads.push(sums ? gradFor(gamma, sums[0]) : null);
    else sums?.[0].dispose();
    if (beta) grads.push(sums ? gradFor(beta, sums[1]) : null);
    else sums?.[1].dispose();
    return grads;
  });
}

/** LayerNorm over C of the [N, C, S] view at each (n, s); shared by both public layer norms. */
function layerNormView(x: Tensor, v: ChannelView, gamma: Tensor | null, beta: Tensor | null, eps: number, op: string): Tensor {
  const what = `${op} x${formatShape(x.shape)}`;
  checkVector(gamma, v.c, 'gamma', what);
  checkVector(beta, v.c, 'beta', what);
  if (!(eps > 0)) throw new Error(`texad: ${what}: eps must be > 0, got ${eps}`);
  const rt = x.rt;
  const pixels = v.n * v.s;
  const gammaT = orFill(rt, gamma, v.c, 1);
  const betaT = orFill(rt, beta, v.c, 0);
  const y = rt.empty(x.shape, op);
  const stats = rt.empty([2, pixels], `${op} stats`);
  rt.dispatch({
    family: 'norm',
    entry: 'ln_forward',
    spec: { WG },
    params: new Params().u32(pixels, v.c, v.s).f32(eps),
    inputs: [x, gammaT, betaT],
    outputs: [y, stats],
    workgroups: rt.grid(pixels, WG),
    what,
  });
  disposeStandIn(betaT, beta);
  const inputs = [x, gamma, beta].filter((t): t is Tensor => t !== null);
  if (!rt.recordsGrad(...inputs)) {
    disposeStandIn(gammaT, gamma);
    stats.dispose();
    return y;
  }
  return rt.record(y, op, inputs, (gy) => {
    let dx: Tensor | null = null;
    if (needsGrad(x)) {
      dx = rt.empty(x.shape, `${op} dx`);
      rt.dispatch({
        family: 'norm',
        entry: 'ln_grad_input',
        spec: { WG },
        params: new Params().u32(pixels, v.c, v.s, 0),
        inputs: [x, gy, gammaT, stats],
        outputs: [dx],
        workgroups: rt.grid(pixels, WG),
        what: `${what} backward (x)`,
      });
    }
    const grads: Array<Tensor | null> = [dx];
    if (gamma || beta) {
      const [dgamma, dbeta] = gradParams(x, gy, stats, v, true, what);
      if (gamma) grads.push(gradFor(gamma, dgamma));
      else dgamma.dispose();
      if (beta) grads.push(gradFor(beta, dbeta));
      else dbeta.dispose();
    }
    return grads;
  });
}

/** LayerNorm over the channel dim at every pixel of [N, C, H, W] (MSFlow); gamma and beta are [C]. */
export function layerNormChannels(x: Tensor, gamma: Tensor | null, beta: Tensor | null, eps = 1e-5): Tensor {
  return layerNormView(x, channelView(x, 'layerNormChannels'), gamma, beta, eps, 'layerNormChannels');
}

/** torch.nn.LayerNorm over the last dim of x (any rank >= 1); gamma and beta are [D]. */
export function layerNorm(x: Tensor, gamma: Tensor | null, beta: Tensor | null, eps = 1e-5): Tensor {
  x.assertAlive('layerNorm');
  if (x.rank < 1) throw new Error(`texad: layerNorm needs x of rank >= 1, got ${formatShape(x.shape)}`);
  const d = x.shape[x.rank - 1]!;
  return layerNormView(x, { n: d === 0 ? 0 : x.size / d, c: d, s: 1 }, gamma, beta, eps, 'layerNorm');
}

/** Eval-mode BatchNorm parameters of one layer (CPU copies). */
export interface BatchNormParams {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  var: Float32Array;
}

/**
 * Folds an eval-mode BatchNorm into the preceding convolution or linear layer: weight is [outChannels, ...]
 * (e.g. OIHW), so conv(x, w') + b' == bn(conv(x, w) + b). Computed in float64, rounded once.
 */
export function foldBatchNorm(
  weight: Float32Array,
  bias: Float32Array | null,
  bn: BatchNormParams,
  outChannels: number,
  eps = 1e-5,
): { weight: Float32Array; bias: Float32Array } {
  const what = `foldBatchNorm weight[${weight.length}] outChannels ${outChannels}`;
  if (!Number.isInteger(outChannels) || outChannels < 1 || weight.length % outChannels !== 0) {
    throw new Error(`texad: ${what}: the weight length must be a positive multiple of outChannels`);
  }
  for (const [name, a] of [['gamma', bn.gamma], ['beta', bn.beta], ['mean', bn.mean], ['var', bn.var], ['bias', bias]] as const) {
    if (a && a.length !== outChannels) throw new Error(`texad: ${what}: ${name} has ${a.length} values, expected ${outChannels}`);
  }
  const perChannel = weight.length / outChannels;
  const w = new Float32Array(weight.length);
  const b = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    const k = bn.gamma[o]! / Math.sqrt(bn.var[o]! + eps);
    for (let j = o * perChannel; j < (o + 1) * perChannel; j++) w[j] = weight[j]! * k;
    b[o] = ((bias?.[o] ?? 0) - bn.mean[o]!) * k + bn.beta[o]!;
  }
  return { weight: w, bias: b };
}
