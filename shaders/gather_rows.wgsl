// gather_rows.wgsl — Y[y_off + j, :] = X[IDX[idx_off + j], :] for j < count (hp-method.md §4: one patch
// per image picked for the reference pools; the CPU writes absolute row indices b·P + position).
//
// Bindings (group 0):
//   0 X      read        [rows, C]
//   1 IDX    read        u32 row indices
//   2 Y      read_write  [*, C]
//   3 params uniform     { count, C, idx_off, y_off }
// Workgroup 256, one element per thread, 2-D grid.

struct Params {
  count: u32, C: u32, idx_off: u32, y_off: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> IDX: array<u32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> prm: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= prm.count * prm.C) { return; }
  let j = i / prm.C;
  let c = i - j * prm.C;
  Y[(prm.y_off + j) * prm.C + c] = X[IDX[prm.idx_off + j] * prm.C + c];
}
