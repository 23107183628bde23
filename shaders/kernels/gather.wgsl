// gather.wgsl — gather and scatter rows by index, f32 rows of width cols, i32 indices.
//
// Entry `gather`:  OUT[o_off + i*ldo + c] = SRC[s_off + IDX[i]*lds + c]  for i < n, c < cols;
//                  rows whose index is outside [0, src_rows) are filled with 0 (padding).
// Entry `scatter`: OUT[o_off + IDX[i]*ldo + c] = SRC[s_off + i*lds + c]  (+= when ACCUMULATE);
//                  rows whose index is outside [0, out_rows) are skipped. Indices must be distinct:
//                  duplicates race (no atomics; a deterministic scatter-add needs a sorted segment sum).
// One thread per element, 256 per workgroup, linear i·cols + c over a 2-D grid.
//
// Bindings (group 0): 0 SRC read, 1 IDX read (i32), 2 OUT read_write, 3 params uniform.
//
// wrapper: core/kernels/gather.ts
// reference: core/kernels/gather.ts gatherRowsRef, scatterRowsRef
// test: tests/kernels/gather_test.ts

override ACCUMULATE: bool = false;

struct Params {
  n: u32, cols: u32, lds: u32, ldo: u32,
  s_off: u32, o_off: u32, idx_off: u32, bound: u32,
}

@group(0) @binding(0) var<storage, read> SRC: array<f32>;
@group(0) @binding(1) var<storage, read> IDX: array<i32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  let e = gid.x + gid.y * nwg.x * 256u;
  let i = e / max(p.cols, 1u);
  return vec2<u32>(i, e - i * p.cols);
}

@compute @workgroup_size(256)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let ic = element(gid, nwg);
  if (ic.x >= p.n) { return; }
  let j = IDX[p.idx_off + ic.x];
  var v = 0.0;
  if (j >= 0 && u32(j) < p.bound) { v = SRC[p.s_off + u32(j) * p.lds + ic.y]; }
  OUT[p.o_off + ic.x * p.ldo + ic.y] = v;
}

@compute @workgroup_size(256)
fn scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let ic = element(gid, nwg);
  if (ic.x >= p.n) { return; }
  let j = IDX[p.idx_off + ic.x];
  if (j < 0 || u32(j) >= p.bound) { return; }
  let o = p.o_off + u32(j) * p.ldo + ic.y;
  var v = SRC[p.s_off + ic.x * p.lds + ic.y];
  if (ACCUMULATE) { v = v + OUT[o]; }
  OUT[o] = v;
}
