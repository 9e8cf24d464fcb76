// texad metric kernels. The host lays out all buffers above heapBase() in linear memory (no managed allocations:
// the runtime is a stub) and calls these with raw pointers, so no single buffer is bounded by AssemblyScript's
// 1 GiB allocation cap and the host can stream any number of scores through fixed-size chunks.
export { keysF32, keysF64, firstNonFiniteF64, f64FitsF32, demoteF64, promoteF32, firstBadLabel, anyNonZero } from './keys';
export {
  chunkNegatives, chunkPositives, chunkReset, splitLabels32, splitLabels64, splitSizes32, splitSizes64,
  appendNegatives, sort32, sort64, runs32, runs64, proRuns32, proRuns64,
} from './chunk';
export { regionSizes } from './regions';
export {
  walkBegin, walk16, walk48, walk32, walk64, walkULo, walkUHi, walkAp, walkF1, walkF1KeyLo, walkF1KeyHi, walkProArea,
} from './walk';

export function heapBase(): usize {
  return __heap_base;
}
