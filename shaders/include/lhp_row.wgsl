// lhp_row.wgsl — not a kernel: the LHP mixing coefficients of one query row (hp-method.md §5.5 steps 1–5),
// shared by model/lhp_weights.wgsl (logits read from an attn [B, P, P] tensor) and vit/attention_lhp.wgsl
// (logits computed from the last block's q and k, so [B, P, P] never exists). Both give the same bits for
// the same logits.
// The including shader declares `WG` (256; also used by wg_reduce.wgsl, included here) and
// `fn row_logit(t: u32) -> f32` (logit t of the current row, unsorted), and fills `v[0..PP)` with the
// row's P logits followed by 3.0e38 padding before calling lhp_row_coef (every thread must call it).
// Steps: bitonic sort of v ascending (PP a power of two ≥ P), lo/hi = Q0.1/Q0.9 with torch.quantile's
// linear interpolation, Ā = clamp(A, lo, hi), π = softmax(Ā) (its max is hi), a = σ·π, threshold at the
// row mean Σa/P (computed, not assumed σ/P), keep the 3×3 window around patch i (row i of an S×S grid)
// clipped at the border, divide by the window size n_i (9/6/4). Returns, for threads 0..8, the
// coefficient of window slot tid = (dy+1)·3 + (dx+1) (0 outside the grid or below the mean).
//
// fragment: one LHP coefficient row (lhp_row_coef)
// test: tests/model/lhp_test.ts, tests/vit/attention_test.ts

#include "wg_reduce.wgsl"

var<workgroup> v: array<f32, 2048>;

// torch.lerp as used by torch.quantile: exact at both ends.
fn lerp_t(a: f32, b: f32, w: f32) -> f32 {
  if (w < 0.5) { return a + w * (b - a); }
  return b - (b - a) * (1.0 - w);
}

fn quantile(q: f32, P: u32) -> f32 {
  let pos = q * f32(P - 1u);
  let lo = u32(floor(pos));
  let hi = u32(ceil(pos));
  return lerp_t(v[lo], v[hi], pos - f32(lo));
}

fn lhp_row_coef(tid: u32, i: u32, S: u32, P: u32, PP: u32, sigma: f32) -> f32 {
  // Bitonic sort, ascending.
  for (var k: u32 = 2u; k <= PP; k = k << 1u) {
    for (var j: u32 = k >> 1u; j > 0u; j = j >> 1u) {
      workgroupBarrier();
      for (var t: u32 = tid; t < PP / 2u; t = t + WG) {
        let a = (t / j) * 2u * j + (t % j);
        let b = a + j;
        let up = (a & k) == 0u;
        let x = v[a];
        let y = v[b];
        if ((x > y) == up) {
          v[a] = y;
          v[b] = x;
        }
      }
    }
  }
  workgroupBarrier();
  let lo = quantile(0.1, P);
  let hi = quantile(0.9, P);
  var part = 0.0;
  for (var t: u32 = tid; t < P; t = t + WG) {
    part = part + exp(clamp(row_logit(t), lo, hi) - hi);
  }
  let denom = reduce_sum(part, tid);
  var part_a = 0.0;
  for (var t: u32 = tid; t < P; t = t + WG) {
    part_a = part_a + sigma * exp(clamp(row_logit(t), lo, hi) - hi) / denom;
  }
  let mean = reduce_sum(part_a, tid) / f32(P);
  var out = 0.0;
  if (tid < 9u) {
    let y = i32(i / S);
    let x = i32(i % S);
    let s = i32(S);
    let ny = min(y + 1, s - 1) - max(y - 1, 0) + 1;
    let nx = min(x + 1, s - 1) - max(x - 1, 0) + 1;
    let yy = y + i32(tid / 3u) - 1;
    let xx = x + i32(tid % 3u) - 1;
    if (yy >= 0 && yy < s && xx >= 0 && xx < s) {
      let a = sigma * exp(clamp(row_logit(u32(yy * s + xx)), lo, hi) - hi) / denom;
      if (a >= mean) { out = a / f32(ny * nx); }
    }
  }
  return out;
}
