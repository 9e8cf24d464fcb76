// Small dense linear algebra on the CPU in float64 for PyramidFlow's 1x1 convolutions: initialisation (QR, LU
// with partial pivoting) and the exact inverse used by Flow.inverse(). Matrices are row-major n x m arrays.

/** Orthonormal columns of the n x m (n >= m) matrix a by modified Gram-Schmidt; R's diagonal is positive. */
export function orthonormalColumns(a: ArrayLike<number>, n: number, m: number): Float64Array {
  if (m > n) throw new Error(`texad: orthonormalColumns: need rows >= columns, got ${n} x ${m}`);
  const q = Float64Array.from(a);
  for (let j = 0; j < m; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += q[i * m + k]! * q[i * m + j]!;
      for (let i = 0; i < n; i++) q[i * m + j]! -= dot * q[i * m + k]!;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[i * m + j]! ** 2;
    norm = Math.sqrt(norm);
    if (!(norm > 1e-12)) throw new Error('texad: orthonormalColumns: the columns are linearly dependent');
    for (let i = 0; i < n; i++) q[i * m + j]! /= norm;
  }
  return q;
}

/** scipy.linalg.lu of a square n x n matrix: a = p @ l @ u, l unit lower triangular, u upper triangular. */
export function luDecompose(a: ArrayLike<number>, n: number): { p: Float64Array; l: Float64Array; u: Float64Array } {
  const u = Float64Array.from(a);
  const l = new Float64Array(n * n);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let k = 0; k < n; k++) {
    let pivot = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(u[i * n + k]!) > Math.abs(u[pivot * n + k]!)) pivot = i;
    if (u[pivot * n + k] === 0) throw new Error('texad: luDecompose: the matrix is singular');
    if (pivot !== k) {
      for (let j = 0; j < n; j++) {
        [u[k * n + j], u[pivot * n + j]] = [u[pivot * n + j]!, u[k * n + j]!];
        [l[k * n + j], l[pivot * n + j]] = [l[pivot * n + j]!, l[k * n + j]!];
      }
      [perm[k], perm[pivot]] = [perm[pivot]!, perm[k]!];
    }
    for (let i = k + 1; i < n; i++) {
      const f = u[i * n + k]! / u[k * n + k]!;
      l[i * n + k] = f;
      for (let j = k; j < n; j++) u[i * n + j]! -= f * u[k * n + j]!;
    }
  }
  for (let i = 0; i < n; i++) l[i * n + i] = 1;
  // Row k of (PERM a) is row perm[k] of a, so a = p (PERM a) with p[perm[k], k] = 1.
  const p = new Float64Array(n * n);
  perm.forEach((row, k) => (p[row * n + k] = 1));
  return { p, l, u };
}

/** The inverse of a square n x n matrix by Gauss-Jordan elimination with partial pivoting. */
export function invert(a: ArrayLike<number>, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let k = 0; k < n; k++) {
    let pivot = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i * n + k]!) > Math.abs(m[pivot * n + k]!)) pivot = i;
    const pv = m[pivot * n + k]!;
    if (pv === 0) throw new Error('texad: invert: the matrix is singular');
    for (let j = 0; j < n; j++) {
      [m[k * n + j], m[pivot * n + j]] = [m[pivot * n + j]!, m[k * n + j]!];
      [inv[k * n + j], inv[pivot * n + j]] = [inv[pivot * n + j]!, inv[k * n + j]!];
    }
    for (let j = 0; j < n; j++) {
      m[k * n + j]! /= pv;
      inv[k * n + j]! /= pv;
    }
    for (let i = 0; i < n; i++) {
      if (i === k) continue;
      const f = m[i * n + k]!;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        m[i * n + j]! -= f * m[k * n + j]!;
        inv[i * n + j]! -= f * inv[k * n + j]!;
      }
    }
  }
  return inv;
}
