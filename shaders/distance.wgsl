// k nearest bank rows of every query by squared Euclidean distance, fused: distances go straight into a
// running top-k in private memory, so the Q x M distance matrix never exists. Distances use the direct form
// sum (q - b)^2: every term is non-negative, so near-duplicates keep full relative precision, where the
// expanded |q|^2 - 2 q.b + |b|^2 loses it to cancellation (and can go negative) for no gain without a matmul.
//
// Indices travel as f32 values (exact below 2^24; distance.ts enforces M <= 2^24), so the public index
// tensor reads back as ordinary numbers. A slice shorter than k leaves empty slots with index -1, which the
// merge skips; final lists are always full because k <= M.

// The k smallest (distance, index) pairs seen so far, ascending. Ties keep the earlier insertion first, and
// candidates arrive in ascending index order, so equal distances end up ordered by index.
struct TopK { d: array<f32, KMAX>, i: array<f32, KMAX>, count: u32 }

fn insert(t: ptr<function, TopK>, k: u32, d: f32, idx: f32) {
  if ((*t).count == k && !(d < (*t).d[k - 1u])) { return; }
  var j = min((*t).count, k - 1u);
  while (j > 0u && (*t).d[j - 1u] > d) {
    (*t).d[j] = (*t).d[j - 1u];
    (*t).i[j] = (*t).i[j - 1u];
    j--;
  }
  (*t).d[j] = d;
  (*t).i[j] = idx;
  (*t).count = min((*t).count + 1u, k);
}

//! entry knn_partial
// One invocation per (query, bank slice): the k nearest rows of rows [slice * rows, (slice + 1) * rows) into
// out[(query * slices + slice) * k ..]. Neighbouring invocations take neighbouring queries of one slice, so
// they read the same bank values (broadcast loads). RB bank rows are scored together, which loads each
// query value once per RB distances.
struct P { q: u32, m: u32, d: u32, k: u32, slices: u32, rows: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> queries: array<f32>;
@group(0) @binding(2) var<storage, read> bank: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_d: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_i: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let inv = flat_index(gid, nwg, WG);
  if (inv >= p.q * p.slices) { return; }
  let query = inv % p.q;
  let slice = inv / p.q;
  let m0 = slice * p.rows;
  let m1 = min(m0 + p.rows, p.m);
  let qbase = query * p.d;
  var top: TopK;
  top.count = 0u;
  var acc: array<f32, RB>;
  var rowbase: array<u32, RB>;
  for (var mb = m0; mb < m1; mb += RB) {
    // An explicit reset: the implicit zero-init of a `var` declared in a loop body did not rerun on lavapipe.
    acc = array<f32, RB>();
    // Rows past the slice repeat its last row: loads stay in bounds and their scores are dropped below.
    for (var r = 0u; r < RB; r++) { rowbase[r] = min(mb + r, m1 - 1u) * p.d; }
    for (var j = 0u; j < p.d; j++) {
      let qv = queries[qbase + j];
      for (var r = 0u; r < RB; r++) {
        let diff = qv - bank[rowbase[r] + j];
        acc[r] += diff * diff;
      }
    }
    for (var r = 0u; r < RB && mb + r < m1; r++) { insert(&top, p.k, acc[r], f32(mb + r)); }
  }
  let at = (query * p.slices + slice) * p.k;
  for (var j = 0u; j < p.k; j++) {
    let filled = j < top.count;
    out_d[at + j] = select(0.0, top.d[j], filled);
    out_i[at + j] = select(-1.0, top.i[j], filled);
  }
}

//! entry knn_merge
// One invocation per query: merges its `slices` sorted partial lists, slice by slice (ascending indices).
struct P { q: u32, k: u32, slices: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> part_d: array<f32>;
@group(0) @binding(2) var<storage, read> part_i: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_d: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_i: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let query = flat_index(gid, nwg, WG);
  if (query >= p.q) { return; }
  var top: TopK;
  top.count = 0u;
  let base = query * p.slices * p.k;
  for (var c = 0u; c < p.slices * p.k; c++) {
    if (part_i[base + c] >= 0.0) { insert(&top, p.k, part_d[base + c], part_i[base + c]); }
  }
  for (var j = 0u; j < p.k; j++) {
    out_d[query * p.k + j] = top.d[j];
    out_i[query * p.k + j] = top.i[j];
  }
}
