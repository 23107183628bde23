// loss_group_common.wgsl — not a kernel: the grouped random-negative tiles of the sparse HP loss
// (model/loss_sparse_group_fwd.wgsl, model/loss_sparse_group_bwd.wgsl; included after hash.wgsl and loss_common.wgsl).
// The B anchors i = b·P + r at grid position r share the random row U[r,·] (hp-method.md §5.3), so their
// logits against it form one dense [B × |U_r|] × D product: a workgroup owns (r, a tile of TR = 4·ROWQ
// anchors) and walks U_r in tiles of 64 columns, found by rank through the tables of loss_sparse_urows.wgsl
// (binary search; no list, no capacity). Logit tile: 16 × ROWQ threads, thread (tx, ty) holds rows 4·ty + a
// and columns 4·tx + c as four vec4 (one per column, over its rows: constant-indexed), K-step 16 staged as
// vec4 of four rows per k with a padded stride of 17 (conflict-free stores and reads).
// ROWQ (pipeline override) = min(16, ⌈B/4⌉): 64-anchor tiles for B ≥ 61 (the COCO batch: 256 threads),
// smaller workgroups for small batches, which would otherwise stage and synchronise 64 rows for a few.
// The includer binds ucsr, ag_bits, sp_bits and the uniforms hp, chunk, and defines
// `yload(which, i, k) -> f32` (0 for i ≥ N).
//
// fragment: the grouped [B × |U_r|] logit tiles of the sparse HP loss
// reference: core/model/loss_ref.ts hpLossRef
// test: tests/model/loss_test.ts

override ROWQ: u32 = 16u; // row quads per tile: TR = 4·ROWQ anchors, 16·ROWQ threads
const T_STRIDE: u32 = 17u;
const NONE: u32 = 0xffffffffu;

var<workgroup> s_a: array<vec4<f32>, 272>; // [k 16][row quad 16 (+1 pad)]
var<workgroup> s_b: array<vec4<f32>, 272>;
var<workgroup> grow: array<u32, 64>; // anchor of tile row t (NONE: not an anchor of this dispatch)
var<workgroup> gcol: array<u32, 64>; // column (anchor index) of tile column t (NONE past |U_r|)
var<workgroup> g_count: u32;

// Column logits of a thread: cK = rows 4·ty + 0..3 of column 4·tx + K.
struct Blk { c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>, }

fn u_words() -> u32 { return (hp.N + 31u) / 32u; }
fn u_count(r: u32) -> u32 { return ucsr[2u * hp.P * u_words() + 2u * r + 1u]; }
fn u_first_slot(r: u32) -> u32 { return ucsr[2u * hp.P * u_words() + 2u * r]; }

// Rank of column i among the set bits of U[r,·] (i must be set).
fn u_rank(r: u32, i: u32) -> u32 {
  let W = u_words();
  let w = i / 32u;
  return ucsr[hp.P * W + r * W + w] + countOneBits(ucsr[r * W + w] & ((1u << (i % 32u)) - 1u));
}

// Column of the rank-th set bit of U[r,·] (rank < |U_r|): binary search of the row's word offsets.
fn u_col(r: u32, rank: u32) -> u32 {
  let W = u_words();
  let off = hp.P * W + r * W;
  var lo = 0u;
  var hi = W - 1u; // largest w with offset[w] ≤ rank
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (ucsr[off + mid] <= rank) { lo = mid; } else { hi = mid - 1u; }
  }
  var bits = ucsr[r * W + lo];
  for (var n = rank - ucsr[off + lo]; n > 0u; n = n - 1u) { bits = bits & (bits - 1u); }
  return lo * 32u + firstTrailingBit(bits);
}

fn tile_rows() -> u32 { return 4u * ROWQ; }
fn n_threads() -> u32 { return 16u * ROWQ; }
fn n_tiles() -> u32 { return (hp.B + tile_rows() - 1u) / tile_rows(); }

// Anchors of this workgroup's tile: i = b·P + r for b = TR·bt + t < B, inside the chunk's rows.
fn fill_rows(r: u32, bt: u32, tid: u32) {
  for (var t: u32 = tid; t < 64u; t = t + n_threads()) {
    let b = tile_rows() * bt + t;
    let i = b * hp.P + r;
    grow[t] = select(NONE, i, t < tile_rows() && b < hp.B && i >= chunk.row_off && i < chunk.row_off + chunk.rows);
  }
  if (tid == 0u) { g_count = u_count(r); }
  workgroupBarrier();
}

// Columns of ranks [c0, c0 + 64) of U_r.
fn fill_cols(r: u32, c0: u32, count: u32, tid: u32) {
  workgroupBarrier();
  for (var t: u32 = tid; t < 64u; t = t + n_threads()) {
    gcol[t] = select(NONE, u_col(r, c0 + t), c0 + t < count);
  }
  workgroupBarrier();
}

// Stages k-step k0 of the rows (s_a) and columns (s_b) of `which` into the given arrays' slots.
fn stage_cols(which: u32, k0: u32, tid: u32) {
  for (var e: u32 = tid; e < 256u; e = e + n_threads()) {
    let q = e / 16u;
    let k = k0 + e % 16u;
    let c = 4u * q;
    s_b[(e % 16u) * T_STRIDE + q] = vec4<f32>(yrow(which, gcol[c], k), yrow(which, gcol[c + 1u], k),
                                             yrow(which, gcol[c + 2u], k), yrow(which, gcol[c + 3u], k));
  }
}

fn yrow(which: u32, i: u32, k: u32) -> f32 {
  if (i == NONE || k >= hp.D) { return 0.0; }
  return yload(which, i, k);
}

// ⟨y_grow[row], y_gcol[col]⟩ over D for this thread's 4×4 block (call from uniform control flow). Thread
// tid stages row quad tid / 16 at k = tid % 16 (16·ROWQ entries) and its share of the 256 column entries.
fn group_logits(which: u32, tid: u32, tx: u32, ty: u32) -> Blk {
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  let q = tid / 16u;
  let kq = tid % 16u;
  let ra = 4u * q;
  // Threads whose rows or columns are all empty skip the FMAs (small B, the last column tile): on a GPU
  // whole warps idle, on a CPU adapter the work is simply not done.
  let busy = (grow[4u * ty] != NONE || grow[4u * ty + 1u] != NONE || grow[4u * ty + 2u] != NONE ||
                grow[4u * ty + 3u] != NONE) && gcol[4u * tx] != NONE;
  for (var k0: u32 = 0u; k0 < hp.D; k0 = k0 + 16u) {
    let k = k0 + kq;
    s_a[kq * T_STRIDE + q] = vec4<f32>(yrow(which, grow[ra], k), yrow(which, grow[ra + 1u], k),
                                      yrow(which, grow[ra + 2u], k), yrow(which, grow[ra + 3u], k));
    stage_cols(which, k0, tid);
    workgroupBarrier();
    for (var kk: u32 = 0u; busy && kk < 16u; kk = kk + 1u) {
      let a = s_a[kk * T_STRIDE + ty];
      let b = s_b[kk * T_STRIDE + tx];
      c0 = fma(a, vec4<f32>(b.x), c0);
      c1 = fma(a, vec4<f32>(b.y), c1);
      c2 = fma(a, vec4<f32>(b.z), c2);
      c3 = fma(a, vec4<f32>(b.w), c3);
    }
    workgroupBarrier();
  }
  return Blk(c0, c1, c2, c3);
}

// Mask bits of the pairs (rows iv, column j) of one plane: row i's word in this chunk's plane.
fn plane_bits(which: u32, iv: vec4<u32>, j: u32, ok: vec4<bool>) -> vec4<bool> {
  let W = u_words();
  let w = j / 32u;
  let sh = j % 32u;
  var out = vec4<bool>(false);
  for (var a: u32 = 0u; a < 4u; a = a + 1u) {
    if (ok[a]) {
      let idx = (iv[a] - chunk.row_off) * W + w;
      let word = select(sp_bits[idx], ag_bits[idx], which == 0u);
      out[a] = ((word >> sh) & 1u) == 1u;
    }
  }
  return out;
}
