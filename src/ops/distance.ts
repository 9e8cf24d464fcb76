// Fused k-nearest-neighbour search by squared Euclidean distance (shaders/distance.wgsl). Forward only.
import { Params } from '../runtime/runtime.ts';
import { Tensor, formatShape } from '../runtime/tensor.ts';
import { assertNoGrad } from './layout.ts';

const WG = 64;
/**
 * Bank rows (RB) and queries (QB) scored together per invocation. Measured on lavapipe, Q 784, M 2048, D 384,
 * k 2 (1.2 GFLOP): ~0.5 s at 8 x 8 vs ~1.2 s with one query per invocation; 32 x 4 spills and takes ~2 s.
 */
const RB = 8;
const QB = 8;
/** Largest k: the running top-k lives in private memory. */
const KMAX = 16;
/** The bank is split into slices until about this many invocations run in parallel... */
const TARGET_THREADS = 4096;
/** ...but never into slices shorter than this many rows. */
const MIN_SLICE = 64;
/** Indices travel as f32 values, exact up to here. */
const MAX_BANK = 2 ** 24;

export interface Neighbours {
  /** [Q, k] squared distances, ascending per query. */
  distances: Tensor;
  /** [Q, k] bank row indices as float values; equal distances list the lower index first. */
  indices: Tensor;
}

/**
 * The k nearest bank rows of each query (k <= 16): squared distances sum_d (q_d - b_d)^2, as
 * torch.cdist(queries, bank) ** 2 followed by topk(k, largest=False), but fused so the Q x M matrix never
 * exists. The direct form keeps near-duplicate distances accurate (see distance.wgsl). Banks are scanned in
 * slices by parallel invocations whose partial top-k lists a second pass merges.
 */
export function knnSquaredDistance(queries: Tensor, bank: Tensor, k: number): Neighbours {
  queries.assertAlive('knnSquaredDistance');
  bank.assertAlive('knnSquaredDistance');
  const what = `knnSquaredDistance queries${formatShape(queries.shape)} bank${formatShape(bank.shape)} k ${k}`;
  if (queries.rank !== 2 || bank.rank !== 2 || queries.shape[1] !== bank.shape[1]) {
    throw new Error(`texad: ${what}: need queries [Q, D] and bank [M, D] with the same D`);
  }
  const [q, d] = queries.shape as [number, number];
  const m = bank.shape[0]!;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(KMAX, m)) {
    throw new Error(`texad: ${what}: k must be an integer in 1..${Math.min(KMAX, m)} (at most ${KMAX} and the bank size)`);
  }
  if (m > MAX_BANK) throw new Error(`texad: ${what}: banks over 2^24 rows are not supported; search sub-banks and merge`);
  if (queries.rt !== bank.rt) throw new Error(`texad: ${what}: tensors live on different runtimes`);
  assertNoGrad(queries, what);
  assertNoGrad(bank, what);
  const rt = queries.rt;
  const blocks = Math.ceil(q / QB);
  const slices = Math.max(1, Math.min(Math.ceil(TARGET_THREADS / Math.max(1, blocks)), Math.floor(m / MIN_SLICE)));
  const rows = Math.ceil(m / slices);
  const partD = rt.empty([q, slices * k], 'knn distances');
  const partI = rt.empty([q, slices * k], 'knn indices');
  rt.dispatch({
    family: 'distance',
    entry: 'knn_partial',
    spec: { WG, RB, QB, KMAX },
    params: new Params().u32(q, m, d, k, slices, rows, 0, 0),
    inputs: [queries, bank],
    outputs: [partD, partI],
    workgroups: rt.grid(blocks * slices, WG),
    what,
  });
  if (slices === 1) return { distances: partD, indices: partI };
  const distances = rt.empty([q, k], 'knn distances');
  const indices = rt.empty([q, k], 'knn indices');
  rt.dispatch({
    family: 'distance',
    entry: 'knn_merge',
    spec: { WG, QB: 1, KMAX },
    params: new Params().u32(q, k, slices, 0),
    inputs: [partD, partI],
    outputs: [distances, indices],
    workgroups: rt.grid(q, WG),
    what: `${what} merge`,
  });
  partD.dispose();
  partI.dispose();
  return { distances, indices };
}
