// loss_sparse_fwd.wgsl — sparse path, forward (hp-method.md §5.3–§5.4), the positives: per anchor row i the
// logits l_ij = ⟨y_i, y_j⟩/τ for y = z and z̃ for j ∈ (P_ag_i ∪ P_sp_i) \ U[r_i,·] \ {i} (read from the bit-planes
// of loss_sparse_mask.wgsl), merged with the random-negative partials of loss_sparse_group_fwd.wgsl (gpart) into
// the same aux slots 2..9 as loss_fwd.wgsl. Together the two cover exactly A_i = P_ag_i ∪ P_sp_i ∪ U[r_i,·],
// the only columns with m_ij ≠ 0 or j ∈ D_i. Cost per row: |P_i \ U_r|·4D FLOPs.
// Bindings: 0 z [N,D] read (vec4), 1 zt [N,D] read, 2 ag_bits, 3 sp_bits, 4 ucsr read, 5 aux rw,
//           6 hp uniform, 7 chunk uniform, 8 gpart [N,12] read. One workgroup of WG threads per row of the
//           chunk; grid1d(rows).
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts hpLossRef
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"
#include "loss_sparse_common.wgsl"

@group(0) @binding(0) var<storage, read> z: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> zt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> ag_bits: array<u32>;
@group(0) @binding(3) var<storage, read> sp_bits: array<u32>;
@group(0) @binding(4) var<storage, read> ucsr: array<u32>;
@group(0) @binding(5) var<storage, read_write> aux: array<f32>;
@group(0) @binding(6) var<uniform> hp: HpParams;
@group(0) @binding(7) var<uniform> chunk: Chunk;
@group(0) @binding(8) var<storage, read> gpart: array<f32>;
var<workgroup> zi: array<vec4<f32>, 128>;
var<workgroup> zti: array<vec4<f32>, 128>;
var<workgroup> red_a: array<vec4<f32>, 128>;
var<workgroup> red_b: array<vec4<f32>, 128>;

fn lse_merge(p: vec2<f32>, q: vec2<f32>) -> vec2<f32> {
  let m = max(p.x, q.x);
  return vec2<f32>(m, p.y * exp(p.x - m) + q.y * exp(q.x - m));
}

@compute @workgroup_size(128, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= chunk.rows) { return; }
  let i = chunk.row_off + g;
  let tid = lid.x;
  let W = (hp.N + 31u) / 32u;
  let dv = hp.D / 4u;
  for (var t: u32 = tid; t < dv; t = t + WG) {
    zi[t] = z[i * dv + t];
    zti[t] = zt[i * dv + t];
  }
  var ms_z = vec2<f32>(NEG, 0.0);
  var ms_zt = vec2<f32>(NEG, 0.0);
  var sums = vec4<f32>(0.0); // S_z, S_z̃, w, n_ag
  var cnts = vec2<f32>(0.0); // n_sp, n_D
  for (var base: u32 = 0u; base < W; base = base + WPR) {
    let n = gather_round(i, base, tid, W, true);
    for (var k: u32 = tid; k < n; k = k + WG) {
      let e = jlist[k];
      let j = e & J_MASK;
      let ag = (e >> 31u) == 1u;
      let sp = ((e >> 30u) & 1u) == 1u;
      var d1 = 0.0;
      var d2 = 0.0;
      for (var t: u32 = 0u; t < dv; t = t + 1u) {
        d1 = d1 + dot(zi[t], z[j * dv + t]);
        d2 = d2 + dot(zti[t], zt[j * dv + t]);
      }
      let l1 = d1 * hp.inv_tau;
      let l2 = d2 * hp.inv_tau;
      let m = select(0.0, 1.0, ag) + hp.lambda * select(0.0, 1.0, sp);
      sums = sums + vec4<f32>(m * l1, m * l2, m, select(0.0, 1.0, ag));
      cnts.x = cnts.x + select(0.0, 1.0, sp);
      if (ag) {
        cnts.y = cnts.y + 1.0;
        ms_z = lse_add(ms_z, l1);
        ms_zt = lse_add(ms_zt, l2);
      }
    }
  }
  // Tree merges over the WG threads (fixed order: deterministic).
  workgroupBarrier();
  red_a[tid] = vec4<f32>(ms_z, ms_zt);
  red_b[tid] = sums;
  workgroupBarrier();
  for (var s: u32 = WG / 2u; s > 0u; s = s >> 1u) {
    if (tid < s) {
      let p = red_a[tid];
      let q = red_a[tid + s];
      red_a[tid] = vec4<f32>(lse_merge(p.xy, q.xy), lse_merge(p.zw, q.zw));
      red_b[tid] = red_b[tid] + red_b[tid + s];
    }
    workgroupBarrier();
  }
  let lse = red_a[0];
  let tot = red_b[0];
  workgroupBarrier();
  red_b[tid] = vec4<f32>(cnts, 0.0, 0.0);
  workgroupBarrier();
  for (var s: u32 = WG / 2u; s > 0u; s = s >> 1u) {
    if (tid < s) { red_b[tid] = red_b[tid] + red_b[tid + s]; }
    workgroupBarrier();
  }
  if (tid == 0u) {
    // Merge with the random negatives of loss_sparse_group_fwd.wgsl.
    let g = i * AUX;
    let lz = lse_merge(lse.xy, vec2<f32>(gpart[g], gpart[g + 1u]));
    let lzt = lse_merge(lse.zw, vec2<f32>(gpart[g + 2u], gpart[g + 3u]));
    aux[i * AUX + 2u] = select(0.0, lz.x + log(lz.y), lz.y > 0.0);
    aux[i * AUX + 3u] = select(0.0, lzt.x + log(lzt.y), lzt.y > 0.0);
    aux[i * AUX + 4u] = tot.x + gpart[g + 4u];
    aux[i * AUX + 5u] = tot.y + gpart[g + 5u];
    aux[i * AUX + 6u] = tot.z + gpart[g + 6u];
    aux[i * AUX + 7u] = tot.w + gpart[g + 7u];
    aux[i * AUX + 8u] = red_b[0].x + gpart[g + 8u];
    aux[i * AUX + 9u] = red_b[0].y + gpart[g + 9u];
  }
}
