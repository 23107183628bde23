// loss_sparse_group_bwd.wgsl — sparse path, backward over the random negatives, grouped by grid position
// (hp-method.md §5.9) for y = z (chunk.which = 0) or z̃ (1). For the anchors a_b = b·P + r of a 64-anchor tile
// and the columns j ∈ U[r,·] \ {a_b} (all in D_{a_b}) the logits are recomputed as dense tiles
// (include/loss_group_common.wgsl) and turned into G_{a_b j}/τ = coef·(w·exp(l − lse) − m)/τ, kept in
// workgroup memory. One G tile feeds both sides of the gradient:
//   anchor side    dy_{a_b} += Σ_j G_{a_b j}·y_j / τ      — added into dy (read-modify-write; each anchor row
//                  belongs to one workgroup, column tiles in rank order: deterministic)
//   contrast side  part[slot(r, j)] = Σ_b G_{a_b j}·y_{a_b} / τ — a per-r partial sum for owner j, written to
//                  its slot (first slot of row r + rank of j in U_r; slab per anchor tile); loss_sparse_bwd.wgsl
//                  adds the partials of every r with U[r, j] = 1 into dy_j in r order (no float atomics).
//                  Slots ≥ cap are not written; the owner recomputes those pairs itself.
// FLOPs per r: 2·D·B·|U_r| (logits) + 4·D·B·|U_r| (both sides); 6·ρ·N²·D in all.
// Bindings: 0 y [N,D] read (vec4), 1 ag_bits, 2 sp_bits, 3 ucsr read, 4 aux read, 5 dy [N,D] rw (vec4),
//           6 part [tiles·cap, D] rw (vec4), 7 hp uniform, 8 chunk uniform. dy must be zero before the first
//           chunk. Workgroup 16×ROWQ; grid P·⌈B/TR⌉ workgroups (grid1d), t → (r = t % P, tile t / P); TR = 64
//           whenever B > 64, so the partial slabs are ⌈B/64⌉ as the owner kernel reads them.
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts hpLossRef (gradients)
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"
#include "loss_group_common.wgsl"

@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ag_bits: array<u32>;
@group(0) @binding(2) var<storage, read> sp_bits: array<u32>;
@group(0) @binding(3) var<storage, read> ucsr: array<u32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> dy: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> part: array<vec4<f32>>;
@group(0) @binding(7) var<uniform> hp: HpParams;
@group(0) @binding(8) var<uniform> chunk: Chunk;

var<workgroup> gs: array<f32, 4096>; // G/τ [tile row 64][tile column 64]

fn yload(which: u32, i: u32, k: u32) -> f32 {
  return y[i * (hp.D / 4u) + k / 4u][k % 4u];
}

fn aux4(iv: vec4<u32>, slot: u32) -> vec4<f32> {
  var o = vec4<f32>(0.0);
  for (var a: u32 = 0u; a < 4u; a = a + 1u) {
    if (iv[a] != NONE) { o[a] = aux[iv[a] * AUX + slot]; }
  }
  return o;
}

// G/τ for this thread's rows iv and column j (0 where the pair is not a kept anchor's negative).
fn g_col(lg: vec4<f32>, iv: vec4<u32>, j: u32, lse: vec4<f32>, w: vec4<f32>, coef: vec4<f32>) -> vec4<f32> {
  let ok = (iv != vec4<u32>(NONE)) & vec4<bool>(j != NONE) & (iv != vec4<u32>(j)) & (coef > vec4<f32>(0.0));
  if (!any(ok)) { return vec4<f32>(0.0); }
  let l = lg * hp.inv_tau;
  let zero = vec4<f32>(0.0);
  let one = vec4<f32>(1.0);
  let m = select(zero, one, plane_bits(0u, iv, j, ok)) + hp.lambda * select(zero, one, plane_bits(1u, iv, j, ok));
  let g = coef * (w * exp(min(l - lse, vec4<f32>(80.0))) - m) * hp.inv_tau;
  return select(zero, g, ok);
}

fn put_col(c: u32, v: vec4<f32>, tx: u32, ty: u32) {
  let k = 4u * tx + c;
  gs[(4u * ty) * 64u + k] = v.x;
  gs[(4u * ty + 1u) * 64u + k] = v.y;
  gs[(4u * ty + 2u) * 64u + k] = v.z;
  gs[(4u * ty + 3u) * 64u + k] = v.w;
}

@compute @workgroup_size(16, ROWQ, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= hp.P * n_tiles()) { return; }
  let r = t % hp.P;
  let bt = t / hp.P;
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 16u + tx;
  let dv = hp.D / 4u;
  fill_rows(r, bt, tid);
  let count = workgroupUniformLoad(&g_count);
  let first = u_first_slot(r);
  let iv = vec4<u32>(grow[4u * ty], grow[4u * ty + 1u], grow[4u * ty + 2u], grow[4u * ty + 3u]);
  let lse = aux4(iv, 2u + chunk.which);
  let w = aux4(iv, 6u);
  let coef = aux4(iv, 10u);
  let nb = min(tile_rows(), hp.B - tile_rows() * bt);
  for (var c0: u32 = 0u; c0 < count; c0 = c0 + 64u) {
    fill_cols(r, c0, count, tid);
    let blk = group_logits(0u, tid, tx, ty);
    put_col(0u, g_col(blk.c0, iv, gcol[4u * tx], lse, w, coef), tx, ty);
    put_col(1u, g_col(blk.c1, iv, gcol[4u * tx + 1u], lse, w, coef), tx, ty);
    put_col(2u, g_col(blk.c2, iv, gcol[4u * tx + 2u], lse, w, coef), tx, ty);
    put_col(3u, g_col(blk.c3, iv, gcol[4u * tx + 3u], lse, w, coef), tx, ty);
    workgroupBarrier();
    let nc = min(64u, count - c0);
    // Anchor side: rows 4·ty + a, vec4 columns d4 = tx, tx + 16, … of D.
    if (any(iv != vec4<u32>(NONE))) {
      let g0 = (4u * ty) * 64u;
      for (var d4: u32 = tx; d4 < dv; d4 = d4 + 16u) {
        var o0 = vec4<f32>(0.0);
        var o1 = vec4<f32>(0.0);
        var o2 = vec4<f32>(0.0);
        var o3 = vec4<f32>(0.0);
        for (var c: u32 = 0u; c < nc; c = c + 1u) {
          let yv = y[gcol[c] * dv + d4];
          o0 = fma(vec4<f32>(gs[g0 + c]), yv, o0);
          o1 = fma(vec4<f32>(gs[g0 + 64u + c]), yv, o1);
          o2 = fma(vec4<f32>(gs[g0 + 128u + c]), yv, o2);
          o3 = fma(vec4<f32>(gs[g0 + 192u + c]), yv, o3);
        }
        if (iv.x != NONE) { dy[iv.x * dv + d4] = dy[iv.x * dv + d4] + o0; }
        if (iv.y != NONE) { dy[iv.y * dv + d4] = dy[iv.y * dv + d4] + o1; }
        if (iv.z != NONE) { dy[iv.z * dv + d4] = dy[iv.z * dv + d4] + o2; }
        if (iv.w != NONE) { dy[iv.w * dv + d4] = dy[iv.w * dv + d4] + o3; }
      }
    }
    // Contrast side: tile columns cc + a (cc = 4·ty, 4·ty + TR, …), the same vec4 columns of D.
    for (var cc: u32 = 4u * ty; cc < nc; cc = cc + tile_rows()) {
      for (var d4: u32 = tx; d4 < dv; d4 = d4 + 16u) {
        var p0 = vec4<f32>(0.0);
        var p1 = vec4<f32>(0.0);
        var p2 = vec4<f32>(0.0);
        var p3 = vec4<f32>(0.0);
        for (var b: u32 = 0u; b < nb; b = b + 1u) {
          let i = grow[b];
          if (i == NONE) { continue; }
          let yv = y[i * dv + d4];
          p0 = fma(vec4<f32>(gs[b * 64u + cc]), yv, p0);
          p1 = fma(vec4<f32>(gs[b * 64u + cc + 1u]), yv, p1);
          p2 = fma(vec4<f32>(gs[b * 64u + cc + 2u]), yv, p2);
          p3 = fma(vec4<f32>(gs[b * 64u + cc + 3u]), yv, p3);
        }
        let s = first + c0 + cc;
        let base = bt * chunk.cap;
        if (s < chunk.cap) { part[(base + s) * dv + d4] = p0; }
        if (cc + 1u < nc && s + 1u < chunk.cap) { part[(base + s + 1u) * dv + d4] = p1; }
        if (cc + 2u < nc && s + 2u < chunk.cap) { part[(base + s + 2u) * dv + d4] = p2; }
        if (cc + 3u < nc && s + 3u < chunk.cap) { part[(base + s + 3u) * dv + d4] = p3; }
      }
    }
    workgroupBarrier();
  }
}
