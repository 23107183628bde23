// l2norm.wgsl — row L2 normalisation z = u / max(‖u‖₂, eps) and its backward (hp-method.md §0, §2.4, §5.9).
//
// Entry `forward`:
//   0 X      read        [rows, C] (unused when X_IS_Y: runs in place on Y)
//   1 Y      read_write  [rows, C]  Y = X / max(‖X‖, eps)
//   2 NRM    read_write  [rows]     max(‖X‖, eps) per row (written when WRITE_NORM; kept for the backward)
//   3 params uniform
// Entry `backward` (∂L/∂u from ∂L/∂z, with z = u / n, n = max(‖u‖, eps)):
//   ‖u‖ > eps: ∂L/∂u = (∂L/∂z − z⟨z, ∂L/∂z⟩) / ‖u‖;   otherwise (constant denominator) ∂L/∂u = ∂L/∂z / eps
//   0 Z      read        [rows, C]  the forward output
//   1 G      read_write  [rows, C]  ∂L/∂z in, ∂L/∂u out (in place), or += when ACCUMULATE with DZ given
//   2 NRM    read_write  [rows]     the forward's norms (only read)
//   3 params uniform
//   4 DZ     read        [rows, C]  ∂L/∂z when HAS_DZ (then G is the output)
// Workgroup: 64 threads per row, one workgroup per row, rows on a 2-D grid (row = wid.x + wid.y·num_wg.x).
// The row sums use a fixed tree (include/wg_reduce.wgsl), so results are bitwise repeatable.
//
// wrapper: core/kernels/l2norm.ts
// reference: core/kernels/l2norm.ts l2normalizeRef, l2normalizeBackwardRef
// test: tests/kernels/l2norm_test.ts

#include "wg_reduce.wgsl"

override X_IS_Y: bool = false;
override WRITE_NORM: bool = false;
override HAS_DZ: bool = false;
override ACCUMULATE: bool = false;

struct Params {
  rows: u32, C: u32, eps: f32, _p0: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<storage, read_write> NRM: array<f32>;
@group(0) @binding(3) var<uniform> prm: Params;
@group(0) @binding(4) var<storage, read> DZ: array<f32>;

const WG: u32 = 64u; // threads per row, for wg_reduce.wgsl's reduce_sum

fn load_x(i: u32) -> f32 {
  if (X_IS_Y) { return Y[i]; }
  return X[i];
}

@compute @workgroup_size(64, 1, 1)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= prm.rows) { return; } // uniform per workgroup, so barriers stay uniform
  let base = row * prm.C;
  var ss = 0.0;
  for (var c = lid; c < prm.C; c = c + 64u) {
    let v = load_x(base + c);
    ss = ss + v * v;
  }
  let n = max(sqrt(reduce_sum(ss, lid)), prm.eps);
  for (var c = lid; c < prm.C; c = c + 64u) {
    Y[base + c] = load_x(base + c) / n;
  }
  if (WRITE_NORM && lid == 0u) { NRM[row] = n; }
}

fn load_dz(i: u32) -> f32 {
  if (HAS_DZ) { return DZ[i]; }
  return Y[i];
}

@compute @workgroup_size(64, 1, 1)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= prm.rows) { return; }
  let base = row * prm.C;
  let n = NRM[row];
  var dot = 0.0;
  for (var c = lid; c < prm.C; c = c + 64u) {
    dot = dot + X[base + c] * load_dz(base + c);
  }
  dot = reduce_sum(dot, lid);
  // n == eps means ‖u‖ ≤ eps: the denominator was the constant eps, so no projection term.
  let clamped = n <= prm.eps;
  for (var c = lid; c < prm.C; c = c + 64u) {
    let g = load_dz(base + c);
    var d: f32;
    if (clamped) { d = g / n; } else { d = (g - X[base + c] * dot) / n; }
    if (ACCUMULATE) { d = d + Y[base + c]; }
    Y[base + c] = d;
  }
}
