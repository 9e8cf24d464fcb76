// Shared test helpers: one runtime per test file, golden fixtures written by tools/golden/*.py, tolerance
// checks with useful messages, and a finite-difference gradient check.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { Runtime } from '../../src/runtime/runtime.ts';
import { backward } from '../../src/runtime/autograd.ts';
import { Tensor } from '../../src/runtime/tensor.ts';

let shared: Promise<Runtime> | null = null;

/** The file's runtime, destroyed after its tests. */
export function gpuRuntime(): Promise<Runtime> {
  if (!shared) {
    shared = Runtime.create();
    afterAll(async () => {
      const rt = await shared;
      shared = null;
      await rt?.destroy();
    });
  }
  return shared;
}

export interface GoldenArray {
  shape: number[];
  data: number[];
}

export interface GoldenCase {
  name: string;
  op: string;
  args: Record<string, unknown>;
  inputs: Record<string, GoldenArray>;
  output: GoldenArray;
  gradOutput?: GoldenArray;
  grads?: Record<string, GoldenArray>;
}

export function loadGolden(family: string): GoldenCase[] {
  const url = new URL(`../fixtures/golden/${family}.json`, import.meta.url);
  return (JSON.parse(readFileSync(fileURLToPath(url), 'utf8')) as { cases: GoldenCase[] }).cases;
}

/**
 * Throws unless |a - e| <= atol + rtol * |e| everywhere; the message names the worst element.
 * Default: 1e-4 relative with an absolute floor scaled to the data (f32 sums of many terms).
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  { rtol = 1e-4, atol }: { rtol?: number; atol?: number } = {},
): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
  const floor = atol ?? 1e-5 * Math.max(1, maxAbs);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const err = Math.abs(a - e);
    const tol = floor + rtol * Math.abs(e);
    if (!(err <= tol) && (worst < 0 || err - tol > worstExcess || Number.isNaN(err))) {
      worst = i;
      worstExcess = err - tol;
    }
  }
  if (worst >= 0) {
    throw new Error(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${floor})`);
  }
}

/** Runs one golden case: forward output, then gradients of sum(output * gradOutput). */
export async function checkGoldenCase(
  rt: Runtime,
  c: GoldenCase,
  run: (inputs: Record<string, Tensor>, args: Record<string, unknown>) => Tensor,
  tol: { rtol?: number; atol?: number } = {},
): Promise<void> {
  await rt.tidyAsync(async () => {
    const inputs: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(c.inputs)) inputs[k] = rt.tensor(v.data, v.shape, c.grads?.[k] !== undefined);
    const out = run(inputs, c.args);
    if (out.shape.join() !== c.output.shape.join()) {
      throw new Error(`${c.name}: output shape [${out.shape}] != expected [${c.output.shape}]`);
    }
    assertClose(await out.read(), c.output.data, `${c.name} output`, tol);
    if (c.grads && c.gradOutput) {
      backward(out, rt.tensor(c.gradOutput.data, c.gradOutput.shape));
      for (const [k, g] of Object.entries(c.grads)) {
        const grad = inputs[k]!.grad;
        if (!grad) throw new Error(`${c.name}: no gradient reached input ${k}`);
        assertClose(await grad.read(), g.data, `${c.name} grad ${k}`, tol);
        inputs[k]!.dispose();
      }
    }
  });
}

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Finite-difference check of backward(): along random directions v, compares the central difference
 * (L(x + eps v) - L(x - eps v)) / 2eps with <grad L, v>, where L = sum(f(x) * w) for a fixed random w.
 * Directional checks keep the cost at two forward passes per direction, whatever the input size.
 */
export async function gradCheck(
  rt: Runtime,
  f: (inputs: Tensor[]) => Tensor,
  inputs: Array<{ data: Float32Array; shape: number[] }>,
  { eps = 1e-2, rtol = 2e-2, directions = 3, seed = 7 } = {},
): Promise<void> {
  const rand = seededRandom(seed);
  await rt.tidyAsync(async () => {
    const xs = inputs.map((i) => rt.tensor(i.data, i.shape, true));
    const out0 = f(xs);
    const w = rt.tensor(Float32Array.from({ length: out0.size }, () => rand() * 2 - 1), out0.shape);
    backward(out0, w);
    const grads = await Promise.all(xs.map(async (x) => (x.grad ? await x.grad.read() : new Float32Array(x.size))));
    const wv = await w.read();
    const loss = async (shifted: Float32Array[]) =>
      rt.tidyAsync(async () => {
        const out = rt.noGrad(() => f(shifted.map((d, k) => rt.tensor(d, inputs[k]!.shape))));
        const o = await out.read();
        let s = 0;
        for (let i = 0; i < o.length; i++) s += o[i]! * wv[i]!;
        return s;
      });
    for (let d = 0; d < directions; d++) {
      const v = inputs.map((i) => Float32Array.from({ length: i.data.length }, () => rand() * 2 - 1));
      let analytic = 0;
      v.forEach((vk, k) => vk.forEach((vi, i) => (analytic += vi * grads[k]![i]!)));
      const plus = await loss(inputs.map((i, k) => i.data.map((x, j) => x + eps * v[k]![j]!)));
      const minus = await loss(inputs.map((i, k) => i.data.map((x, j) => x - eps * v[k]![j]!)));
      const numeric = (plus - minus) / (2 * eps);
      const scale = Math.max(Math.abs(numeric), Math.abs(analytic), 1e-3);
      if (Math.abs(numeric - analytic) > rtol * scale) {
        throw new Error(`gradient check failed along direction ${d}: analytic ${analytic}, finite difference ${numeric}`);
      }
    }
  });
}

export function randomData(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}
