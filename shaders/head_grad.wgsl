// head_grad.wgsl — pieces of the segmentation-head backward that are not GEMMs (hp-method.md §2.2, §5.9):
// the ReLU mask and the fixed-order sum of split-K weight-gradient slices into the flat gradient buffer.
// (Bias gradients use the library column sums, shaders/reduce.wgsl.)
//
// Entry `relu_backward` (in place): G[i] = H[i] > 0 ? G[i] : 0 for i < n (H = the ReLU output).
//   0 H      read        [n]
//   1 G      read_write  [n]
//   2 params uniform     { n }
//   Workgroup 256, one element per thread, 2-D grid.
// Entry `sum_slices` (split-K weight gradients): OUT[out_off + i] (=|+=) Σ_{s<slices} PART[s·n + i], i < n.
//   0 PART   read        [slices, n]
//   1 OUT    read_write  flat buffer
//   2 params uniform     { rows = n, C = slices, _, out_off }
//   Workgroup 256, one element per thread, 2-D grid.

override ACCUMULATE: bool = false;

struct Params {
  rows: u32, C: u32, _p0: u32, out_off: u32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> B: array<f32>;
@group(0) @binding(2) var<uniform> prm: Params;

@compute @workgroup_size(256, 1, 1)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= prm.rows) { return; }
  if (!(A[i] > 0.0)) { B[i] = 0.0; }
}

@compute @workgroup_size(256, 1, 1)
fn sum_slices(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= prm.rows) { return; }
  var s = 0.0;
  for (var k: u32 = 0u; k < prm.C; k = k + 1u) {
    s = s + A[k * prm.rows + i];
  }
  if (ACCUMULATE) { s = s + B[prm.out_off + i]; }
  B[prm.out_off + i] = s;
}
