// loss_fwd.wgsl — pass 1 of the HP loss (hp-method.md §5.2–§5.4): per anchor row i, streaming over all
// columns j in 64-wide tiles (flash-attention style; nothing N×N is stored):
//   masks  ag_ij = c^ag_ij > min(R^ag_i, R^ag_j), sp_ij likewise (j ≠ i), D_i = ag ∪ U[r_i,·] \ {i}
//   lse_z, lse_z̃ = online log-sum-exp of l_ij = ⟨y_i, y_j⟩/τ over D_i, S = Σ_j m_ij l_ij, w_i, counts.
// dot_tile, As and Bs come from include/dot_tile.wgsl.
//
// Bindings: 0 fhat [N,Df] read, 1 shat [N,D] read, 2 z [N,D] read, 3 zt [N,D] read,
//           4 aux [N,12] read_write (reads slots 0,1 of every row, writes slots 2..9 of its own rows),
//           5 hp uniform HpParams.
// Workgroup 16×16 threads owns 64 rows; per 64×64 pair tile four dot tiles (c^ag, c^sp, l_z, l_z̃) are
// computed GEMM-style (K-step 16, 4×4 per thread); per-row state lives in registers and the 16 lanes of a
// row are merged in workgroup memory at the end (in lane order: deterministic).
// FLOPs: 2·N²·(Df + 3D). Grid: ceil(N/64) workgroups (grid1d).
//
// wrapper: core/model/loss.ts
// reference: core/model/loss_ref.ts hpLossRef
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"
#include "dot_tile.wgsl"

@group(0) @binding(0) var<storage, read> fhat: array<f32>;
@group(0) @binding(1) var<storage, read> shat: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read> zt: array<f32>;
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;
@group(0) @binding(5) var<uniform> hp: HpParams;

fn load_m(which: u32, row: u32, k: u32) -> f32 {
  if (row >= hp.N) { return 0.0; }
  switch which {
    case 0u: { if (k >= hp.Df) { return 0.0; } return fhat[row * hp.Df + k]; }
    case 1u: { if (k >= hp.D) { return 0.0; } return shat[row * hp.D + k]; }
    case 2u: { if (k >= hp.D) { return 0.0; } return z[row * hp.D + k]; }
    default: { if (k >= hp.D) { return 0.0; } return zt[row * hp.D + k]; }
  }
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = (wid.x + wid.y * nwg.x) * 64u;
  let tid = lid.y * 16u + lid.x;
  let tm = lid.y * 4u;
  let tn = lid.x * 4u;
  var rag: array<f32, 4>;
  var rsp: array<f32, 4>;
  for (var a: u32 = 0u; a < 4u; a = a + 1u) {
    let i = min(row0 + tm + a, hp.N - 1u);
    rag[a] = aux[i * AUX + 0u];
    rsp[a] = aux[i * AUX + 1u];
  }
  // (running max, scaled sum) of exp(l) over D_i, per row, for z and z̃.
  var lz_ms = array<vec2<f32>, 4>(vec2<f32>(NEG, 0.0), vec2<f32>(NEG, 0.0), vec2<f32>(NEG, 0.0), vec2<f32>(NEG, 0.0));
  var lzt_ms = array<vec2<f32>, 4>(vec2<f32>(NEG, 0.0), vec2<f32>(NEG, 0.0), vec2<f32>(NEG, 0.0), vec2<f32>(NEG, 0.0));
  var sum_z = vec4<f32>(0.0);
  var sum_zt = vec4<f32>(0.0);
  var w = vec4<f32>(0.0);
  var nag = vec4<f32>(0.0);
  var nsp = vec4<f32>(0.0);
  var nd = vec4<f32>(0.0);
  for (var col0: u32 = 0u; col0 < hp.N; col0 = col0 + 64u) {
    // One call site in a loop (not four inlined copies) keeps the shader quick to compile on lavapipe.
    var tiles: array<array<vec4<f32>, 4>, 4>; // c^ag, c^sp, l_z, l_z̃ (raw dots)
    for (var which: u32 = 0u; which < 4u; which = which + 1u) {
      tiles[which] = dot_tile(which, select(hp.D, hp.Df, which == 0u), row0, col0, tid, tm, tn);
    }
    for (var c: u32 = 0u; c < 4u; c = c + 1u) {
      let j = col0 + tn + c;
      if (j >= hp.N) { continue; }
      let rag_j = aux[j * AUX + 0u];
      let rsp_j = aux[j * AUX + 1u];
      for (var a: u32 = 0u; a < 4u; a = a + 1u) {
        let i = row0 + tm + a;
        if (i >= hp.N || i == j) { continue; }
        let ag = tiles[0][a][c] > min(rag[a], rag_j);
        let sp = tiles[1][a][c] > min(rsp[a], rsp_j);
        let m = select(0.0, 1.0, ag) + hp.lambda * select(0.0, 1.0, sp);
        let l1 = tiles[2][a][c] * hp.inv_tau;
        let l2 = tiles[3][a][c] * hp.inv_tau;
        w[a] = w[a] + m;
        nag[a] = nag[a] + select(0.0, 1.0, ag);
        nsp[a] = nsp[a] + select(0.0, 1.0, sp);
        sum_z[a] = sum_z[a] + m * l1;
        sum_zt[a] = sum_zt[a] + m * l2;
        if (ag || neg_u(i % hp.P, j)) {
          nd[a] = nd[a] + 1.0;
          lz_ms[a] = lse_add(lz_ms[a], l1);
          lzt_ms[a] = lse_add(lzt_ms[a], l2);
        }
      }
    }
  }
  // Merge the 16 lanes of each row in lane order (deterministic); one looped copy of the code keeps
  // the shader small. q = 0, 1: log-sum-exp merges (max in As, scaled sum in Bs); q ≥ 2: plain sums.
  var outv: array<vec4<f32>, 8>; // lse_z, lse_z̃, S_z, S_z̃, w, n_ag, n_sp, n_D (lane 0 only)
  for (var q: u32 = 0u; q < 8u; q = q + 1u) {
    workgroupBarrier();
    for (var a: u32 = 0u; a < 4u; a = a + 1u) {
      var ms = vec2<f32>(0.0);
      switch q {
        case 0u: { ms = lz_ms[a]; }
        case 1u: { ms = lzt_ms[a]; }
        case 2u: { ms.x = sum_z[a]; }
        case 3u: { ms.x = sum_zt[a]; }
        case 4u: { ms.x = w[a]; }
        case 5u: { ms.x = nag[a]; }
        case 6u: { ms.x = nsp[a]; }
        default: { ms.x = nd[a]; }
      }
      As[(tm + a) * 16u + lid.x] = ms.x;
      Bs[(tm + a) * 16u + lid.x] = ms.y;
    }
    workgroupBarrier();
    if (lid.x == 0u) {
      for (var a: u32 = 0u; a < 4u; a = a + 1u) {
        let base = (tm + a) * 16u;
        var r = 0.0;
        if (q < 2u) {
          var mm = NEG;
          for (var l: u32 = 0u; l < 16u; l = l + 1u) { mm = max(mm, As[base + l]); }
          var ss = 0.0;
          for (var l: u32 = 0u; l < 16u; l = l + 1u) { ss = ss + Bs[base + l] * exp(As[base + l] - mm); }
          r = select(0.0, mm + log(ss), ss > 0.0);
        } else {
          for (var l: u32 = 0u; l < 16u; l = l + 1u) { r = r + As[base + l]; }
        }
        outv[q][a] = r;
      }
    }
  }
  if (lid.x == 0u) {
    for (var a: u32 = 0u; a < 4u; a = a + 1u) {
      let i = row0 + tm + a;
      if (i >= hp.N) { continue; }
      for (var q: u32 = 0u; q < 8u; q = q + 1u) { aux[i * AUX + 2u + q] = outv[q][a]; }
    }
  }
}
