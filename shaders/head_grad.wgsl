// head_grad.wgsl — pieces of the segmentation-head backward that are not GEMMs (hp-method.md §2.2, §5.9):
// the ReLU mask and deterministic column sums (bias gradients) written into the flat gradient buffer.
//
// Entry `relu_backward` (in place): G[i] = H[i] > 0 ? G[i] : 0 for i < n (H = the ReLU output).
//   0 H      read        [n]
//   1 G      read_write  [n]
//   2 params uniform     { n }
//   Workgroup 256, one element per thread, 2-D grid.
// Entry `colsum_partial`: PART[chunk, c] = Σ_{r in chunk} X[r, c] for chunks of ROWS_PER_CHUNK rows.
//   0 X      read        [rows, C]
//   1 PART   read_write  [chunks, C]
//   2 params uniform     { rows, C, chunks, out_off, out_off2 }
//   Workgroup 256 = 64 columns × 4 row lanes; grid (ceil(C/64), chunks).
// Entry `colsum_final`: OUT[out_off + c] (=|+=) Σ_chunk PART[chunk, c]; also at out_off2 when TWO_OUT.
//   0 PART   read        [chunks, C]
//   1 OUT    read_write  flat buffer
//   2 params uniform
//   Workgroup 64 (one column per thread), grid ceil(C/64). Fixed summation order: bitwise repeatable.
// Entry `sum_slices` (split-K weight gradients): OUT[out_off + i] (=|+=) Σ_{s<slices} PART[s·n + i], i < n.
//   0 PART   read        [slices, n]
//   1 OUT    read_write  flat buffer
//   2 params uniform     { rows = n, C = slices, _, out_off }
//   Workgroup 256, one element per thread, 2-D grid.

override ACCUMULATE: bool = false;
override TWO_OUT: bool = false;

const ROWS_PER_CHUNK: u32 = 256u;

struct Params {
  rows: u32, C: u32, chunks: u32, out_off: u32,
  out_off2: u32, _p0: u32, _p1: u32, _p2: u32,
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

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn colsum_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x * 64u + (lid & 63u);
  let lane = lid >> 6u;
  let r0 = wid.y * ROWS_PER_CHUNK;
  let r1 = min(r0 + ROWS_PER_CHUNK, prm.rows);
  var s = 0.0;
  if (col < prm.C) {
    for (var r = r0 + lane; r < r1; r = r + 4u) {
      s = s + A[r * prm.C + col];
    }
  }
  part[lid] = s;
  workgroupBarrier();
  if (lane == 0u && col < prm.C) {
    let l = lid & 63u;
    B[wid.y * prm.C + col] = (part[l] + part[l + 64u]) + (part[l + 128u] + part[l + 192u]);
  }
}

@compute @workgroup_size(64, 1, 1)
fn colsum_final(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col = gid.x;
  if (col >= prm.C) { return; }
  var s = 0.0;
  for (var k: u32 = 0u; k < prm.chunks; k = k + 1u) {
    s = s + A[k * prm.C + col];
  }
  if (ACCUMULATE) {
    B[prm.out_off + col] = B[prm.out_off + col] + s;
    if (TWO_OUT) { B[prm.out_off2 + col] = B[prm.out_off2 + col] + s; }
  } else {
    B[prm.out_off + col] = s;
    if (TWO_OUT) { B[prm.out_off2 + col] = s; }
  }
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
