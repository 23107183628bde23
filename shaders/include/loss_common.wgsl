// loss_common.wgsl — not a kernel: the parameter block, aux-tensor layout and small helpers (neg_u, lse_add)
// shared by the HP loss kernels (model/loss_*.wgsl, wrapped by core/model/loss.ts and loss_sparse.ts), which
// include hash.wgsl and then this file.
//
// aux [N, 12] f32 per anchor row i (written by the threshold, forward and reduce kernels):
//   0 R_ag   1 R_sp   2 lse_z   3 lse_z̃   4 S_z = Σ_j m_ij l_ij(z)   5 S_z̃   6 w_i = Σ_j m_ij
//   7 |P_ag_i|   8 |P_sp_i|   9 |D_i|   10 coef_i = kept_i·(τ/τ_b)/(2B·M_b)   11 unused
// The Bernoulli negatives are never stored: U[r, j] = hash_uniform(seed, r·N + j) < ρ (§5.3).
//
// fragment: the HP loss's parameter block, aux layout and helpers (neg_u, lse_add)
// reference: core/model/loss_ref.ts
// test: tests/model/loss_test.ts

struct HpParams {
  N: u32, P: u32, B: u32, Df: u32,
  D: u32, seed: u32, lambda: f32, rho: f32,
  inv_tau: f32, scale: f32, _p0: u32, _p1: u32,
}

// The sparse path's per-dispatch block: y = z (which 0) or z̃ (1); bit-planes may be split into row chunks
// (binding-size limit), a dispatch covering rows [row_off, row_off + rows) whose planes hold only those rows;
// cap = slots of the contrast-partials buffer (loss_sparse_group_bwd.wgsl) per anchor tile.
struct Chunk { which: u32, row_off: u32, rows: u32, cap: u32, }

const AUX: u32 = 12u;
const NEG: f32 = -3.0e38;

// Bernoulli negative: is column j in the random row of grid position r?
fn neg_u(r: u32, j: u32) -> bool {
  return hash_uniform(hp.seed, r * hp.N + j) < hp.rho;
}

// Online log-sum-exp: adds exp(l) to the running (max, scaled sum) pair.
fn lse_add(ms: vec2<f32>, l: f32) -> vec2<f32> {
  if (l > ms.x) { return vec2<f32>(l, ms.y * exp(ms.x - l) + 1.0); }
  return vec2<f32>(ms.x, ms.y + exp(l - ms.x));
}
