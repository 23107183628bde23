// reg.wgsl — consistency regulariser (hp-method.md §5.6): L_reg = (1/N) Σ_i ‖z_i − za_i + ε‖₂, ε = 1e-6,
// with dL/dz_i = scale·d_i/(N‖d_i‖) and dL/dza_i = −dL/dz_i (scale = α; rows with ‖d_i‖ = 0 get 0).
// Entry `rows`: one workgroup of 64 threads per row → norms[i] and the gradients (ACCUMULATE_DZ /
// ACCUMULATE_DZA add into dz / dza instead of overwriting);
// the row sum is wg_reduce.wgsl's reduce_sum (include/wg_reduce.wgsl).
// The mean of the norms (L_reg, unscaled) is the library row reduction (core/kernels/reduce.ts).
// Bindings: 0 z [N,D] read, 1 za [N,D] read, 2 dz [N,D] rw, 3 dza [N,D] rw, 4 norms [N] rw, 5 p uniform.
//
// wrapper: core/model/reg.ts
// reference: core/model/loss_ref.ts consistencyRegRef
// test: tests/model/reg_test.ts

#include "wg_reduce.wgsl"

override ACCUMULATE_DZ: bool = false;
override ACCUMULATE_DZA: bool = false;

struct Params { N: u32, D: u32, scale: f32, eps: f32, }

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> za: array<f32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;
@group(0) @binding(3) var<storage, read_write> dza: array<f32>;
@group(0) @binding(4) var<storage, read_write> norms: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const WG: u32 = 64u; // threads per row, for wg_reduce.wgsl's reduce_sum

@compute @workgroup_size(64, 1, 1)
fn rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wid.x + wid.y * nwg.x;
  if (i >= p.N) { return; }
  let tid = lid.x;
  var s = 0.0;
  for (var t: u32 = tid; t < p.D; t = t + 64u) {
    let d = z[i * p.D + t] - za[i * p.D + t] + p.eps;
    s = s + d * d;
  }
  let n = sqrt(reduce_sum(s, tid));
  if (tid == 0u) { norms[i] = n; }
  let g = select(0.0, p.scale / (f32(p.N) * n), n > 0.0);
  for (var t: u32 = tid; t < p.D; t = t + 64u) {
    let idx = i * p.D + t;
    let v = g * (z[idx] - za[idx] + p.eps);
    dz[idx] = select(0.0, dz[idx], ACCUMULATE_DZ) + v;
    dza[idx] = select(0.0, dza[idx], ACCUMULATE_DZA) - v;
  }
}
