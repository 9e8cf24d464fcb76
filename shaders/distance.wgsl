// k nearest bank rows of every query by squared Euclidean distance, fused: distances go straight into a
// running top-k in private memory, so the Q x M distance matrix never exists. Distances use the direct form
// sum (q - b)^2: every term is non-negative, so near-duplicates keep full relative precision. The expanded
// |q|^2 - 2 q.b + |b|^2 loses it to cancellation (and can go negative); it only pays off when q.b comes from
// a matmul, and then the Q x M matrix exists.
//
// Indices travel as f32 values (exact below 2^24; distance.ts enforces M <= 2^24), so the public index
// tensor reads back as ordinary numbers. A slice shorter than k leaves empty slots with index -1, which the
// merge skips; final lists are always full because k <= M.

// For each of QB queries, the k smallest (distance, index) pairs seen so far, ascending. Ties keep the earlier
// insertion first, and candidates arrive in ascending index order, so equal distances end up ordered by index.
// (Slots are addressed by index: core WGSL cannot pass a pointer to one array element to a function.)
struct TopK { d: array<array<f32, KMAX>, QB>, i: array<array<f32, KMAX>, QB>, count: array<u32, QB> }

fn insert(t: ptr<function, TopK>, slot: u32, k: u32, d: f32, idx: f32) {
  let count = (*t).count[slot];
  if (count == k && !(d < (*t).d[slot][k - 1u])) { return; }
  var j = min(count, k - 1u);
  while (j > 0u && (*t).d[slot][j - 1u] > d) {
    (*t).d[slot][j] = (*t).d[slot][j - 1u];
    (*t).i[slot][j] = (*t).i[slot][j - 1u];
    j--;
  }
  (*t).d[slot][j] = d;
  (*t).i[slot][j] = idx;
  (*t).count[slot] = min(count + 1u, k);
}

//! entry knn_partial
// One invocation per (block of QB queries, bank slice): the k nearest rows of rows [slice * rows,
// (slice + 1) * rows) for each query into out[(query * slices + slice) * k ..]. Neighbouring invocations take
// neighbouring query blocks of one slice, so they read the same bank values. Each step scores QB queries
// against RB bank rows: QB + RB loads feed QB * RB multiply-adds.
struct P { q: u32, m: u32, d: u32, k: u32, slices: u32, rows: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> queries: array<f32>;
@group(0) @binding(2) var<storage, read> bank: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_d: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_i: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let blocks = (p.q + QB - 1u) / QB;
  let inv = flat_index(gid, nwg, WG);
  if (inv >= blocks * p.slices) { return; }
  let q0 = (inv % blocks) * QB;
  let slice = inv / blocks;
  let m0 = slice * p.rows;
  let m1 = min(m0 + p.rows, p.m);
  // Queries past Q and rows past the slice repeat the last one, so loads stay in bounds; their scores are
  // dropped.
  var qbase: array<u32, QB>;
  for (var s = 0u; s < QB; s++) { qbase[s] = min(q0 + s, p.q - 1u) * p.d; }
  var top: TopK;
  for (var s = 0u; s < QB; s++) { top.count[s] = 0u; }
  var acc: array<array<f32, RB>, QB>;
  var rowbase: array<u32, RB>;
  var qv: array<f32, QB>;
  for (var mb = m0; mb < m1; mb += RB) {
    // An explicit reset: the implicit zero-init of a `var` declared in a loop body did not rerun on lavapipe.
    acc = array<array<f32, RB>, QB>();
    for (var r = 0u; r < RB; r++) { rowbase[r] = min(mb + r, m1 - 1u) * p.d; }
    for (var j = 0u; j < p.d; j++) {
      for (var s = 0u; s < QB; s++) { qv[s] = queries[qbase[s] + j]; }
      for (var r = 0u; r < RB; r++) {
        let bv = bank[rowbase[r] + j];
        for (var s = 0u; s < QB; s++) {
          let diff = qv[s] - bv;
          acc[s][r] += diff * diff;
        }
      }
    }
    for (var r = 0u; r < RB && mb + r < m1; r++) {
      for (var s = 0u; s < QB; s++) { insert(&top, s, p.k, acc[s][r], f32(mb + r)); }
    }
  }
  for (var s = 0u; s < QB && q0 + s < p.q; s++) {
    let at = ((q0 + s) * p.slices + slice) * p.k;
    for (var j = 0u; j < p.k; j++) {
      let filled = j < top.count[s];
      out_d[at + j] = select(0.0, top.d[s][j], filled);
      out_i[at + j] = select(-1.0, top.i[s][j], filled);
    }
  }
}

//! entry knn_merge
// One invocation per query (QB = 1): merges its `slices` sorted partial lists, slice by slice (ascending
// indices).
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
  top.count[0] = 0u;
  let base = query * p.slices * p.k;
  for (var c = 0u; c < p.slices * p.k; c++) {
    if (part_i[base + c] >= 0.0) { insert(&top, 0u, p.k, part_d[base + c], part_i[base + c]); }
  }
  for (var j = 0u; j < p.k; j++) {
    out_d[query * p.k + j] = top.d[0][j];
    out_i[query * p.k + j] = top.i[0][j];
  }
}
