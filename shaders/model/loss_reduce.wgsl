// loss_reduce.wgsl — pass 2 of the HP loss: the per-image normalisers and the scalar losses
// (hp-method.md §5.4, §5.7). One workgroup of 256 threads; sums run in a fixed order (deterministic).
//
//   M_b = Σ_{i∈K_b} w_i,  L_b(y) = −(τ/τ_b)·Σ_{i∈K_b} (S_i(y) − w_i·lse_i(y)) / M_b  (0 when K_b is empty),
//   coef_i = kept_i·(τ/τ_b)/(2B·M_b) → aux slot 10, read by the backward pass.
// Bindings: 0 aux [N,12] read_write, 1 stats [16] read_write, 2 hp uniform.
// stats: 0 loss_ghp = Σ_b L_b(z)/(2B), 1 loss_lhp = Σ_b L_b(z̃)/(2B), 2 loss_hp = 0 + 1,
//        3 mean |P_ag_i| over all N anchors, 4 mean |P_sp_i|, 5 kept anchors, 6 mean |D_i|,
//        7 images with an empty K_b, 8 λ used, 9..15 zero.
//
// wrapper: core/model/loss.ts
// reference: core/model/loss_ref.ts hpLossRef
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"

@group(0) @binding(0) var<storage, read_write> aux: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<uniform> hp: HpParams;

var<workgroup> red: array<vec4<f32>, 256>;

fn tree(v: vec4<f32>, tid: u32) -> vec4<f32> {
  workgroupBarrier();
  red[tid] = v;
  workgroupBarrier();
  for (var s: u32 = 128u; s > 0u; s = s >> 1u) {
    if (tid < s) { red[tid] = red[tid] + red[tid + s]; }
    workgroupBarrier();
  }
  return red[0];
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.x;
  var loss_z = 0.0;
  var loss_zt = 0.0;
  var empty = 0.0;
  var counts = vec4<f32>(0.0); // n_ag, n_sp, kept, n_D
  for (var b: u32 = 0u; b < hp.B; b = b + 1u) {
    var part = vec4<f32>(0.0); // M_b, num_z, num_zt, -
    for (var r: u32 = tid; r < hp.P; r = r + 256u) {
      let i = b * hp.P + r;
      let w = aux[i * AUX + 6u];
      let na = aux[i * AUX + 7u];
      counts = counts + vec4<f32>(na, aux[i * AUX + 8u], select(0.0, 1.0, na > 0.0), aux[i * AUX + 9u]);
      if (na > 0.0) {
        part = part + vec4<f32>(w, aux[i * AUX + 4u] - w * aux[i * AUX + 2u], aux[i * AUX + 5u] - w * aux[i * AUX + 3u], 0.0);
      }
    }
    let tot = tree(part, tid);
    let mb = tot.x;
    var coef = 0.0;
    if (mb > 0.0) {
      coef = hp.scale / (2.0 * f32(hp.B) * mb);
      loss_z = loss_z - hp.scale * tot.y / mb;
      loss_zt = loss_zt - hp.scale * tot.z / mb;
    } else {
      empty = empty + 1.0;
    }
    for (var r: u32 = tid; r < hp.P; r = r + 256u) {
      let i = b * hp.P + r;
      aux[i * AUX + 10u] = select(0.0, coef, aux[i * AUX + 7u] > 0.0);
    }
  }
  let c = tree(counts, tid);
  if (tid == 0u) {
    let nb = 2.0 * f32(hp.B);
    let n = f32(hp.N);
    stats[0] = loss_z / nb;
    stats[1] = loss_zt / nb;
    stats[2] = (loss_z + loss_zt) / nb;
    stats[3] = c.x / n;
    stats[4] = c.y / n;
    stats[5] = c.z;
    stats[6] = c.w / n;
    stats[7] = empty;
    stats[8] = hp.lambda;
    for (var k: u32 = 9u; k < 16u; k = k + 1u) { stats[k] = 0.0; }
  }
}
