// loss_sparse_mask.wgsl — sparse path, pass 1: the symmetric GHP masks as bit-planes (hp-method.md §5.2).
//   ag_bits[i·W + w] bit k ⇔ j = 32w + k ∈ P_ag_i  (c^ag_ij > min(R^ag_i, R^ag_j), j ≠ i, strict)
//   sp_bits likewise for P_sp.   W = ceil(N/32) words per row.
// The only dense dots of the sparse design, on the register-blocked 128×128 tile of include/gram128.wgsl
// (8×8 per thread, constant-indexed accumulators, conflict-free padded staging); the logits are then
// computed only where G can be non-zero (loss_sparse_*.wgsl). One plane at a time: dots, comparisons,
// bits gathered with workgroup atomicOr (order-free, so deterministic), then two words per thread written.
// Variant "f16" (hp.mask_precision = f16): fhat and shat are f16 copies (loss_f16.wgsl); dots in f32.
// Bindings: 0 fhat [N,Df] read, 1 shat [N,D] read, 2 aux [N,12] read (slots 0, 1), 3 ag_bits [N·W] rw,
//           4 sp_bits [N·W] rw, 5 hp uniform, 6 chunk uniform (rows [row_off, row_off + rows) of this
//           dispatch; the planes hold only those rows: bit-planes may be split by the binding limit).
// Entry `main`: one 128×128 tile per workgroup, tile t = (row tile t / nbc of the chunk, column tile
//   t % nbc), nbc = ceil(N/128): N·rows·(Df + D)·2 FLOPs. Grid ceil(rows/128)·nbc workgroups (grid1d).
// Entry `main_sym` (one chunk of all N rows): c_ij = c_ji and the criterion is symmetric, so only tiles
//   with column tile ≥ row tile run (N²·(Df + D) FLOPs); a tile writes its words for rows I (columns J)
//   and, transposed, for rows J (columns I). Grid nb·(nb+1)/2 workgroups, nb = ceil(N/128).
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts hpMasksRef
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"
#include "gram128.wgsl"


@group(0) @binding(0) var<storage, read> fhat: array<f32>;
@group(0) @binding(1) var<storage, read> shat: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> ag_bits: array<u32>;
@group(0) @binding(4) var<storage, read_write> sp_bits: array<u32>;
@group(0) @binding(5) var<uniform> hp: HpParams;
@group(0) @binding(6) var<uniform> chunk: Chunk;

var<workgroup> wb: array<atomic<u32>, 512>;   // [tile row 128][word 4]
var<workgroup> wb_t: array<atomic<u32>, 512>; // transposed: [tile column 128][word 4]

fn load_m(which: u32, row: u32, k: u32) -> f32 {
  if (row >= hp.N) { return 0.0; }
  if (which == 0u) {
    if (k >= hp.Df) { return 0.0; }
    return f32(fhat[row * hp.Df + k]);
  }
  if (k >= hp.D) { return 0.0; }
  return f32(shat[row * hp.D + k]);
}
fn load_a(which: u32, row: u32, k: u32) -> f32 { return load_m(which, row, k); }
fn load_b(which: u32, row: u32, k: u32) -> f32 { return load_m(which, row, k); }

fn thr(which: u32, i: u32) -> f32 {
  if (i >= hp.N) { return 0.0; }
  return aux[i * AUX + which];
}

// Bits (0..3: columns 4·tx + c, 4..7: columns 64 + 4·tx + c) of one block row: dot > min(R_i, R_j),
// i valid (< row_end), j < N, j ≠ i.
fn row_bits(l: vec4<f32>, h: vec4<f32>, i: u32, row_end: u32, r_i: f32, rjl: vec4<f32>, rjh: vec4<f32>,
            jl: u32, jh: u32) -> u32 {
  if (i >= row_end) { return 0u; }
  let jv = vec4<u32>(0u, 1u, 2u, 3u);
  let okl = (l > min(vec4<f32>(r_i), rjl)) & (jv + jl < vec4<u32>(hp.N)) & (jv + jl != vec4<u32>(i));
  let okh = (h > min(vec4<f32>(r_i), rjh)) & (jv + jh < vec4<u32>(hp.N)) & (jv + jh != vec4<u32>(i));
  let one = vec4<u32>(1u);
  let zero = vec4<u32>(0u);
  let bl = select(zero, one, okl) << jv;
  let bh = select(zero, one, okh) << (jv + 4u);
  return bl.x | bl.y | bl.z | bl.w | bh.x | bh.y | bh.z | bh.w;
}

// Bit c of the eight row masks m0..m7 (row a → bit a): one column of the block, transposed.
fn col_bits(c: u32, m0: u32, m1: u32, m2: u32, m3: u32, m4: u32, m5: u32, m6: u32, m7: u32) -> u32 {
  return ((m0 >> c) & 1u) | (((m1 >> c) & 1u) << 1u) | (((m2 >> c) & 1u) << 2u) | (((m3 >> c) & 1u) << 3u) |
    (((m4 >> c) & 1u) << 4u) | (((m5 >> c) & 1u) << 5u) | (((m6 >> c) & 1u) << 6u) | (((m7 >> c) & 1u) << 7u);
}

// ORs an 8-bit block mask (bits 0..3 → tile columns 4·q + 0..3, bits 4..7 → 64 + 4·q + 0..3) into word
// row `r` of `arr` (0: wb, 1: wb_t).
fn or_bits(t: u32, r: u32, q: u32, m: u32) {
  let sh = (q % 8u) * 4u;
  let lo = (m & 15u) << sh;
  let hi = ((m >> 4u) & 15u) << sh;
  if (t == 0u) {
    if (lo != 0u) { atomicOr(&wb[r * 4u + q / 8u], lo); }
    if (hi != 0u) { atomicOr(&wb[r * 4u + 2u + q / 8u], hi); }
  } else {
    if (lo != 0u) { atomicOr(&wb_t[r * 4u + q / 8u], lo); }
    if (hi != 0u) { atomicOr(&wb_t[r * 4u + 2u + q / 8u], hi); }
  }
}

fn store_word(which: u32, idx: u32, v: u32) {
  if (which == 0u) { ag_bits[idx] = v; } else { sp_bits[idx] = v; }
}

// One plane of tile (row0, col0): dots, bits into wb (and wb_t when `both`), then the words to the planes.
fn tile_plane(which: u32, row0: u32, col0: u32, row_end: u32, both: bool, tid: u32, tx: u32, ty: u32) {
  let W = (hp.N + 31u) / 32u;
  atomicStore(&wb[tid], 0u);
  atomicStore(&wb[tid + 256u], 0u);
  atomicStore(&wb_t[tid], 0u);
  atomicStore(&wb_t[tid + 256u], 0u);
  let t = gram128(which, select(hp.D, hp.Df, which == 0u), row0, col0, tid, tx, ty);
  let jl = col0 + 4u * tx;
  let jh = col0 + 64u + 4u * tx;
  let rjl = vec4<f32>(thr(which, jl), thr(which, jl + 1u), thr(which, jl + 2u), thr(which, jl + 3u));
  let rjh = vec4<f32>(thr(which, jh), thr(which, jh + 1u), thr(which, jh + 2u), thr(which, jh + 3u));
  let il = row0 + 4u * ty;
  let ih = row0 + 64u + 4u * ty;
  let m0 = row_bits(t.r0l, t.r0h, il, row_end, thr(which, il), rjl, rjh, jl, jh);
  let m1 = row_bits(t.r1l, t.r1h, il + 1u, row_end, thr(which, il + 1u), rjl, rjh, jl, jh);
  let m2 = row_bits(t.r2l, t.r2h, il + 2u, row_end, thr(which, il + 2u), rjl, rjh, jl, jh);
  let m3 = row_bits(t.r3l, t.r3h, il + 3u, row_end, thr(which, il + 3u), rjl, rjh, jl, jh);
  let m4 = row_bits(t.r4l, t.r4h, ih, row_end, thr(which, ih), rjl, rjh, jl, jh);
  let m5 = row_bits(t.r5l, t.r5h, ih + 1u, row_end, thr(which, ih + 1u), rjl, rjh, jl, jh);
  let m6 = row_bits(t.r6l, t.r6h, ih + 2u, row_end, thr(which, ih + 2u), rjl, rjh, jl, jh);
  let m7 = row_bits(t.r7l, t.r7h, ih + 3u, row_end, thr(which, ih + 3u), rjl, rjh, jl, jh);
  or_bits(0u, 4u * ty, tx, m0);
  or_bits(0u, 4u * ty + 1u, tx, m1);
  or_bits(0u, 4u * ty + 2u, tx, m2);
  or_bits(0u, 4u * ty + 3u, tx, m3);
  or_bits(0u, 64u + 4u * ty, tx, m4);
  or_bits(0u, 64u + 4u * ty + 1u, tx, m5);
  or_bits(0u, 64u + 4u * ty + 2u, tx, m6);
  or_bits(0u, 64u + 4u * ty + 3u, tx, m7);
  if (both) {
    for (var c: u32 = 0u; c < 4u; c = c + 1u) {
      or_bits(1u, 4u * tx + c, ty, col_bits(c, m0, m1, m2, m3, m4, m5, m6, m7));
      or_bits(1u, 64u + 4u * tx + c, ty, col_bits(c + 4u, m0, m1, m2, m3, m4, m5, m6, m7));
    }
  }
  workgroupBarrier();
  for (var e: u32 = tid; e < 512u; e = e + 256u) {
    let r = e / 4u;
    let w = col0 / 32u + e % 4u;
    let row = row0 + r;
    if (row < row_end && w < W) { store_word(which, (row - chunk.row_off) * W + w, atomicLoad(&wb[e])); }
    if (both) {
      let row_t = col0 + r;
      let w_t = row0 / 32u + e % 4u;
      if (row_t < hp.N && w_t < W) { store_word(which, row_t * W + w_t, atomicLoad(&wb_t[e])); }
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let nbc = (hp.N + 127u) / 128u;
  let t = wid.x + wid.y * nwg.x;
  if (t >= ((chunk.rows + 127u) / 128u) * nbc) { return; }
  let row0 = chunk.row_off + (t / nbc) * 128u;
  let col0 = (t % nbc) * 128u;
  let row_end = chunk.row_off + chunk.rows;
  let tid = lid.y * 16u + lid.x;
  for (var which: u32 = 0u; which < 2u; which = which + 1u) {
    tile_plane(which, row0, col0, row_end, false, tid, lid.x, lid.y);
  }
}

// (I, J) with I ≤ J of upper-triangle tile t, rows enumerated I = 0, 1, … with nb − I tiles each.
fn tri_start(I: u32, nb: u32) -> u32 {
  return I * nb - (I * (I - 1u)) / 2u; // I·nb − I(I−1)/2 (u32 wrap-around is harmless at I = 0)
}

fn tri_tile(t: u32, nb: u32) -> vec2<u32> {
  // Float estimate of the row, then exact correction (a step or two at most).
  let n = f32(nb) + 0.5;
  var I = min(u32(max(0.0, floor(n - sqrt(max(0.0, n * n - 2.0 * f32(t)))))), nb - 1u);
  for (var k: u32 = 0u; k < 8u; k = k + 1u) {
    if (I > 0u && tri_start(I, nb) > t) {
      I = I - 1u;
    } else if (I + 1u < nb && tri_start(I + 1u, nb) <= t) {
      I = I + 1u;
    }
  }
  return vec2<u32>(I, I + (t - tri_start(I, nb)));
}

@compute @workgroup_size(16, 16, 1)
fn main_sym(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let nb = (hp.N + 127u) / 128u;
  let t = wid.x + wid.y * nwg.x;
  if (t >= nb * (nb + 1u) / 2u) { return; }
  let ij = tri_tile(t, nb);
  let tid = lid.y * 16u + lid.x;
  for (var which: u32 = 0u; which < 2u; which = which + 1u) {
    tile_plane(which, ij.x * 128u, ij.y * 128u, hp.N, ij.x != ij.y, tid, lid.x, lid.y);
  }
}
