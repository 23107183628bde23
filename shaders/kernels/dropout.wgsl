// dropout.wgsl — Dropout2d on per-patch rows (hp-method.md §2.6), f32. Masks from include/hash.wgsl.
//
// Rows are patches r < rows with C channels each, image b = r / P (row = b·P + y·S + x). Whole channels are
// dropped per image: channel c of image b is kept ⇔ hash_uniform(seed, b·C + c) ≥ p; kept values are scaled
// by 1/(1−p) (`scale`). Same rule as core/kernels/dropout.ts dropout2dRef, so the CPU reproduces the mask.
//
// Bindings (group 0):
//   0 X      read        [rows, C] (unused when X_IS_Y: runs in place on Y)
//   1 Y      read_write  [rows, C]
//   2 params uniform     struct Params (seed rewritten once per step)
// Workgroup: 256 threads, one element each; workgroups on a 2-D grid (index = wid.x + wid.y·num_wg.x).
//
// wrapper: core/kernels/dropout.ts
// reference: core/kernels/dropout.ts dropout2dRef
// test: tests/kernels/dropout_test.ts

#include "hash.wgsl"

override X_IS_Y: bool = false;

struct Params {
  rows: u32, C: u32, P: u32, seed: u32,
  p: f32, scale: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> prm: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= prm.rows * prm.C) { return; }
  let r = i / prm.C;
  let c = i - r * prm.C;
  let b = r / prm.P;
  var v: f32;
  if (X_IS_Y) { v = Y[i]; } else { v = X[i]; }
  var k = prm.scale;
  if (hash_uniform(prm.seed, b * prm.C + c) < prm.p) { k = 0.0; }
  Y[i] = v * k;
}
