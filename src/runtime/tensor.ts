// Float32 GPU tensors. Several tensors (reshaped views) may share one Storage; the buffer goes back to the
// pool when the last of them is disposed.
import type { Runtime } from './runtime.ts';

export type Shape = readonly number[];

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Whether gradients must flow into `t`: a trainable leaf or the output of a recorded op. */
export function needsGrad(t: Tensor): boolean {
  return t.requiresGrad || t.node !== null;
}

export class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer, readonly elements: number) {}
}

/** A backward rule: given the gradient of the op's output, the gradients of its inputs (null = none). */
export type BackwardFn = (gradOutput: Tensor) => Array<Tensor | null>;

export interface GradNode {
  op: string;
  inputs: Tensor[];
  backward: BackwardFn;
}

export class Tensor {
  /** Gradient accumulated by backward() for tensors with requiresGrad; owned by the tensor. */
  grad: Tensor | null = null;
  /** Set on tensors produced by a recorded op. */
  node: GradNode | null = null;
  private alive = true;

  constructor(
    readonly rt: Runtime,
    readonly storage: Storage,
    readonly shape: Shape,
    public requiresGrad = false,
  ) {
    const size = shapeSize(shape);
    if (size > storage.elements) {
      throw new Error(`texad: tensor of shape ${formatShape(shape)} exceeds its storage (${storage.elements} floats)`);
    }
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`texad: invalid tensor shape ${formatShape(shape)}`);
    }
  }

  get size(): number {
    return shapeSize(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get buffer(): GPUBuffer {
    this.assertAlive('use');
    return this.storage.buffer;
  }

  get disposed(): boolean {
    return !this.alive;
  }

  assertAlive(op: string): void {
    if (!this.alive) {
      throw new Error(`texad: ${op} was given a disposed tensor of shape ${formatShape(this.shape)}`);
    }
  }

  /** A tensor sharing this one's storage with another shape of the same size. Gradients flow through. */
  reshape(shape: Shape): Tensor {
    this.assertAlive('reshape');
    const resolved = resolveShape(shape, this.size);
    this.storage.refs++;
    const view = new Tensor(this.rt, this.storage, resolved, false);
    this.rt.track(view);
    if (this.rt.recordsGrad(this)) {
      const source = this;
      this.rt.record(view, 'reshape', [this], (g) => [g.reshape(source.shape)]);
    }
    return view;
  }

  /** Copies the values to the CPU (flushes pending GPU work). */
  async read(): Promise<Float32Array> {
    this.assertAlive('read');
    return this.rt.read(this);
  }

  /** Detaches from the current scope so the tensor outlives it; the caller now owns it. */
  keep(): this {
    this.rt.untrack(this);
    return this;
  }

  dispose(): void {
    if (!this.alive) return;
    this.alive = false;
    this.node = null;
    this.grad?.dispose();
    this.grad = null;
    this.rt.untrack(this);
    if (--this.storage.refs === 0) this.rt.pool.release(this.storage.buffer);
  }
}

function resolveShape(shape: Shape, size: number): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const known = shapeSize(out.filter((_, i) => i !== free));
    out[free] = known === 0 ? 0 : size / known;
  }
  if (shapeSize(out) !== size || !out.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`texad: reshape cannot turn ${size} elements into ${formatShape(shape)}`);
  }
  return out;
}
