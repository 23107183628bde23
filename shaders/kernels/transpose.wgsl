// transpose.wgsl — batched 2-D transpose, f32: OUT[b][c][r] = IN[b][r][c].
//
//   IN [in_off + b*in_bs + r*ld_in + c],  r < rows, c < cols
//   OUT[out_off + b*out_bs + c*ld_out + r]
// Workgroup (32, 8): a 32×32 tile staged in workgroup memory with one column of padding (33) so the
// transposed reads do not all hit one bank; each thread moves 4 elements. Grid (⌈cols/32⌉, b_per_z·⌈rows/32⌉,
// ⌈batch/b_per_z⌉): batches are folded into y so no dimension exceeds 65,535 workgroups.
//
// Bindings (group 0): 0 IN read, 1 OUT read_write, 2 params uniform.
//
// wrapper: core/kernels/transpose.ts
// reference: core/kernels/transpose.ts transposeRef
// test: tests/kernels/transpose_test.ts

struct Params {
  rows: u32, cols: u32, ld_in: u32, ld_out: u32,
  in_off: u32, out_off: u32, in_bs: u32, out_bs: u32,
  batch: u32, tiles_y: u32, b_per_z: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> IN: array<f32>;
@group(0) @binding(1) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> tile: array<f32, 1056>; // 32 × 33

@compute @workgroup_size(32, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  // wid.y enumerates (batch within this z slab, row tile): y = b_local·tiles_y + ty.
  let ty = wid.y % p.tiles_y;
  let b = wid.z * p.b_per_z + wid.y / p.tiles_y;
  if (b >= p.batch) { return; }
  let r0 = ty * 32u;
  let c0 = wid.x * 32u;
  for (var k: u32 = 0u; k < 32u; k = k + 8u) {
    let r = r0 + lid.y + k;
    let c = c0 + lid.x;
    if (r < p.rows && c < p.cols) {
      tile[(lid.y + k) * 33u + lid.x] = IN[p.in_off + b * p.in_bs + r * p.ld_in + c];
    }
  }
  workgroupBarrier();
  for (var k: u32 = 0u; k < 32u; k = k + 8u) {
    let c = c0 + lid.y + k; // output row
    let r = r0 + lid.x;     // output column
    if (r < p.rows && c < p.cols) {
      OUT[p.out_off + b * p.out_bs + c * p.ld_out + r] = tile[lid.x * 33u + lid.y + k];
    }
  }
}
