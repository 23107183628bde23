// loss_sparse_bwd.wgsl — sparse path, backward (hp-method.md §5.9) for y = z (chunk.which = 0) or z̃ (1):
//   dy_i = (1/τ) Σ_j (G_ij + G_ji) y_j, visiting only the j where a term can be non-zero:
//   round A: j ∈ A_i = P_ag_i ∪ P_sp_i ∪ U[r_i,·] \ {i}: G_ij in full, and G_ji with i ∈ D_j ⇔ ag_ij ∨ U[r_j, i];
//   round C: j = b·P + r for every grid position r with U[r, i] = 1 (so i ∈ D_j), j ∉ A_i ∪ {i}: only
//            G_ji = coef_j·w_j·exp(l_ij − lse_j) (m_ji = 0 there).
// Phase 1 (thread per candidate) computes the logit and H_ij into hlist; phase 2 (thread per vec4 of D)
// accumulates H·y_j with coalesced row reads, in list order (deterministic, no atomics).
// Cost per row ≈ (|A_i| + ρ·P·B)·4D FLOPs.
// Bindings: 0 y [N,D] read (vec4), 1 ag_bits, 2 sp_bits, 3 u_bits read, 4 aux read, 5 dy [N,D] rw (vec4),
//           6 hp uniform, 7 chunk uniform (which y, row range). One workgroup of WG threads per row of the
//           chunk; grid1d(rows). D ≤ 4·WG.
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts hpLossRef (gradients)
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"
#include "loss_sparse_common.wgsl"

@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ag_bits: array<u32>;
@group(0) @binding(2) var<storage, read> sp_bits: array<u32>;
@group(0) @binding(3) var<storage, read> u_bits: array<u32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> dy: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> hp: HpParams;
@group(0) @binding(7) var<uniform> chunk: Chunk;

var<workgroup> yi: array<vec4<f32>, 128>;
var<workgroup> hlist: array<f32, 2048>;

fn logit(j: u32, dv: u32) -> f32 {
  var d = 0.0;
  for (var t: u32 = 0u; t < dv; t = t + 1u) { d = d + dot(yi[t], y[j * dv + t]); }
  return d * hp.inv_tau;
}

// Phase 2: acc += Σ_k hlist[k]·y_{jlist[k]} for this thread's vec4 column t.
fn accumulate(acc: vec4<f32>, n: u32, t: u32, dv: u32) -> vec4<f32> {
  var a = acc;
  if (t < dv) {
    for (var k: u32 = 0u; k < n; k = k + 1u) {
      let h = hlist[k];
      if (h != 0.0) { a = fma(vec4<f32>(h), y[(jlist[k] & J_MASK) * dv + t], a); }
    }
  }
  return a;
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
  let lse_slot = 2u + chunk.which;
  let r_i = i % hp.P;
  let lse_i = aux[i * AUX + lse_slot];
  let w_i = aux[i * AUX + 6u];
  let coef_i = aux[i * AUX + 10u];
  for (var t: u32 = tid; t < dv; t = t + WG) { yi[t] = y[i * dv + t]; }
  var acc = vec4<f32>(0.0);
  // Round A: the anchor's own candidate set.
  for (var base: u32 = 0u; base < W; base = base + WPR) {
    let n = gather_round(i, base, tid, W);
    for (var k: u32 = tid; k < n; k = k + WG) {
      let e = jlist[k];
      let j = e & J_MASK;
      let ag = (e >> 31u) == 1u;
      let sp = ((e >> 30u) & 1u) == 1u;
      let u = ((e >> 29u) & 1u) == 1u;
      let m = select(0.0, 1.0, ag) + hp.lambda * select(0.0, 1.0, sp);
      let l = logit(j, dv);
      var h = 0.0;
      if (coef_i > 0.0) {
        let q = select(0.0, exp(l - lse_i), ag || u);
        h = h + coef_i * (w_i * q - m);
      }
      let coef_j = aux[j * AUX + 10u];
      if (coef_j > 0.0) {
        let in_dj = ag || neg_u(j % hp.P, i);
        let q = select(0.0, exp(l - aux[j * AUX + lse_slot]), in_dj);
        h = h + coef_j * (aux[j * AUX + 6u] * q - m);
      }
      hlist[k] = h * hp.inv_tau;
    }
    workgroupBarrier();
    acc = accumulate(acc, n, tid, dv);
  }
  // Round C: anchors j at grid positions r with U[r, i] = 1 see i in their denominator.
  let rpr = min(WPR, CAP / hp.B); // positions per round
  for (var base: u32 = 0u; base < hp.P; base = base + rpr) {
    workgroupBarrier();
    let rr = base + tid;
    if (tid < rpr) {
      var c = 0u;
      if (rr < hp.P && ((u_bits[rr * W + i / 32u] >> (i % 32u)) & 1u) == 1u) { c = hp.B; }
      cnt[tid] = c;
    }
    workgroupBarrier();
    if (tid == 0u) { scan_counts(rpr); }
    workgroupBarrier();
    if (tid < rpr && rr < hp.P && ((u_bits[rr * W + i / 32u] >> (i % 32u)) & 1u) == 1u) {
      let off = cnt[tid];
      for (var b: u32 = 0u; b < hp.B; b = b + 1u) { jlist[off + b] = b * hp.P + rr; }
    }
    let n = workgroupUniformLoad(&total);
    for (var k: u32 = tid; k < n; k = k + WG) {
      let j = jlist[k];
      var h = 0.0;
      let wj = j / 32u;
      let bit = (j % 32u);
      let rb = (i - chunk.row_off) * W + wj;
      let in_a = ((ag_bits[rb] | sp_bits[rb] | u_bits[r_i * W + wj]) >> bit) & 1u;
      let coef_j = aux[j * AUX + 10u];
      if (j != i && in_a == 0u && coef_j > 0.0) {
        let l = logit(j, dv);
        h = coef_j * aux[j * AUX + 6u] * exp(l - aux[j * AUX + lse_slot]);
      }
      hlist[k] = h * hp.inv_tau;
    }
    workgroupBarrier();
    acc = accumulate(acc, n, tid, dv);
  }
  if (tid < dv) { dy[i * dv + tid] = acc; }
}
