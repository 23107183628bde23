// loss_bwd.wgsl — pass 3 of the HP loss: dL/dy for y = z (WHICH = 0) or y = z̃ (WHICH = 1)
// (hp-method.md §5.9).
//
// Because c^ag, c^sp and l are symmetric, one row-owner pass covers both the anchor side and the contrast
// side without atomics:  dL/dy_i = (1/τ) Σ_j H_ij y_j  with  H_ij = G_ij + G_ji,
//   G_ij = coef_i·(w_i·[j∈D_i]·exp(l_ij − lse_i) − m_ij)   (0 when i is not kept, and for j = i).
// D_i uses U[r_i, j], D_j uses U[r_j, i]: the two halves differ although the masks are symmetric.
//
// Bindings: 0 fhat [N,Df] read, 1 shat [N,D] read, 2 y [N,D] read, 3 aux [N,12] read, 4 dy [N,D]
//           read_write (overwritten), 5 hp uniform, 6 sel uniform (which y; one pipeline serves both).
// Workgroup 16×16 threads owns 32 rows. Per 32×64 pair tile: three dot tiles (c^ag, c^sp, l; 2×4 per
// thread, K-step 16), H into workgroup memory, then dy_I += H · y_J with y_J staged 4 columns at a time;
// each thread accumulates 1 row × up to 64 output columns (16 vec4 registers): D ≤ 512, D % 4 == 0.
// FLOPs: 2·N²·(Df + 3D). Grid: ceil(N/32) workgroups (grid1d).
//
// wrapper: core/model/loss.ts
// reference: core/model/loss_ref.ts hpLossRef (gradients; finite differences in the test)
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"

struct Which { which: u32, _p0: u32, _p1: u32, _p2: u32, }

@group(0) @binding(0) var<storage, read> fhat: array<f32>;
@group(0) @binding(1) var<storage, read> shat: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> dy: array<f32>;
@group(0) @binding(5) var<uniform> hp: HpParams;
@group(0) @binding(6) var<uniform> sel: Which; // 0: y = z (lse slot 2), 1: y = z̃ (slot 3)

var<workgroup> As: array<f32, 512>;       // [16 k][32 rows]
var<workgroup> Bs: array<f32, 1024>;      // [16 k][64 cols]
var<workgroup> Hs: array<f32, 2048>;      // [32 rows][64 cols]
var<workgroup> Ys: array<vec4<f32>, 512>; // [4 cols][128 vec4]

fn load_m(which: u32, row: u32, k: u32) -> f32 {
  if (row >= hp.N) { return 0.0; }
  switch which {
    case 0u: { if (k >= hp.Df) { return 0.0; } return fhat[row * hp.Df + k]; }
    case 1u: { if (k >= hp.D) { return 0.0; } return shat[row * hp.D + k]; }
    default: { if (k >= hp.D) { return 0.0; } return y[row * hp.D + k]; }
  }
}

// 32×64 tile of ⟨m_i, m_j⟩; this thread's rows tm, tm+1 and columns tn..tn+3.
fn dot_tile(which: u32, dim: u32, row0: u32, col0: u32, tid: u32, tm: u32, tn: u32) -> array<vec4<f32>, 2> {
  var acc = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k0: u32 = 0u; k0 < dim; k0 = k0 + 16u) {
    for (var q: u32 = 0u; q < 2u; q = q + 1u) {
      let e = tid + q * 256u;
      As[(e % 16u) * 32u + e / 16u] = load_m(which, row0 + e / 16u, k0 + e % 16u);
    }
    for (var q: u32 = 0u; q < 4u; q = q + 1u) {
      let e = tid + q * 256u;
      Bs[(e % 16u) * 64u + e / 16u] = load_m(which, col0 + e / 16u, k0 + e % 16u);
    }
    workgroupBarrier();
    for (var kk: u32 = 0u; kk < 16u; kk = kk + 1u) {
      let a0 = As[kk * 32u + tm];
      let a1 = As[kk * 32u + tm + 1u];
      let b = vec4<f32>(Bs[kk * 64u + tn], Bs[kk * 64u + tn + 1u], Bs[kk * 64u + tn + 2u], Bs[kk * 64u + tn + 3u]);
      acc[0] = fma(vec4<f32>(a0), b, acc[0]);
      acc[1] = fma(vec4<f32>(a1), b, acc[1]);
    }
    workgroupBarrier();
  }
  return acc;
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = (wid.x + wid.y * nwg.x) * 32u;
  let tid = lid.y * 16u + lid.x;
  let tm = lid.y * 2u;
  let tn = lid.x * 4u;
  let lse_slot = 2u + sel.which;
  // Row-side constants of this thread's two pair rows.
  var ri_ag: array<f32, 2>;
  var ri_sp: array<f32, 2>;
  var ri_lse: array<f32, 2>;
  var ri_w: array<f32, 2>;
  var ri_coef: array<f32, 2>;
  for (var a: u32 = 0u; a < 2u; a = a + 1u) {
    let i = min(row0 + tm + a, hp.N - 1u);
    ri_ag[a] = aux[i * AUX + 0u];
    ri_sp[a] = aux[i * AUX + 1u];
    ri_lse[a] = aux[i * AUX + lse_slot];
    ri_w[a] = aux[i * AUX + 6u];
    ri_coef[a] = select(0.0, aux[i * AUX + 10u], row0 + tm + a < hp.N);
  }
  // Output ownership: row orow, vec4 columns cg + 8k (k < 16).
  let orow = tid / 8u;
  let cg = tid % 8u;
  let dv = hp.D / 4u;
  var acc: array<vec4<f32>, 16>;
  for (var k: u32 = 0u; k < 16u; k = k + 1u) { acc[k] = vec4<f32>(0.0); }

  for (var col0: u32 = 0u; col0 < hp.N; col0 = col0 + 64u) {
    var tiles: array<array<vec4<f32>, 2>, 3>; // c^ag, c^sp, ⟨y_i, y_j⟩ (one looped call site: quick to compile)
    for (var which: u32 = 0u; which < 3u; which = which + 1u) {
      tiles[which] = dot_tile(which, select(hp.D, hp.Df, which == 0u), row0, col0, tid, tm, tn);
    }
    for (var c: u32 = 0u; c < 4u; c = c + 1u) {
      let j = col0 + tn + c;
      let jj = min(j, hp.N - 1u);
      let rj_ag = aux[jj * AUX + 0u];
      let rj_sp = aux[jj * AUX + 1u];
      let rj_lse = aux[jj * AUX + lse_slot];
      let rj_w = aux[jj * AUX + 6u];
      let rj_coef = aux[jj * AUX + 10u];
      for (var a: u32 = 0u; a < 2u; a = a + 1u) {
        let i = row0 + tm + a;
        var h = 0.0;
        if (i < hp.N && j < hp.N && i != j) {
          let ag = tiles[0][a][c] > min(ri_ag[a], rj_ag);
          let sp = tiles[1][a][c] > min(ri_sp[a], rj_sp);
          let m = select(0.0, 1.0, ag) + hp.lambda * select(0.0, 1.0, sp);
          let l = tiles[2][a][c] * hp.inv_tau;
          if (ri_coef[a] > 0.0) {
            var q = 0.0;
            if (ag || neg_u(i % hp.P, j)) { q = exp(l - ri_lse[a]); }
            h = h + ri_coef[a] * (ri_w[a] * q - m);
          }
          if (rj_coef > 0.0) {
            var q = 0.0;
            if (ag || neg_u(j % hp.P, i)) { q = exp(l - rj_lse); }
            h = h + rj_coef * (rj_w * q - m);
          }
        }
        Hs[(tm + a) * 64u + tn + c] = h * hp.inv_tau;
      }
    }
    // dy_I += H · y_J, four columns of y staged at a time.
    for (var j0: u32 = 0u; j0 < 64u; j0 = j0 + 4u) {
      workgroupBarrier();
      for (var q: u32 = 0u; q < 2u; q = q + 1u) {
        let e = tid + q * 256u;
        let jc = e / 128u;
        let v = e % 128u;
        let j = col0 + j0 + jc;
        var val = vec4<f32>(0.0);
        if (j < hp.N && v < dv) {
          let base = j * hp.D + v * 4u;
          val = vec4<f32>(y[base], y[base + 1u], y[base + 2u], y[base + 3u]);
        }
        Ys[e] = val;
      }
      workgroupBarrier();
      for (var jc: u32 = 0u; jc < 4u; jc = jc + 1u) {
        let h = Hs[orow * 64u + j0 + jc];
        for (var k: u32 = 0u; k < 16u; k = k + 1u) {
          acc[k] = fma(vec4<f32>(h), Ys[jc * 128u + cg + 8u * k], acc[k]);
        }
      }
    }
    workgroupBarrier();
  }
  let i = row0 + orow;
  if (i < hp.N) {
    for (var k: u32 = 0u; k < 16u; k = k + 1u) {
      let v = cg + 8u * k;
      if (v < dv) {
        let base = i * hp.D + v * 4u;
        dy[base] = acc[k].x;
        dy[base + 1u] = acc[k].y;
        dy[base + 2u] = acc[k].z;
        dy[base + 3u] = acc[k].w;
      }
    }
  }
}
