// layernorm.wgsl — row layernorm: y = (x − mean) · rsqrt(var + eps) · w + b over each row of width C.
// Arithmetic and statistics in f32; Y is stored as YT, f32 or f16 (core/kernels/layernorm.ts sets the
// alias line and puts `enable f16;` in front of line 1: the ViT's f16 precision stores LN outputs as f16).
//
// For each row r < rows:  x(c) = X[x_off + (r / group)*ldgx + (r % group)*ldx + c], c < cols
//   (group = rows, ldgx = 0 unless rows come in groups, e.g. the patch rows of each image in the ViT's
//   token matrix, with CLS and register rows between the groups)
//   mean = Σ x / C,  var = Σ (x − mean)² / C   (two-pass: the biased variance, as torch.nn.LayerNorm)
//   Y[y_off + r*ldy + c] = (x(c) − mean) · rstd · W[c] + Bias[c]       (W when HAS_W, Bias when HAS_B)
//   STATS[2r] = mean, STATS[2r+1] = rstd                               (HAS_STATS, for a backward pass)
//
// Bindings (group 0):
//   0 X      read        (unused when X_IS_Y: normalises Y in place)
//   1 Y      read_write
//   2 W      read        [C]
//   3 Bias   read        [C]
//   4 STATS  read_write  [rows, 2]
//   5 params uniform     struct Params
// Workgroup: WG threads (power of two ≤ 256) per row; one workgroup per row over a 2-D grid
// (grid1d), row = wid.x + wid.y * num_workgroups.x. reduce_sum from include/wg_reduce.wgsl.
//
// wrapper: core/kernels/layernorm.ts
// reference: core/kernels/layernorm.ts layerNormRef
// test: tests/kernels/layernorm_test.ts

#include "wg_reduce.wgsl"

override WG: u32 = 256u;
override HAS_W: bool = false;
override HAS_B: bool = false;
override HAS_STATS: bool = false;
override X_IS_Y: bool = false;

struct Params {
  rows: u32, cols: u32, ldx: u32, ldy: u32,
  x_off: u32, y_off: u32, eps: f32, group: u32,
  ldgx: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
alias YT = f32;
@group(0) @binding(1) var<storage, read_write> Y: array<YT>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read> Bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> STATS: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn load(row: u32, c: u32) -> f32 {
  if (X_IS_Y) { return f32(Y[p.y_off + row * p.ldy + c]); }
  return X[p.x_off + (row / p.group) * p.ldgx + (row % p.group) * p.ldx + c];
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let n = f32(p.cols);
  var s = 0.0;
  for (var c = lid; c < p.cols; c = c + WG) { s = s + load(row, c); }
  let mean = reduce_sum(s, lid) / n;
  var q = 0.0;
  for (var c = lid; c < p.cols; c = c + WG) {
    let d = load(row, c) - mean;
    q = q + d * d;
  }
  let variance = reduce_sum(q, lid) / n;
  let rstd = inverseSqrt(variance + p.eps);
  for (var c = lid; c < p.cols; c = c + WG) {
    var y = (load(row, c) - mean) * rstd;
    if (HAS_W) { y = y * W[c]; }
    if (HAS_B) { y = y + Bias[c]; }
    Y[p.y_off + row * p.ldy + c] = YT(y);
  }
  if (HAS_STATS && lid == 0u) {
    STATS[2u * row] = mean;
    STATS[2u * row + 1u] = rstd;
  }
}
