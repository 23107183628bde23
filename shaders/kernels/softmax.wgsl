// softmax.wgsl — row softmax / log-softmax with optional scale and additive mask, f32.
//
// For each row r < rows and column c < cols:
//   v(r,c) = max(scale · X[x_off + r*ldx + c] + mask(r,c), NEG)
//   mask(r,c) = M[m_off + (r / m_group) * m_ld + c]      (HAS_MASK; m_ld = 0 broadcasts one mask row)
//   Y[y_off + r*ldy + c] = exp(v - max_c v) / Σ_c exp(v - max_c v)        (LOG: v - max - log Σ)
// Masking is additive with a large finite negative (core/kernels/common.ts MASK_NEG = -1e30), never -inf:
// WGSL assumes finite math (webgpu-notes.md §2.3). The clamp to NEG keeps v finite whatever the mask holds;
// a fully masked row comes out uniform rather than NaN.
//
// Bindings (group 0):
//   0 X      read        (unused when X_IS_Y: the softmax runs in place on Y)
//   1 Y      read_write
//   2 M      read        additive mask (unused unless HAS_MASK)
//   3 params uniform     struct Params
// Workgroup: WG threads (power of two ≤ 256) per row; one workgroup per row; rows are spread over a 2-D
// grid (core/gpu/pipelines.ts grid1d), row = wid.x + wid.y * num_workgroups.x. reduce_sum and
// reduce_max from include/wg_reduce.wgsl.
//
// wrapper: core/kernels/softmax.ts
// reference: core/kernels/softmax.ts softmaxRef
// test: tests/kernels/softmax_test.ts

#include "wg_reduce.wgsl"

override WG: u32 = 256u;
override HAS_MASK: bool = false;
override LOG: bool = false;
override X_IS_Y: bool = false;

struct Params {
  rows: u32, cols: u32, ldx: u32, ldy: u32,
  x_off: u32, y_off: u32, m_off: u32, m_ld: u32,
  m_group: u32, scale: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<storage, read> M: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const NEG: f32 = -1e30;

fn logit(row: u32, c: u32) -> f32 {
  var x: f32;
  if (X_IS_Y) { x = Y[p.y_off + row * p.ldy + c]; } else { x = X[p.x_off + row * p.ldx + c]; }
  var v = p.scale * x;
  if (HAS_MASK) { v = v + M[p.m_off + (row / p.m_group) * p.m_ld + c]; }
  return max(v, NEG);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  var m = NEG;
  for (var c = lid; c < p.cols; c = c + WG) { m = max(m, logit(row, c)); }
  m = reduce_max(m, lid);
  var s = 0.0;
  for (var c = lid; c < p.cols; c = c + WG) { s = s + exp(logit(row, c) - m); }
  s = reduce_sum(s, lid);
  let inv = 1.0 / s;
  let ls = log(s);
  for (var c = lid; c < p.cols; c = c + WG) {
    let v = logit(row, c) - m;
    var o: f32;
    if (LOG) { o = v - ls; } else { o = exp(v) * inv; }
    Y[p.y_off + row * p.ldy + c] = o;
  }
}
