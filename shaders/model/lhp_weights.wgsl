// lhp_weights.wgsl — LHP mixing coefficients from attention logits (hp-method.md §5.5 steps 1–5).
// One workgroup (256 threads) per query row (b, i):
//   sort the P logits (bitonic, in workgroup memory, padded to PP = next power of two ≥ P),
//   lo/hi = Q0.1/Q0.9 with torch.quantile's linear interpolation, Ā = clamp(A, lo, hi),
//   π = softmax(Ā) (its max is hi), a = σ·π, threshold at the row mean Σa/P (computed, not assumed σ/P),
//   keep the 3×3 window around i clipped at the border, divide by the window size n_i (9/6/4).
// Bindings: 0 attn [B, P, P] read (row = query), 1 coef [N, 9] read_write (slot (dy+1)·3 + (dx+1);
//           0 outside the grid or below the mean), 2 p uniform.
// Grid: B·P workgroups (grid1d). P ≤ 2048. reduce_sum from include/wg_reduce.wgsl.
//
// wrapper: core/model/lhp.ts
// reference: core/model/loss_ref.ts lhpWeightsRef
// test: tests/model/lhp_test.ts

#include "wg_reduce.wgsl"

struct Params { B: u32, S: u32, P: u32, PP: u32, sigma: f32, row_off: u32, _p1: u32, _p2: u32, }

@group(0) @binding(0) var<storage, read> attn: array<f32>;
@group(0) @binding(1) var<storage, read_write> coef: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> v: array<f32, 2048>;
const WG: u32 = 256u; // for wg_reduce.wgsl's reduce_sum

// torch.lerp as used by torch.quantile: exact at both ends.
fn lerp_t(a: f32, b: f32, w: f32) -> f32 {
  if (w < 0.5) { return a + w * (b - a); }
  return b - (b - a) * (1.0 - w);
}

fn quantile(q: f32) -> f32 {
  let pos = q * f32(p.P - 1u);
  let lo = u32(floor(pos));
  let hi = u32(ceil(pos));
  return lerp_t(v[lo], v[hi], pos - f32(lo));
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x; // b·P + i
  if (row >= p.B * p.P) { return; }
  let tid = lid.x;
  let base = row * p.P;
  for (var t: u32 = tid; t < p.PP; t = t + 256u) {
    v[t] = select(3.0e38, attn[base + t], t < p.P);
  }
  // Bitonic sort, ascending.
  for (var k: u32 = 2u; k <= p.PP; k = k << 1u) {
    for (var j: u32 = k >> 1u; j > 0u; j = j >> 1u) {
      workgroupBarrier();
      for (var t: u32 = tid; t < p.PP / 2u; t = t + 256u) {
        let i = (t / j) * 2u * j + (t % j);
        let l = i + j;
        let up = (i & k) == 0u;
        let x = v[i];
        let y = v[l];
        if ((x > y) == up) {
          v[i] = y;
          v[l] = x;
        }
      }
    }
  }
  workgroupBarrier();
  let lo = quantile(0.1);
  let hi = quantile(0.9);
  var part = 0.0;
  for (var t: u32 = tid; t < p.P; t = t + 256u) {
    part = part + exp(clamp(attn[base + t], lo, hi) - hi);
  }
  let denom = reduce_sum(part, tid);
  var part_a = 0.0;
  for (var t: u32 = tid; t < p.P; t = t + 256u) {
    part_a = part_a + p.sigma * exp(clamp(attn[base + t], lo, hi) - hi) / denom;
  }
  let mean = reduce_sum(part_a, tid) / f32(p.P);
  if (tid < 9u) {
    let i = row % p.P;
    let y = i32(i / p.S);
    let x = i32(i % p.S);
    let s = i32(p.S);
    let ny = min(y + 1, s - 1) - max(y - 1, 0) + 1;
    let nx = min(x + 1, s - 1) - max(x - 1, 0) + 1;
    let yy = y + i32(tid / 3u) - 1;
    let xx = x + i32(tid % 3u) - 1;
    var out = 0.0;
    if (yy >= 0 && yy < s && xx >= 0 && xx < s) {
      let a = p.sigma * exp(clamp(attn[base + u32(yy * s + xx)], lo, hi) - hi) / denom;
      if (a >= mean) { out = a / f32(ny * nx); }
    }
    coef[(p.row_off + row) * 9u + tid] = out;
  }
}
