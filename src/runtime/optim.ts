// Optimizers (SGD, Adam, AdamW), learning-rate schedules and gradient-norm clipping with PyTorch semantics.
// Updates run in place on the GPU (shaders/optim.wgsl): one fused dispatch per parameter per step, moments in
// GPU tensors, no readback. Non-finite gradients are recorded in a GPU flag buffer instead of being checked
// every step (a readback per step would stall the batched queue); `checkFinite()` reads the flags and throws,
// and `saveState()` calls it so a checkpoint never captures a diverged run.
import type { ShaderEntries } from '../generated/shaders.ts';
import { Params, type Runtime } from './runtime.ts';
import { formatShape, type Tensor } from './tensor.ts';

const WG = 256;
/** Elements each clipping invocation squares: one workgroup reduces WG * ITEMS elements to one partial sum. */
const ITEMS = 32;
const U32_MAX = 0xffffffff;

/** A trainable tensor, optionally named for error messages and checkpoints. */
export type ParamLike = Tensor | { name: string; tensor: Tensor };

/** Optimizer state as plain data: per-parameter state buffers and step counts, for checkpoint/resume. */
export interface OptimizerState {
  kind: string;
  lr: number;
  /** Calls of step() so far. */
  step: number;
  params: Array<{ name: string; shape: number[]; step: number; buffers: Record<string, Float32Array> }>;
}

export interface Optimizer {
  /** Learning rate used by the next step(); schedules set it. */
  lr: number;
  /** Updates every parameter that has a gradient, in place. */
  step(): void;
  /** Drops the parameters' gradients (PyTorch's set_to_none). */
  zeroGrad(): void;
  /** Throws if any step so far met a NaN/Inf gradient, naming the parameters and the first bad step. */
  checkFinite(): Promise<void>;
  /** Copies the state to the CPU (after checkFinite()). */
  saveState(): Promise<OptimizerState>;
  /** Restores a state saved from an optimizer of the same kind over the same parameters; clears the flags. */
  loadState(state: OptimizerState): void;
  /** Frees the GPU state buffers. */
  dispose(): void;
}

interface Slot {
  name: string;
  tensor: Tensor;
  /** Steps this parameter took (parameters without a gradient skip a step, as in PyTorch). */
  step: number;
  buffers: Tensor[];
}

function checkHyper(kind: string, name: string, value: number, ok: (v: number) => boolean, range: string): void {
  if (!ok(value)) throw new Error(`texad: ${kind}: ${name} must be ${range}, got ${value}`);
}
const nonNegative = (v: number) => Number.isFinite(v) && v >= 0;
const inUnitInterval = (v: number) => v >= 0 && v < 1;

function paramLabel(p: ParamLike, i: number): { name: string; tensor: Tensor } {
  return 'tensor' in p ? p : { name: `params[${i}]`, tensor: p };
}

/** Writes host data into an existing GPU tensor, after everything recorded so far. */
function overwrite(rt: Runtime, t: Tensor, data: Float32Array | Uint32Array): void {
  // queue.writeBuffer runs ahead of unsubmitted commands: submit those first so the write lands after them.
  rt.flush();
  rt.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
}

abstract class BaseOptimizer implements Optimizer {
  readonly rt: Runtime;
  private readonly slots: Slot[];
  /** One u32 per parameter: 0, or 0xFFFFFFFF - (first step with a non-finite gradient). */
  private readonly flags: Tensor;
  private readonly bufferNames: readonly string[];
  private learningRate = 0;
  private steps = 0;

  protected constructor(readonly kind: string, params: readonly ParamLike[], lr: number, bufferNames: readonly string[]) {
    if (params.length === 0) throw new Error(`texad: ${kind}: got an empty parameter list`);
    const labelled = params.map(paramLabel);
    this.rt = labelled[0]!.tensor.rt;
    const seen = new Map<Tensor, string>();
    const names = new Set<string>();
    for (const { name, tensor } of labelled) {
      tensor.assertAlive(`${kind} parameter '${name}'`);
      if (tensor.rt !== this.rt) throw new Error(`texad: ${kind}: parameter '${name}' lives on another runtime`);
      if (tensor.node !== null) {
        throw new Error(`texad: ${kind}: parameter '${name}' ${formatShape(tensor.shape)} is the output of an op; optimizers update leaf tensors only`);
      }
      const dup = seen.get(tensor);
      if (dup !== undefined) throw new Error(`texad: ${kind}: parameters '${dup}' and '${name}' are the same tensor`);
      if (names.has(name)) throw new Error(`texad: ${kind}: two parameters are named '${name}'`);
      seen.set(tensor, name);
      names.add(name);
    }
    this.lr = lr;
    this.bufferNames = bufferNames;
    this.slots = labelled.map(({ name, tensor }) => ({
      name,
      tensor,
      step: 0,
      buffers: bufferNames.map(() => this.rt.zeros(tensor.shape).keep()),
    }));
    this.flags = this.rt.zeros([labelled.length]).keep();
  }

  get lr(): number {
    return this.learningRate;
  }

  set lr(value: number) {
    checkHyper(this.kind, 'lr', value, nonNegative, 'a finite number >= 0 (check the schedule)');
    this.learningRate = value;
  }

  /** Dispatches the update of one parameter; `head` already holds (n, slot, marker, 0). */
  protected abstract update(slot: Slot, grad: Tensor, head: Params): void;

  step(): void {
    if (this.steps >= U32_MAX - 1) throw new Error(`texad: ${this.kind}: step count over 2^32`);
    // Validate every gradient before dispatching any update, so a bad one leaves the step undone, not half done.
    const updates = this.slots.flatMap((slot, index) => {
      const grad = slot.tensor.grad;
      if (!grad) return [];
      grad.assertAlive(`${this.kind}.step gradient of '${slot.name}'`);
      if (grad.shape.length !== slot.tensor.shape.length || grad.shape.some((d, k) => d !== slot.tensor.shape[k])) {
        throw new Error(
          `texad: ${this.kind}.step: parameter '${slot.name}' ${formatShape(slot.tensor.shape)} has a gradient of ` +
            `shape ${formatShape(grad.shape)}; gradients must match their parameter`,
        );
      }
      return [{ slot, index, grad }];
    });
    this.steps++;
    for (const { slot, index, grad } of updates) {
      slot.step++;
      this.update(slot, grad, new Params().u32(slot.tensor.size, index, U32_MAX - this.steps, 0));
    }
  }

  protected dispatch(entry: ShaderEntries['optim'], spec: Record<string, number | boolean>, slot: Slot, grad: Tensor, params: Params): void {
    this.rt.dispatch({
      family: 'optim',
      entry,
      spec: { WG, ...spec },
      params,
      inputs: [grad],
      outputs: [slot.tensor, ...slot.buffers, this.flags],
      workgroups: this.rt.grid(slot.tensor.size, WG),
      what: `${this.kind}.step '${slot.name}' ${formatShape(slot.tensor.shape)}`,
    });
  }

  zeroGrad(): void {
    for (const { tensor } of this.slots) {
      tensor.grad?.dispose();
      tensor.grad = null;
    }
  }

  async checkFinite(): Promise<void> {
    const raw = await this.flags.read();
    const words = new Uint32Array(raw.buffer, raw.byteOffset, raw.length);
    const bad = this.slots
      .map((s, i) => ({ s, flag: words[i]! }))
      .filter(({ flag }) => flag !== 0)
      .map(({ s, flag }) => `'${s.name}' ${formatShape(s.tensor.shape)} (first at step ${U32_MAX - flag})`);
    if (bad.length > 0) {
      throw new Error(
        `texad: ${this.kind}: non-finite gradient (NaN or Inf) in ${bad.join(', ')}; those elements were left ` +
          `unchanged. Lower the learning rate, clip gradients (clipGradNorm), or look for log(0) or a division ` +
          `by zero in the loss; loadState() of an earlier checkpoint clears this.`,
      );
    }
  }

  async saveState(): Promise<OptimizerState> {
    await this.checkFinite();
    const params: OptimizerState['params'] = [];
    for (const slot of this.slots) {
      const buffers: Record<string, Float32Array> = {};
      for (let k = 0; k < slot.buffers.length; k++) buffers[this.bufferNames[k]!] = await slot.buffers[k]!.read();
      params.push({ name: slot.name, shape: [...slot.tensor.shape], step: slot.step, buffers });
    }
    return { kind: this.kind, lr: this.lr, step: this.steps, params };
  }

  loadState(state: OptimizerState): void {
    const fail = (why: string): never => {
      throw new Error(`texad: ${this.kind}.loadState: ${why}; load a state saved by the same optimizer over the same parameters`);
    };
    if (state.kind !== this.kind) fail(`the state is from ${state.kind}`);
    if (!Number.isInteger(state.step) || state.step < 0) fail(`invalid step count ${state.step}`);
    if (state.params.length !== this.slots.length) fail(`it has ${state.params.length} parameters, this optimizer ${this.slots.length}`);
    this.slots.forEach((slot, i) => {
      const saved = state.params[i]!;
      const where = `parameter ${i} '${slot.name}' ${formatShape(slot.tensor.shape)}`;
      if (saved.name !== slot.name) fail(`${where} is named '${saved.name}' in the state`);
      if (saved.shape.join() !== slot.tensor.shape.join()) fail(`${where} has shape ${formatShape(saved.shape)} in the state`);
      if (!Number.isInteger(saved.step) || saved.step < 0 || saved.step > state.step) fail(`${where} has an invalid step count ${saved.step}`);
      for (const name of this.bufferNames) {
        if (saved.buffers[name]?.length !== slot.tensor.size) fail(`${where} lacks a ${slot.tensor.size}-element '${name}'`);
      }
    });
    this.lr = state.lr;
    this.slots.forEach((slot, i) => {
      const saved = state.params[i]!;
      slot.step = saved.step;
      slot.buffers.forEach((t, k) => overwrite(this.rt, t, saved.buffers[this.bufferNames[k]!]!));
    });
    this.steps = state.step;
    overwrite(this.rt, this.flags, new Uint32Array(this.slots.length));
  }

  dispose(): void {
    for (const slot of this.slots) for (const b of slot.buffers) b.dispose();
    this.flags.dispose();
  }
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
}

/** torch.optim.SGD (dampening 0, no Nesterov): weight decay is added to the gradient. */
export class SGD extends BaseOptimizer {
  readonly momentum: number;
  readonly weightDecay: number;

  constructor(params: readonly ParamLike[], { lr, momentum = 0, weightDecay = 0 }: SGDOptions) {
    checkHyper('SGD', 'momentum', momentum, nonNegative, 'a finite number >= 0');
    checkHyper('SGD', 'weightDecay', weightDecay, nonNegative, 'a finite number >= 0');
    super('SGD', params, lr, momentum > 0 ? ['momentum_buffer'] : []);
    this.momentum = momentum;
    this.weightDecay = weightDecay;
  }

  protected update(slot: Slot, grad: Tensor, head: Params): void {
    const params = head.f32(this.lr, this.weightDecay, this.momentum).u32(0);
    this.dispatch(this.momentum > 0 ? 'sgd_momentum' : 'sgd', {}, slot, grad, params);
  }
}

export interface AdamOptions {
  lr: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

/** Adam and AdamW share the kernel; they differ in how weight decay enters (see shaders/optim.wgsl). */
abstract class AdamFamily extends BaseOptimizer {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;

  protected constructor(kind: string, private readonly decoupled: boolean, params: readonly ParamLike[], opts: AdamOptions) {
    const { lr, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0 } = opts;
    checkHyper(kind, 'betas[0]', betas[0], inUnitInterval, 'in [0, 1)');
    checkHyper(kind, 'betas[1]', betas[1], inUnitInterval, 'in [0, 1)');
    checkHyper(kind, 'eps', eps, nonNegative, 'a finite number >= 0');
    checkHyper(kind, 'weightDecay', weightDecay, nonNegative, 'a finite number >= 0');
    super(kind, params, lr, ['exp_avg', 'exp_avg_sq']);
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
  }

  protected update(slot: Slot, grad: Tensor, head: Params): void {
    const [b1, b2] = this.betas;
    const stepSize = this.lr / (1 - b1 ** slot.step);
    const bc2Sqrt = Math.sqrt(1 - b2 ** slot.step);
    const params = head
      .f32(b1, 1 - b1, b2, 1 - b2, stepSize, bc2Sqrt, this.eps, this.weightDecay, 1 - this.lr * this.weightDecay)
      .u32(0, 0, 0);
    this.dispatch('adam', { DECOUPLED: this.decoupled }, slot, grad, params);
  }
}

/** torch.optim.Adam (no AMSGrad): weight decay is L2, added to the gradient. */
export class Adam extends AdamFamily {
  constructor(params: readonly ParamLike[], opts: AdamOptions) {
    super('Adam', false, params, opts);
  }
}

/** torch.optim.AdamW: decoupled weight decay (the parameter shrinks by lr * weightDecay each step). */
export class AdamW extends AdamFamily {
  constructor(params: readonly ParamLike[], opts: AdamOptions) {
    super('AdamW', true, params, { ...opts, weightDecay: opts.weightDecay ?? 0.01 });
  }
}

// ---- gradient clipping --------------------------------------------------------------------------------

/**
 * torch.nn.utils.clip_grad_norm_: scales all gradients in place by min(1, maxNorm / (norm + 1e-6)), where
 * norm is the L2 norm over all of them, and returns that norm as a 0-d tensor. Runs on the GPU without a
 * readback; parameters without a gradient are skipped.
 */
export function clipGradNorm(params: readonly ParamLike[], maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`texad: clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  if (params.length === 0) throw new Error('texad: clipGradNorm: got an empty parameter list');
  const grads = params.map(paramLabel).flatMap(({ name, tensor }) => {
    tensor.assertAlive(`clipGradNorm parameter '${name}'`);
    return tensor.grad && tensor.grad.size > 0 ? [{ name, grad: tensor.grad }] : [];
  });
  const rt = paramLabel(params[0]!, 0).tensor.rt;
  const chunk = WG * ITEMS;
  const groups = grads.map(({ grad }) => Math.ceil(grad.size / chunk));
  const count = groups.reduce((a, b) => a + b, 0);
  const norm = rt.empty([], 'clipGradNorm norm');
  rt.tidy(() => {
    const partials = rt.empty([Math.max(1, count)], 'clipGradNorm partials');
    let offset = 0;
    grads.forEach(({ name, grad }, k) => {
      rt.dispatch({
        family: 'optim',
        entry: 'sumsq',
        spec: { WG, ITEMS },
        params: new Params().u32(grad.size, offset, groups[k]!, 0),
        inputs: [grad],
        outputs: [partials],
        workgroups: rt.grid(groups[k]! * WG, WG),
        what: `clipGradNorm sum of squares '${name}' ${formatShape(grad.shape)}`,
      });
      offset += groups[k]!;
    });
    rt.dispatch({
      family: 'optim',
      entry: 'norm',
      spec: { WG },
      params: new Params().u32(count, 0, 0, 0),
      inputs: [partials],
      outputs: [norm],
      workgroups: [1],
      what: `clipGradNorm norm of ${grads.length} gradients`,
    });
  });
  for (const { name, grad } of grads) {
    rt.dispatch({
      family: 'optim',
      entry: 'clip_scale',
      spec: { WG },
      params: new Params().u32(grad.size).f32(Math.min(maxNorm, 3.4e38)).u32(0, 0),
      inputs: [norm],
      outputs: [grad],
      workgroups: rt.grid(grad.size, WG),
      what: `clipGradNorm scale '${name}' ${formatShape(grad.shape)}`,
    });
  }
  return norm;
}

// ---- learning-rate schedules --------------------------------------------------------------------------

/** Learning rate as a function of the epoch (or step) index, starting at 0. */
export type LrSchedule = (epoch: number) => number;

function checkEpoch(what: string, epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`texad: ${what}: epoch must be an integer >= 0, got ${epoch}`);
}

function checkSchedule(what: string, base: number, gamma: number): void {
  if (!nonNegative(base)) throw new Error(`texad: ${what}: base learning rate must be a finite number >= 0, got ${base}`);
  if (!nonNegative(gamma)) throw new Error(`texad: ${what}: gamma must be a finite number >= 0, got ${gamma}`);
}

/** torch.optim.lr_scheduler.StepLR: base * gamma^floor(epoch / stepSize). */
export function stepLR(base: number, stepSize: number, gamma = 0.1): LrSchedule {
  checkSchedule('stepLR', base, gamma);
  if (!Number.isInteger(stepSize) || stepSize < 1) throw new Error(`texad: stepLR: stepSize must be an integer >= 1, got ${stepSize}`);
  return (epoch) => {
    checkEpoch('stepLR', epoch);
    return base * gamma ** Math.floor(epoch / stepSize);
  };
}

/** torch.optim.lr_scheduler.MultiStepLR: base * gamma^(number of milestones <= epoch, repeats counted). */
export function multiStepLR(base: number, milestones: readonly number[], gamma = 0.1): LrSchedule {
  checkSchedule('multiStepLR', base, gamma);
  if (!milestones.every((m) => Number.isInteger(m) && m >= 0)) {
    throw new Error(`texad: multiStepLR: milestones must be integers >= 0, got [${milestones.join(', ')}]`);
  }
  const sorted = [...milestones].sort((a, b) => a - b);
  return (epoch) => {
    checkEpoch('multiStepLR', epoch);
    return base * gamma ** sorted.filter((m) => m <= epoch).length;
  };
}

/**
 * torch LinearLR(startFactor, endFactor 1, totalIters warmupSteps) chained by SequentialLR: the factor rises
 * linearly from startFactor at step 0 to 1 at warmupSteps; from then on `after(step - warmupSteps)` (its own
 * count restarts at the milestone, as SequentialLR does), or `base` when there is no `after`.
 */
export function linearWarmup(base: number, warmupSteps: number, after?: LrSchedule, startFactor = 1 / 3): LrSchedule {
  checkSchedule('linearWarmup', base, 0);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 1) {
    throw new Error(`texad: linearWarmup: warmupSteps must be an integer >= 1, got ${warmupSteps}`);
  }
  if (!(startFactor > 0 && startFactor <= 1)) {
    throw new Error(`texad: linearWarmup: startFactor must be in (0, 1] (PyTorch LinearLR), got ${startFactor}`);
  }
  return (step) => {
    checkEpoch('linearWarmup', step);
    if (step >= warmupSteps) return after ? after(step - warmupSteps) : base;
    return base * (startFactor + ((1 - startFactor) * step) / warmupSteps);
  };
}
