// A detector's state as one safetensors file: tensors as F32; the method name, JSON config and training state in
// __metadata__. Also the packing of optimizer states into a DetectorState, shared by every trained method.
import { SafetensorsReader, encodeSafetensors } from '../io/safetensors.ts';
import type { OptimizerState } from '../runtime/optim.ts';
import type { DetectorState } from './detector.ts';

/**
 * Serialises a state() to safetensors bytes. `extra` (e.g. training progress) travels in the same file, so a
 * checkpoint and what it describes are written in one atomic step.
 */
export function encodeDetectorState(state: DetectorState, extra: Record<string, unknown> = {}): Uint8Array {
  return encodeSafetensors(state.tensors, {
    texad_method: state.method,
    texad_config: JSON.stringify(state.config),
    texad_training: JSON.stringify(state.training),
    texad_extra: JSON.stringify(extra),
  });
}

/** Parses bytes written by encodeDetectorState; `name` appears in errors (a path, usually). */
export async function decodeDetectorState(bytes: Uint8Array, name = 'checkpoint'): Promise<DetectorState & { extra: Record<string, unknown> }> {
  const reader = await SafetensorsReader.open(bytes);
  const method = reader.metadata['texad_method'];
  const config = reader.metadata['texad_config'];
  if (!method || !config) {
    throw new Error(`texad: ${name} is a safetensors file but not a texad detector checkpoint (no texad_method/texad_config metadata)`);
  }
  const tensors: DetectorState['tensors'] = {};
  for (const [key, info] of reader.tensors) tensors[key] = { shape: [...info.shape], data: await reader.read(key) };
  const parse = (field: string) => JSON.parse(reader.metadata[field] ?? '{}') as Record<string, unknown>;
  return {
    method, config: JSON.parse(config) as Record<string, unknown>, training: parse('texad_training'), tensors,
    extra: parse('texad_extra'),
  };
}

/** An optimizer state with its buffers moved into the state's tensors (the JSON keeps only the small part). */
export interface PackedOptimizer {
  kind: string;
  lr: number;
  step: number;
  params: Array<{ name: string; shape: number[]; step: number; buffers: string[] }>;
}

/**
 * Moves the buffers (Adam moments, momentum) of optimizer `key` into `tensors` as `optimizer.<key>.<param>.<buffer>`
 * and returns the rest, for DetectorState.training.
 */
export function packOptimizerState(key: string, s: OptimizerState, tensors: DetectorState['tensors']): PackedOptimizer {
  return {
    kind: s.kind,
    lr: s.lr,
    step: s.step,
    params: s.params.map((p) => {
      for (const [buf, data] of Object.entries(p.buffers)) tensors[`optimizer.${key}.${p.name}.${buf}`] = { shape: p.shape, data };
      return { name: p.name, shape: p.shape, step: p.step, buffers: Object.keys(p.buffers) };
    }),
  };
}

/** The inverse of packOptimizerState; `method` names the checkpoint in the error when a buffer is missing. */
export function unpackOptimizerState(method: string, key: string, p: PackedOptimizer, tensors: DetectorState['tensors']): OptimizerState {
  return {
    kind: p.kind,
    lr: p.lr,
    step: p.step,
    params: p.params.map((q) => ({
      name: q.name,
      shape: q.shape,
      step: q.step,
      buffers: Object.fromEntries(q.buffers.map((b) => {
        const t = tensors[`optimizer.${key}.${q.name}.${b}`];
        if (!t) throw new Error(`texad: ${method} checkpoint lacks optimizer buffer ${key}.${q.name}.${b} (a truncated or foreign file?)`);
        return [b, t.data];
      })),
    })),
  };
}

/**
 * Throws unless `state` was saved by `method` with exactly the hyper-parameters of `config` (restore() of a model
 * built differently would load wrong-shaped or wrongly-meant tensors), naming the first mismatching key.
 */
export function assertSameConfig(label: string, method: string, state: DetectorState, config: object): void {
  if (state.method !== method) throw new Error(`texad: cannot restore a '${state.method}' state into ${label}`);
  for (const [key, value] of Object.entries(config)) {
    if (JSON.stringify(state.config[key]) !== JSON.stringify(value)) {
      throw new Error(`texad: ${label} state was saved with ${key}=${JSON.stringify(state.config[key])}, ` +
        `this model has ${JSON.stringify(value)}; create the model with the saved configuration`);
    }
  }
}
