// loss_sparse_mask.wgsl — sparse path, pass 1: the symmetric GHP masks as bit-planes (hp-method.md §5.2).
//   ag_bits[i·W + w] bit k ⇔ j = 32w + k ∈ P_ag_i  (c^ag_ij > min(R^ag_i, R^ag_j), j ≠ i, strict)
//   sp_bits likewise for P_sp.   W = ceil(N/32) words per row.
// Only these dense dots (include/dot_tile.wgsl) remain in the sparse design:
// 2·N²·(Df + D) FLOPs; the logits are then computed only where G can be non-zero (loss_sparse_*.wgsl).
// Bindings: 0 fhat [N,Df] read, 1 shat [N,D] read, 2 aux [N,12] read (slots 0, 1), 3 ag_bits [N·W] rw,
//           4 sp_bits [N·W] rw, 5 hp uniform, 6 chunk uniform (rows [row_off, row_off + rows) of this
//           dispatch; the planes hold only those rows: bit-planes may be split by the binding limit).
// Entry `main`: workgroup 16×16 owns 64 rows and streams 64-column tiles (4×4 dots per thread, K-step
// 16); bits are gathered with workgroup atomicOr, then each thread writes one of the tile's 256 words.
// Entry `main_sym` (one chunk only): upper-triangle tiles, half the FLOPs — see below.
// Grid: ceil(rows/64) workgroups (grid1d).
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts hpMasksRef
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"
#include "dot_tile.wgsl"

struct Chunk { which: u32, row_off: u32, rows: u32, _p0: u32, }

@group(0) @binding(0) var<storage, read> fhat: array<f32>;
@group(0) @binding(1) var<storage, read> shat: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> ag_bits: array<u32>;
@group(0) @binding(4) var<storage, read_write> sp_bits: array<u32>;
@group(0) @binding(5) var<uniform> hp: HpParams;
@group(0) @binding(6) var<uniform> chunk: Chunk;

var<workgroup> wbits: array<atomic<u32>, 256>; // [plane 2][row 64][word 2]

fn load_m(which: u32, row: u32, k: u32) -> f32 {
  if (row >= hp.N) { return 0.0; }
  if (which == 0u) {
    if (k >= hp.Df) { return 0.0; }
    return fhat[row * hp.Df + k];
  }
  if (k >= hp.D) { return 0.0; }
  return shat[row * hp.D + k];
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = chunk.row_off + (wid.x + wid.y * nwg.x) * 64u;
  let row_end = chunk.row_off + chunk.rows;
  let tid = lid.y * 16u + lid.x;
  let tm = lid.y * 4u;
  let tn = lid.x * 4u;
  let W = (hp.N + 31u) / 32u;
  var r_i: array<vec2<f32>, 4>;
  for (var a: u32 = 0u; a < 4u; a = a + 1u) {
    let i = min(row0 + tm + a, row_end - 1u);
    r_i[a] = vec2<f32>(aux[i * AUX + 0u], aux[i * AUX + 1u]);
  }
  for (var col0: u32 = 0u; col0 < hp.N; col0 = col0 + 64u) {
    atomicStore(&wbits[tid], 0u);
    var tiles: array<array<vec4<f32>, 4>, 2>;
    for (var which: u32 = 0u; which < 2u; which = which + 1u) {
      tiles[which] = dot_tile(which, select(hp.D, hp.Df, which == 0u), row0, col0, tid, tm, tn);
    }
    for (var c: u32 = 0u; c < 4u; c = c + 1u) {
      let j = col0 + tn + c;
      if (j >= hp.N) { continue; }
      let r_j = vec2<f32>(aux[j * AUX + 0u], aux[j * AUX + 1u]);
      let bit = 1u << ((tn + c) % 32u);
      let word = (tn + c) / 32u;
      for (var a: u32 = 0u; a < 4u; a = a + 1u) {
        let i = row0 + tm + a;
        if (i >= row_end || i == j) { continue; }
        if (tiles[0][a][c] > min(r_i[a].x, r_j.x)) { atomicOr(&wbits[(tm + a) * 2u + word], bit); }
        if (tiles[1][a][c] > min(r_i[a].y, r_j.y)) { atomicOr(&wbits[128u + (tm + a) * 2u + word], bit); }
      }
    }
    workgroupBarrier();
    let plane = tid / 128u;
    let row = row0 + (tid % 128u) / 2u;
    let w = col0 / 32u + tid % 2u;
    let v = atomicLoad(&wbits[tid]);
    if (row < row_end && w < W) {
      let idx = (row - chunk.row_off) * W + w;
      if (plane == 0u) { ag_bits[idx] = v; } else { sp_bits[idx] = v; }
    }
    workgroupBarrier();
  }
}

// ---------------------------------------------------------------------------------------------------
// Symmetric variant (planes hold all N rows in one chunk): c_ij = c_ji and the criterion is symmetric, so
// only tiles with column block ≥ row block are computed (half the FLOPs: N²·(Df + D)); a tile writes its
// words for rows I (columns J) and, transposed, for rows J (columns I). Each workgroup owns one tile;
// tile t of the upper triangle is mapped to (I, J) below. Grid: nb·(nb+1)/2 workgroups (grid1d),
// nb = ceil(N/64).

var<workgroup> wbits_t: array<atomic<u32>, 256>; // transposed: [plane 2][row of J 64][word of I 2]

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
  let nb = (hp.N + 63u) / 64u;
  let t = wid.x + wid.y * nwg.x;
  if (t >= nb * (nb + 1u) / 2u) { return; }
  let ij = tri_tile(t, nb);
  let row0 = ij.x * 64u;
  let col0 = ij.y * 64u;
  let tid = lid.y * 16u + lid.x;
  let tm = lid.y * 4u;
  let tn = lid.x * 4u;
  let W = (hp.N + 31u) / 32u;
  atomicStore(&wbits[tid], 0u);
  atomicStore(&wbits_t[tid], 0u);
  var tiles: array<array<vec4<f32>, 4>, 2>;
  for (var which: u32 = 0u; which < 2u; which = which + 1u) {
    tiles[which] = dot_tile(which, select(hp.D, hp.Df, which == 0u), row0, col0, tid, tm, tn);
  }
  for (var c: u32 = 0u; c < 4u; c = c + 1u) {
    let j = col0 + tn + c;
    if (j >= hp.N) { continue; }
    let r_j = vec2<f32>(aux[j * AUX + 0u], aux[j * AUX + 1u]);
    for (var a: u32 = 0u; a < 4u; a = a + 1u) {
      let i = row0 + tm + a;
      if (i >= hp.N || i == j) { continue; }
      let r_i = vec2<f32>(aux[i * AUX + 0u], aux[i * AUX + 1u]);
      let ag = tiles[0][a][c] > min(r_i.x, r_j.x);
      let sp = tiles[1][a][c] > min(r_i.y, r_j.y);
      let bit = 1u << ((tn + c) % 32u);
      let word = (tn + c) / 32u;
      let bit_t = 1u << ((tm + a) % 32u);
      let word_t = (tm + a) / 32u;
      if (ag) {
        atomicOr(&wbits[(tm + a) * 2u + word], bit);
        atomicOr(&wbits_t[(tn + c) * 2u + word_t], bit_t);
      }
      if (sp) {
        atomicOr(&wbits[128u + (tm + a) * 2u + word], bit);
        atomicOr(&wbits_t[128u + (tn + c) * 2u + word_t], bit_t);
      }
    }
  }
  workgroupBarrier();
  let plane = tid / 128u;
  let lrow = (tid % 128u) / 2u;
  let v = atomicLoad(&wbits[tid]);
  let row = row0 + lrow;
  let w = col0 / 32u + tid % 2u;
  if (row < hp.N && w < W) {
    if (plane == 0u) { ag_bits[row * W + w] = v; } else { sp_bits[row * W + w] = v; }
  }
  if (ij.x != ij.y) {
    let vt = atomicLoad(&wbits_t[tid]);
    let row_t = col0 + lrow;
    let w_t = row0 / 32u + tid % 2u;
    if (row_t < hp.N && w_t < W) {
      if (plane == 0u) { ag_bits[row_t * W + w_t] = vt; } else { sp_bits[row_t * W + w_t] = vt; }
    }
  }
}
