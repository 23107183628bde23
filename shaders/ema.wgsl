// ema.wgsl — momentum update of the EMA head over its flat buffer (hp-method.md §2.3):
// XI[i] = m·XI[i] + (1−m)·THETA[i] for i < n.
//
// Bindings (group 0):
//   0 THETA  read        [n] segmentation-head parameters θ (before this iteration's optimiser step)
//   1 XI     read_write  [n] EMA parameters ξ
//   2 params uniform     { n, m, 1−m }
// Workgroup 256, one element per thread, 2-D grid (index = (wid.x + wid.y·num_wg.x)·256 + lid).

struct Params {
  n: u32, m: f32, one_minus_m: f32, _p0: u32,
}

@group(0) @binding(0) var<storage, read> THETA: array<f32>;
@group(0) @binding(1) var<storage, read_write> XI: array<f32>;
@group(0) @binding(2) var<uniform> prm: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= prm.n) { return; }
  XI[i] = XI[i] * prm.m + THETA[i] * prm.one_minus_m;
}
