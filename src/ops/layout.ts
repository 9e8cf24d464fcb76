// Tensor plumbing (shaders/layout.wgsl): concat, split, slice, permute, channel gather, 2-D padding, and the
// axis helpers the other families use to view a tensor as [outer, axis, inner].
import { formatShape, shapeSize, type Shape } from '../runtime/tensor.ts';

/** Resolves a possibly negative `axis` against the rank of `shape`; throws naming the op when out of range. */
export function resolveAxis(op: string, shape: Shape, axis: number): number {
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(`texad: ${op}: axis ${axis} is out of range for shape ${formatShape(shape)} (rank ${rank})`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** The extents [A, K, B] of `shape` viewed as outer dims × dims [start, end) × inner dims. */
export function splitShape(shape: Shape, start: number, end = start + 1): [number, number, number] {
  return [shapeSize(shape.slice(0, start)), shapeSize(shape.slice(start, end)), shapeSize(shape.slice(end))];
}
