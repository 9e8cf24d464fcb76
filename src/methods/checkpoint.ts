// A detector's state as one safetensors file: tensors as F32, the method name and JSON config in __metadata__.
import { SafetensorsReader, encodeSafetensors } from '../io/safetensors.ts';
import type { DetectorState } from './detector.ts';

/**
 * Serialises a state() to safetensors bytes. `extra` (e.g. training progress) travels in the same file, so a
 * checkpoint and what it describes are written in one atomic step.
 */
export function encodeDetectorState(state: DetectorState, extra: Record<string, unknown> = {}): Uint8Array {
  return encodeSafetensors(state.tensors, {
    texad_method: state.method,
    texad_config: JSON.stringify(state.config),
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
  const extra = JSON.parse(reader.metadata['texad_extra'] ?? '{}') as Record<string, unknown>;
  return { method, config: JSON.parse(config) as Record<string, unknown>, tensors, extra };
}
