// The GEMM engine of shaders/matmul.wgsl, shared by matmul.ts (matmul, linear) and conv2d.ts (implicit GEMM).
// Every product is phrased as Y = U * L where U is read through strides (so transposes and batch reductions
// cost nothing) and L is a dense row-major [K, n4] vec4 matrix; when an operand meant for L has another layout,
// pack() copies it once (O(K*N), small next to the O(M*N*K) product). Kernel variants, their autotuning, the
// pack and strided_sum helpers live here; the ops on tensors in matmul.ts.
import { hashString } from '../data/random.ts';
import { SHADER_SOURCES } from '../generated/shaders.ts';
import { failedCandidates, requestTuning, shapeBucket, tunedVariant, type Candidate } from '../runtime/autotune.ts';
import { isCpuAdapter } from '../runtime/device.ts';
import { Params, type Runtime } from '../runtime/runtime.ts';
import { Tensor } from '../runtime/tensor.ts';

/**
 * A gemm kernel variant: TU rows x TLV vec4 columns per invocation. `cols`: the workgroup shares its rows
 * (uniform U loads) and lanes run along columns; `rows`: it shares columns and lanes run along rows, for
 * outputs a few columns wide; `staged`: a 2-D workgroup tiles through workgroup memory (GPUs).
 */
export interface GemmVariant {
  name: string;
  mode: 'cols' | 'rows' | 'staged';
  tu: number;
  tlv: number;
  /** Workgroup width for staged variants; register variants size it to the lane dimension (8..64 lanes). */
  wgx?: number;
  wgy: number;
  /** Staged variants: reduction steps per workgroup-memory round (default 16). */
  kt?: number;
  /**
   * Shares the U rows through subgroups of 8 lanes (matmul.wgsl, SG): on devices with the `subgroups` feature and
   * a fixed subgroup size of 8 (lavapipe on AVX2/AVX-512 CPUs) only; `tu` a multiple of 8, at most 32.
   */
  subgroups?: boolean;
}

/**
 * The variants the autotuner chooses from. Register tiles suit CPU drivers: on lavapipe (2 cores, CPU time)
 * r8x16 reaches about 25 GFLOP/s on a 1024^3 product, r8x8 20, r4x4 10. Their subgroup forms (s*) load the
 * shared rows once per subgroup instead of once per lane: 1.6-1.8x the r forms in wall time (1024^3 matmul
 * r16x16 13.4 GFLOP/s, s16x16 23.5; the 3x3 256->256 convolution 13.2 and s32x16 27.3; 2026-12-04, README
 * "Matrix products"). l8x4 (lanes along rows) computes
 * single-column outputs 10x faster than any column-lane tile, which would idle 31 of 32 columns. r16x16 feeds each
 * gathered L value to 16 rows: 1.16-1.33x r8x16 on that product and 1.06-1.31x on the 3x3 256->256 convolution
 * (2026-12-03, tools/gemm-tiles.mjs, README "Matrix products"). `wg64` (64x64 tiles staged in workgroup memory, 16x16
 * invocations of 4x4) is the classic layout for GPUs; the other staged tiles give the autotuner smaller and larger
 * ones, fewer and longer rounds (k32) and deeper per-invocation tiles (t8x4, t4x8) to weigh. On an H200 through
 * Dawn's Vulkan backend it chose wg64t8x4 for the 1024^3 matmul (9.7 TFLOP/s, 0.75x tfjs-webgpu) and wg64k32 for
 * the 3x3 256->256 convolution (10.3, 0.78x), and five different tiles across the networks' buckets (README "On a
 * real GPU").
 */
export const GEMM_VARIANTS: readonly GemmVariant[] = [
  { name: 's32x16', mode: 'cols', tu: 32, tlv: 4, wgy: 1, subgroups: true },
  { name: 's16x16', mode: 'cols', tu: 16, tlv: 4, wgy: 1, subgroups: true },
  { name: 's16x8', mode: 'cols', tu: 16, tlv: 2, wgy: 1, subgroups: true },
  { name: 's8x8', mode: 'cols', tu: 8, tlv: 2, wgy: 1, subgroups: true },
  { name: 'r16x16', mode: 'cols', tu: 16, tlv: 4, wgy: 1 },
  { name: 'r8x16', mode: 'cols', tu: 8, tlv: 4, wgy: 1 },
  { name: 'r8x8', mode: 'cols', tu: 8, tlv: 2, wgy: 1 },
  { name: 'r4x8', mode: 'cols', tu: 4, tlv: 2, wgy: 1 },
  { name: 'r8x4', mode: 'cols', tu: 8, tlv: 1, wgy: 1 },
  { name: 'r4x4', mode: 'cols', tu: 4, tlv: 1, wgy: 1 },
  { name: 'l8x4', mode: 'rows', tu: 8, tlv: 1, wgy: 1 },
  { name: 'wg64', mode: 'staged', tu: 4, tlv: 1, wgx: 16, wgy: 16 },
  { name: 'wg32', mode: 'staged', tu: 4, tlv: 1, wgx: 8, wgy: 8 },
  { name: 'wg64x128', mode: 'staged', tu: 4, tlv: 2, wgx: 16, wgy: 16 },
  { name: 'wg128', mode: 'staged', tu: 8, tlv: 2, wgx: 16, wgy: 16 },
  { name: 'wg32k32', mode: 'staged', tu: 4, tlv: 1, wgx: 8, wgy: 8, kt: 32 },
  { name: 'wg64k32', mode: 'staged', tu: 4, tlv: 1, wgx: 16, wgy: 16, kt: 32 },
  { name: 'wg64t8x4', mode: 'staged', tu: 8, tlv: 1, wgx: 16, wgy: 8 },
  { name: 'wg64t4x8', mode: 'staged', tu: 4, tlv: 2, wgx: 8, wgy: 16 },
];

/** Lanes per subgroup the subgroup variants are written for (matmul.wgsl broadcasts from lanes 0..7). */
const SUBGROUP_LANES = 8;

/** Whether the device runs the subgroup variants: the `subgroups` feature and subgroups of exactly 8 lanes. */
export function subgroupGemm(rt: Runtime): boolean {
  const a = rt.gpu.adapter;
  return rt.gpu.features.has('subgroups') && a.subgroupMinSize === SUBGROUP_LANES && a.subgroupMaxSize === SUBGROUP_LANES;
}

/**
 * The variant used until a bucket is tuned, and always with TEXAD_AUTOTUNE=0. GPUs: wg64. CPU adapters: l8x4
 * for outputs up to 8 columns wide, else the widest column tile that keeps 8 lanes busy (r8x16 from 128
 * columns, r8x8 from 64, else r8x4; their subgroup forms s16x16 and s8x8 where the device has them); a
 * 64-channel convolution runs twice as fast on r8x8 as on r8x16.
 */
export function defaultGemmVariant(rt: Runtime, n4: number): string {
  if (!isCpuAdapter(rt.gpu.adapter)) return 'wg64';
  const sg = subgroupGemm(rt);
  return n4 <= 2 ? 'l8x4' : n4 >= 32 ? (sg ? 's16x16' : 'r8x16') : n4 >= 16 ? (sg ? 's8x8' : 'r8x8') : 'r8x4';
}

/** Reduction steps per workgroup-memory round of staged variants (KT in matmul.wgsl) unless the variant sets kt. */
const STAGE_KT = 16;
const WG = 256; // pack and strided_sum
/**
 * Split-K is used when fewer output tiles than this would keep the device busy. Tiles are counted as 64 x 64
 * outputs whatever the variant, and every variant sums each output in reduction order, so all variants give the
 * same bits: runtimes that pick different variants (Node's Dawn offers subgroups, Deno's wgpu does not) or
 * machines that tune differently train to the same result. (Counting each variant's own tiles once let s16x16 and
 * r8x16 split a dW pass differently, and the README example's scores drifted 0.5% apart between Node and Deno.)
 */
const MIN_TILES = 32;
const SPLIT_TILE_ROWS = 64;
const SPLIT_TILE_COLS4 = 16;
/** Split-K partial results are capped at this many floats. */
const MAX_PARTIALS = 1 << 24;

/** Autotune kernel name: the hash retunes after any edit of matmul.wgsl or of the variant list. */
const TUNE_KERNEL = `matmul.gemm@${hashString(`${SHADER_SOURCES['matmul'] ?? ''}|${GEMM_VARIANTS.map((v) => v.name).join(',')}`)
  .toString(16).padStart(8, '0')}`;

/**
 * One gemm dispatch, in the terms of the Gemm struct in shaders/matmul.wgsl. Row i of Y splits into
 * (i / (r1 * r0), (i / r0) % r1, i % r0); the reduction runs over the loop nest k = [k2, k1, k0].
 */
export interface GemmCall {
  /** Tuning family ('matmul', 'conv2d', ...): different gathers may favour different tiles. */
  kind: string;
  what: string;
  u: Tensor;
  /** Dense lane operand: `batches` (or 1, lBatch = 0) blocks of K rows of n4 vec4s. */
  l: Tensor;
  out: Tensor;
  m: number;
  n: number;
  n4: number;
  batches: number;
  rows: readonly [r1: number, r0: number];
  uStrides: readonly [number, number, number];
  uOffset: number;
  uBatch: number;
  k: readonly [k2: number, k1: number, k0: number];
  kStrides: readonly [number, number, number];
  /** L batch stride in vec4s. */
  lBatch: number;
  yStrides: readonly [number, number, number];
  yCol: number;
  yOffset: number;
  yBatch: number;
  /** Added per column. */
  bias?: Tensor;
  residual?: Tensor;
  relu?: boolean;
  /**
   * The call writes all of `out` and has no epilogue, so the reduction may be split into partial sums: along
   * k2, or along k0 when it is the only loop.
   */
  splitK?: boolean;
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);
const pow2Ceil = (v: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, v)));

function variantByName(name: string): GemmVariant | undefined {
  return GEMM_VARIANTS.find((v) => v.name === name);
}

type GemmExtent = Pick<GemmCall, 'm' | 'n4'>;

/** Lanes per workgroup: fixed for staged variants, else enough for the lane dimension (8..64). */
function workgroupWidth(v: GemmVariant, call: GemmExtent): number {
  const lanes = v.mode === 'rows' ? ceilDiv(call.m, v.tu) : ceilDiv(call.n4, v.tlv);
  return v.wgx ?? Math.min(64, Math.max(8, pow2Ceil(lanes)));
}

/** Whether the device can run `v` (workgroup size and memory limits). */
function fits(rt: Runtime, v: GemmVariant, call: GemmExtent): boolean {
  const lim = rt.limits;
  const wgx = workgroupWidth(v, call);
  const threads = wgx * v.wgy;
  if (threads > lim.maxComputeInvocationsPerWorkgroup || wgx > lim.maxComputeWorkgroupSizeX || v.wgy > lim.maxComputeWorkgroupSizeY) return false;
  if (v.subgroups && !subgroupGemm(rt)) return false;
  if (v.mode !== 'staged') return true;
  // The staging loops of matmul.wgsl assume that every invocation stages the same number of values and keeps its L
  // column (and, where rows are contiguous, its U row) from round to round; the inner loop reads an invocation's
  // U rows four to a vec4.
  const rows = v.wgy * v.tu;
  const cols4 = wgx * v.tlv;
  const kt = v.kt ?? STAGE_KT;
  const shared = 4 * kt * (rows + 4 * cols4 + 2);
  return v.tu % 4 === 0 && threads % rows === 0 && threads % cols4 === 0 && threads >= kt &&
    (kt * rows) % threads === 0 && (kt * cols4) % threads === 0 &&
    shared <= lim.maxComputeWorkgroupStorageSize;
}

let forcedVariant: GemmVariant | null = null;

/** Runs `fn` with every gemm it records using variant `name` instead of the tuned one (tests, benchmarks). */
export function withGemmVariant<T>(name: string, fn: () => T): T {
  const v = variantByName(name);
  if (!v) throw new Error(`texad: unknown gemm variant '${name}' (have: ${GEMM_VARIANTS.map((c) => c.name).join(', ')})`);
  const prev = forcedVariant;
  forcedVariant = v;
  try {
    return fn();
  } finally {
    forcedVariant = prev;
  }
}

/**
 * Records one gemm with the variant tuned for its bucket (or the default), queueing the bucket for tuning. A
 * variant that exceeds the device's limits, or that failed to compile or validate while tuning, is never used.
 */
export function gemm(rt: Runtime, call: GemmCall): void {
  if (forcedVariant) {
    if (forcedVariant.subgroups && !subgroupGemm(rt)) {
      throw new Error(`texad: ${call.what}: gemm variant ${forcedVariant.name} needs the 'subgroups' feature with subgroups of ${SUBGROUP_LANES} lanes, ` +
        'which this device lacks; pick an r* variant');
    }
    if (!fits(rt, forcedVariant, call)) throw new Error(`texad: ${call.what}: gemm variant ${forcedVariant.name} exceeds this device's limits`);
    dispatchGemm(rt, call, forcedVariant);
    return;
  }
  const K = call.k[0] * call.k[1] * call.k[2];
  const bucket = `${call.kind}:${shapeBucket(call.m * call.batches, call.n, K)}`;
  const tuned = variantByName(tunedVariant(rt, TUNE_KERNEL, bucket) ?? '');
  if (!tuned) requestTuning(rt, TUNE_KERNEL, bucket, ...tuningCandidates(rt, call));
  const failed = failedCandidates(rt, TUNE_KERNEL);
  const usable = (v: GemmVariant | undefined): v is GemmVariant => v !== undefined && !failed.has(v.name) && fits(rt, v, call);
  const fallback = variantByName(defaultGemmVariant(rt, call.n4));
  const chosen = usable(tuned) ? tuned : usable(fallback) ? fallback : GEMM_VARIANTS.find(usable);
  if (!chosen) {
    throw new Error(`texad: ${call.what}: no gemm variant fits this device (limits: ${rt.limits.maxComputeInvocationsPerWorkgroup} ` +
      `invocations per workgroup, ${rt.limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory; failed: ${[...failed.keys()].join(', ') || 'none'})`);
  }
  dispatchGemm(rt, call, chosen);
}

/**
 * Candidates for the autotuner: the same call on zero-filled scratch tensors of the same sizes, once per variant
 * the device can run. Only sizes are captured, so the caller's tensors may be gone by tuning time.
 */
function tuningCandidates(rt: Runtime, call: GemmCall): [() => Candidate[], () => void] {
  const { u, l, out, bias, residual, ...rest } = call;
  const sizes = { u: u.size, l: l.size, out: out.size, bias: bias?.size, residual: residual?.size };
  const scratch: Tensor[] = [];
  const zeros = (n: number): Tensor => {
    const t = rt.zeros([n]).keep();
    scratch.push(t);
    return t;
  };
  // CPU drivers emulate workgroup memory and barriers slowly, so the staged tiles are not timed there; they stay
  // reachable through withGemmVariant. On lavapipe (2026-12-04) the 1024^3 matmul tuned in 6.3 s instead of 20 and
  // the 3x3 256->256 convolution in 10.1 s instead of 30, and neither winner had been a staged tile before.
  const cpu = isCpuAdapter(rt.gpu.adapter);
  const candidates = (): Candidate[] => {
    const c: GemmCall = { ...rest, u: zeros(sizes.u), l: zeros(sizes.l), out: zeros(sizes.out) };
    if (sizes.bias !== undefined) c.bias = zeros(sizes.bias);
    if (sizes.residual !== undefined) c.residual = zeros(sizes.residual);
    return GEMM_VARIANTS.filter((v) => fits(rt, v, rest) && (v.mode !== 'staged' || !cpu))
      .map((v) => ({ name: v.name, run: () => dispatchGemm(rt, c, v) }));
  };
  return [candidates, () => scratch.forEach((t) => t.dispose())];
}

/**
 * Whether U's values lie contiguous along the reduction but not along the rows (a row-major matmul operand, its
 * rows K apart): staged variants then give neighbouring invocations neighbouring reduction steps, so a GPU's
 * warp reads U in whole memory segments instead of one row K floats apart per invocation (matmul.wgsl U_K_FAST).
 */
function reductionContiguous(rows: GemmCall['rows'], uStrides: GemmCall['uStrides'], k: GemmCall['k'], kStrides: GemmCall['kStrides']): boolean {
  const innerK = k[2] > 1 ? kStrides[2] : k[1] > 1 ? kStrides[1] : kStrides[0];
  const innerRow = rows[1] > 1 ? uStrides[2] : rows[0] > 1 ? uStrides[1] : uStrides[0];
  return innerK === 1 && innerRow !== 1;
}

function dispatchGemm(rt: Runtime, call: GemmCall, v: GemmVariant): void {
  const wgx = workgroupWidth(v, call);
  const rowsPerGroup = v.mode === 'rows' ? v.tu * wgx : v.tu * v.wgy;
  const colGroups = ceilDiv(call.n4, v.mode === 'rows' ? v.tlv : wgx * v.tlv);
  const maxGroups = rt.limits.maxComputeWorkgroupsPerDimension;
  let k = call.k;
  let kStrides = call.kStrides;
  let splits = 1;
  if (call.splitK) {
    const tiles = ceilDiv(call.n4, SPLIT_TILE_COLS4) * ceilDiv(call.m, SPLIT_TILE_ROWS) * call.batches;
    // A lone flat reduction moves to k2, the loop that splits.
    if (k[0] === 1 && k[1] === 1 && tiles < MIN_TILES) [k, kStrides] = [[k[2], 1, 1], [kStrides[2], 0, 0]];
    const wanted = Math.max(1, Math.min(k[0], ceilDiv(MIN_TILES, tiles), Math.floor(maxGroups / call.batches),
      Math.floor(MAX_PARTIALS / call.out.size)));
    splits = ceilDiv(k[0], ceilDiv(k[0], wanted));
  }
  const k2 = k[0];
  const chunk = ceilDiv(k2, splits);
  if (call.batches * splits > maxGroups) {
    throw new Error(`texad: ${call.what}: ${call.batches} batch items exceed the device's ${maxGroups} workgroups per dimension; split the batch`);
  }
  const partials = splits > 1 ? rt.empty([splits * call.out.size], 'split-K partials') : null;
  const target = partials ?? call.out;
  const staged = v.mode === 'staged';
  const spec = {
    TU: v.tu, TLV: v.tlv, WGX: wgx, WGY: v.wgy, STAGED: staged, LANE_ROWS: v.mode === 'rows', KT: staged ? v.kt ?? STAGE_KT : 1,
    SG: v.subgroups ? SUBGROUP_LANES : 0, U_K_FAST: staged && reductionContiguous(call.rows, call.uStrides, k, kStrides),
    BIAS: call.bias !== undefined, RES: call.residual !== undefined, RELU: call.relu === true,
  };
  // Placeholders keep the binding layout fixed; the shader never reads them.
  const inputs = [call.u, call.l, call.bias ?? call.u, call.residual ?? call.u];
  // More row tiles than one grid dimension holds: dispatch whole multiples of r1 * r0 rows at a time, so the
  // first row coordinate of each chunk only shifts the U and Y offsets.
  const [r1, r0] = call.rows;
  const rowBlock = r1 * r0;
  const chunkRows = call.m <= maxGroups * rowsPerGroup ? call.m : Math.floor((maxGroups * rowsPerGroup) / rowBlock) * rowBlock;
  if (chunkRows === 0) throw new Error(`texad: ${call.what}: ${rowBlock} rows per block exceed one dispatch; use smaller images`);
  for (let start = 0; start < call.m; start += chunkRows) {
    const m = Math.min(chunkRows, call.m - start);
    const lead = start / rowBlock;
    const params = new Params()
      .u32(m, call.n, call.n4, splits, r1, r0)
      .u32(...call.uStrides, call.uOffset + lead * call.uStrides[0], call.uBatch)
      .u32(k2, chunk, k[1], k[2], ...kStrides, call.lBatch)
      .u32(...call.yStrides, call.yCol, call.yOffset + lead * call.yStrides[0], call.yBatch, call.out.size);
    rt.dispatch({
      family: 'matmul',
      entry: 'gemm',
      spec,
      params,
      inputs,
      outputs: [target],
      workgroups: [colGroups, ceilDiv(m, rowsPerGroup), call.batches * splits],
      what: call.what,
    });
  }
  if (partials) {
    stridedSum(rt, partials, call.out, { count: call.out.size, outer: 1, inner: splits, sOuter: 0, sOut: 1, sInner: call.out.size },
      `${call.what} split-K sum`);
    partials.dispose();
  }
}

/** Rows of a lane operand as strides into the source: row r = (r2 * q1 + r1) * q0 + r0. */
export interface PackSpec {
  rows: number;
  cols: number;
  batches: number;
  q1: number;
  q0: number;
  base: number;
  srcBatch: number;
  strides: readonly [number, number, number];
  colStride: number;
}

/** Copies a strided matrix view of `src` into a dense lane operand [batches, rows, n4 * 4] (zero-padded columns). */
export function pack(rt: Runtime, src: Tensor, s: PackSpec, what: string): Tensor {
  const n4 = ceilDiv(s.cols, 4);
  const out = rt.empty([s.batches * s.rows * n4 * 4], 'packed');
  const count = s.batches * s.rows * n4;
  rt.dispatch({
    family: 'matmul',
    entry: 'pack',
    spec: { WG },
    params: new Params().u32(s.rows, s.cols, n4, s.batches, s.q1, s.q0, s.base, s.srcBatch).i32(...s.strides, s.colStride),
    inputs: [src],
    outputs: [out],
    workgroups: rt.grid(count, WG),
    what: `${what} (pack)`,
  });
  return out;
}

/** dst[o] = sum over a < outer, t < inner of src[a * sOuter + o * sOut + t * sInner], summed in that order. */
export function stridedSum(rt: Runtime, src: Tensor, dst: Tensor,
  s: { count: number; outer: number; inner: number; sOuter: number; sOut: number; sInner: number }, what: string): void {
  rt.dispatch({
    family: 'matmul',
    entry: 'strided_sum',
    spec: { WG },
    params: new Params().u32(s.count, s.outer, s.inner, s.sOuter, s.sOut, s.sInner, 0, 0),
    inputs: [src],
    outputs: [dst],
    workgroups: rt.grid(s.count, WG),
    what,
  });
}
