// Matrix products on the GEMM engine (gemm.ts): matmul and linear, forward and backward, phrased as strided
// matrix views contracted by one gemm dispatch each.
import { ceilDiv, gemm, pack, stridedSum } from './gemm.ts';
import { Tensor, formatShape, needsGrad } from '../runtime/tensor.ts';

/** A batch of matrices inside a tensor: element (b, r, c) at b * bs + r * rs + c * cs. */
interface MatView {
  t: Tensor;
  batch: number;
  rows: number;
  cols: number;
  bs: number;
  rs: number;
  cs: number;
}

const transposed = (v: MatView): MatView => ({ ...v, rows: v.cols, cols: v.rows, rs: v.cs, cs: v.rs });

/** The row-major matrices of a rank-2 or rank-3 tensor, transposed when `trans`. */
function matrices(t: Tensor, trans = false): MatView {
  const [batch, rows, cols] = t.rank === 3 ? t.shape : [1, t.shape[0]!, t.shape[1]!];
  const v = { t, batch: batch!, rows: rows!, cols: cols!, bs: rows! * cols!, rs: cols!, cs: 1 };
  return trans ? transposed(v) : v;
}

/**
 * out = u * l per batch item (broadcasting batch 1), or with `reduceBatch` the sum over batch items of the
 * products (out has batch 1): the backward of a broadcast operand. `bias` is added per output column.
 */
function contract(u: MatView, l: MatView, out: MatView, what: string, reduceBatch = false, bias?: Tensor): void {
  const rt = out.t.rt;
  const K = u.cols;
  const batches = reduceBatch ? 1 : out.batch;
  const n4 = ceilDiv(l.cols, 4);
  const dense = l.cs === 1 && l.rs === l.cols && l.cols % 4 === 0 && (l.batch === 1 || l.bs === l.rows * l.cols);
  const packed = dense ? l.t : pack(rt, l.t, reduceBatch
    ? { rows: l.batch * K, cols: l.cols, batches: 1, q1: 1, q0: K, base: 0, srcBatch: 0, strides: [l.bs, 0, l.rs], colStride: l.cs }
    : { rows: K, cols: l.cols, batches: l.batch, q1: 1, q0: 1, base: 0, srcBatch: l.bs, strides: [l.rs, 0, 0], colStride: l.cs },
  what);
  gemm(rt, {
    kind: 'matmul',
    what,
    u: u.t,
    l: packed,
    out: out.t,
    m: out.rows,
    n: out.cols,
    n4,
    batches,
    rows: [1, 1],
    uStrides: [u.rs, 0, 0],
    uOffset: 0,
    uBatch: reduceBatch || u.batch === 1 ? 0 : u.bs,
    k: reduceBatch ? [u.batch, 1, K] : [1, 1, K],
    kStrides: [u.bs, 0, u.cs],
    lBatch: reduceBatch || l.batch === 1 ? 0 : K * n4,
    yStrides: [out.rs, 0, 0],
    yCol: out.cs,
    yOffset: 0,
    yBatch: out.batch === 1 ? 0 : out.bs,
    ...(bias ? { bias } : {}),
    splitK: !bias,
  });
  if (packed !== l.t) packed.dispose();
}

function checkOperand(op: string, t: Tensor, name: string, ranks: readonly number[]): void {
  t.assertAlive(op);
  if (!ranks.includes(t.rank)) {
    throw new Error(`texad: ${op}: ${name} must have rank ${ranks.join(' or ')}, got ${formatShape(t.shape)}`);
  }
  if (t.size === 0) throw new Error(`texad: ${op}: ${name} ${formatShape(t.shape)} is empty; empty products are not supported`);
}

/** Transposes applied to the operands of matmul (the last two dims). */
export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * op(a) x op(b) with op = transpose when transA/transB: [M, K] x [K, N] -> [M, N], or batched
 * [B, M, K] x [B, K, N] -> [B, M, N] where a rank-2 operand or a batch of 1 broadcasts. Backward to both.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA === true;
  const transB = opts.transB === true;
  const what = `matmul a${formatShape(a.shape)}${transA ? '^T' : ''} b${formatShape(b.shape)}${transB ? '^T' : ''}`;
  checkOperand('matmul', a, 'a', [2, 3]);
  checkOperand('matmul', b, 'b', [2, 3]);
  if (a.rt !== b.rt) throw new Error(`texad: ${what}: tensors live on different runtimes`);
  const av = matrices(a, transA);
  const bv = matrices(b, transB);
  if (av.cols !== bv.rows) {
    throw new Error(`texad: ${what}: inner dimensions differ (${av.cols} vs ${bv.rows}); check the shapes or transA/transB`);
  }
  if (av.batch !== bv.batch && av.batch !== 1 && bv.batch !== 1) {
    throw new Error(`texad: ${what}: batch sizes ${av.batch} and ${bv.batch} do not broadcast (one must be 1 or equal)`);
  }
  const rt = a.rt;
  const batch = Math.max(av.batch, bv.batch);
  const y = rt.empty(a.rank === 3 || b.rank === 3 ? [batch, av.rows, bv.cols] : [av.rows, bv.cols], 'matmul');
  contract(av, bv, matrices(y), what);
  return rt.record(y, 'matmul', [a, b], (g) => {
    const gv = matrices(g);
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (needsGrad(a)) {
      ga = rt.empty(a.shape, 'matmul grad a');
      contract(gv, transposed(bv), matrices(ga, transA), `${what} backward (a)`, av.batch < batch);
    }
    if (needsGrad(b)) {
      gb = rt.empty(b.shape, 'matmul grad b');
      contract(transposed(av), gv, matrices(gb, transB), `${what} backward (b)`, bv.batch < batch);
    }
    return [ga, gb];
  });
}

/**
 * PyTorch's nn.functional.linear: x [..., in] x weight [out, in]^T + bias [out] -> [..., out], the bias added in
 * the GEMM's epilogue. Backward to x, weight and bias.
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const what = `linear x${formatShape(x.shape)} weight${formatShape(weight.shape)}${bias ? ` bias${formatShape(bias.shape)}` : ''}`;
  checkOperand('linear', weight, 'weight', [2]);
  x.assertAlive('linear');
  if (x.rank < 1 || x.size === 0) throw new Error(`texad: ${what}: x must be a non-empty [..., in] tensor`);
  const [outF, inF] = weight.shape as [number, number];
  if (x.shape[x.rank - 1] !== inF) {
    throw new Error(`texad: ${what}: x has ${x.shape[x.rank - 1]} features but weight expects ${inF} (weight is [out, in])`);
  }
  if (bias) {
    bias.assertAlive('linear');
    if (bias.rank !== 1 || bias.shape[0] !== outF) throw new Error(`texad: ${what}: bias must be [${outF}]`);
  }
  const rt = x.rt;
  const rows = x.size / inF;
  // Leading dims flatten into rows through strides alone; no reshaped views to keep track of.
  const flat = (t: Tensor, cols: number): MatView => ({ t, batch: 1, rows, cols, bs: rows * cols, rs: cols, cs: 1 });
  const wv = matrices(weight);
  const y = rt.empty([...x.shape.slice(0, -1), outF], 'linear');
  contract(flat(x, inF), transposed(wv), flat(y, outF), what, false, bias ?? undefined);
  return rt.record(y, 'linear', bias ? [x, weight, bias] : [x, weight], (g) => {
    const gv = flat(g, outF);
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    let gb: Tensor | null = null;
    if (needsGrad(x)) {
      gx = rt.empty(x.shape, 'linear grad x');
      contract(gv, wv, flat(gx, inF), `${what} backward (x)`);
    }
    if (needsGrad(weight)) {
      gw = rt.empty(weight.shape, 'linear grad weight');
      contract(transposed(gv), flat(x, inF), matrices(gw), `${what} backward (weight)`);
    }
    if (bias && needsGrad(bias)) {
      gb = rt.empty([outF], 'linear grad bias');
      stridedSum(rt, g, gb, { count: outF, outer: 1, inner: rows, sOuter: 0, sOut: 1, sInner: outF }, `${what} backward (bias)`);
    }
    return [gx, gw, gb];
  });
}
