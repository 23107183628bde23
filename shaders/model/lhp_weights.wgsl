// lhp_weights.wgsl — LHP mixing coefficients from attention logits (hp-method.md §5.5 steps 1–5).
// One workgroup (256 threads) per query row (b, i):
//   sort the P logits (bitonic, in workgroup memory, padded to PP = next power of two ≥ P),
//   lo/hi = Q0.1/Q0.9 with torch.quantile's linear interpolation, Ā = clamp(A, lo, hi),
//   π = softmax(Ā) (its max is hi), a = σ·π, threshold at the row mean Σa/P (computed, not assumed σ/P),
//   keep the 3×3 window around i clipped at the border, divide by the window size n_i (9/6/4).
// Bindings: 0 attn [B, P, P] read (row = query), 1 coef [N, 9] read_write (slot (dy+1)·3 + (dx+1);
//           0 outside the grid or below the mean), 2 p uniform.
// Grid: B·P workgroups (grid1d). P ≤ 2048. The row computation is include/lhp_row.wgsl.
//
// wrapper: core/model/lhp.ts
// reference: core/model/loss_ref.ts lhpWeightsRef
// test: tests/model/lhp_test.ts

#include "lhp_row.wgsl"

struct Params { B: u32, S: u32, P: u32, PP: u32, sigma: f32, row_off: u32, _p1: u32, _p2: u32, }

@group(0) @binding(0) var<storage, read> attn: array<f32>;
@group(0) @binding(1) var<storage, read_write> coef: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u; // for lhp_row.wgsl and wg_reduce.wgsl
var<private> row_base: u32;

fn row_logit(t: u32) -> f32 { return attn[row_base + t]; }

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x; // b·P + i
  if (row >= p.B * p.P) { return; }
  let tid = lid.x;
  row_base = row * p.P;
  for (var t: u32 = tid; t < p.PP; t = t + 256u) {
    v[t] = select(3.0e38, attn[row_base + t], t < p.P);
  }
  let c = lhp_row_coef(tid, row % p.P, p.S, p.P, p.PP, p.sigma);
  if (tid < 9u) { coef[(p.row_off + row) * 9u + tid] = c; }
}
