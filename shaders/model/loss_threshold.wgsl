// loss_threshold.wgsl — anchor thresholds R_i = max_k ⟨x_i, pool_k⟩ (hp-method.md §5.1), fused dot + max:
// the N×K similarity matrix is never stored.
//
// Bindings (group 0):
//   0 x     read        [N, d] row-major (f̂ with Pool_ag, or ŝ̄ with Pool_sp)
//   1 pool  read        [K, d]
//   (variant "f16", hp.mask_precision = f16: x and pool are f16 copies from loss_f16.wgsl; dots in f32)
//   2 out   read_write  R_i written at out[i*out_stride + out_off] (the HP aux tensor, slot 0 or 1)
//   3 p     uniform
// Workgroup: 16×16 threads on a 128-row tile, streaming 128-entry pool tiles through the register-blocked
// 8×8-per-thread Gram tile of include/gram128.wgsl (2·N·K·d FLOPs); running max per row in registers, the
// 16 lanes of a row merged in workgroup memory at the end.
// Grid: ceil(N/128) workgroups, linearised as wid.x + wid.y·num_workgroups.x (grid1d).
//
// wrapper: core/model/loss.ts
// reference: core/model/loss_ref.ts thresholdsRef
// test: tests/model/loss_test.ts

#include "gram128.wgsl"

struct Params { N: u32, K: u32, d: u32, out_stride: u32, out_off: u32, _p0: u32, _p1: u32, _p2: u32, }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> pool: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const NEG: f32 = -3.0e38;
var<workgroup> lanes: array<f32, 1024>; // [row 128][lane 8]

fn load_a(which: u32, row: u32, k: u32) -> f32 {
  if (row >= p.N || k >= p.d) { return 0.0; }
  return f32(x[row * p.d + k]);
}

fn load_b(which: u32, row: u32, k: u32) -> f32 {
  if (row >= p.K || k >= p.d) { return 0.0; }
  return f32(pool[row * p.d + k]);
}

// Max over this thread's 8 columns of one block row (columns past K excluded).
fn row_max(l: vec4<f32>, h: vec4<f32>, vl: vec4<bool>, vh: vec4<bool>) -> f32 {
  let neg = vec4<f32>(NEG);
  let m = max(select(neg, l, vl), select(neg, h, vh));
  return max(max(m.x, m.y), max(m.z, m.w));
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = (wid.x + wid.y * nwg.x) * 128u;
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 16u + tx;
  var best_l = vec4<f32>(NEG); // block rows 0..3
  var best_h = vec4<f32>(NEG); // block rows 4..7
  for (var col0: u32 = 0u; col0 < p.K; col0 = col0 + 128u) {
    let t = gram128(0u, p.d, row0, col0, tid, tx, ty);
    let cl = col0 + 4u * tx;
    let ch = col0 + 64u + 4u * tx;
    let vl = vec4<bool>(cl < p.K, cl + 1u < p.K, cl + 2u < p.K, cl + 3u < p.K);
    let vh = vec4<bool>(ch < p.K, ch + 1u < p.K, ch + 2u < p.K, ch + 3u < p.K);
    best_l = max(best_l, vec4<f32>(row_max(t.r0l, t.r0h, vl, vh), row_max(t.r1l, t.r1h, vl, vh),
                                   row_max(t.r2l, t.r2h, vl, vh), row_max(t.r3l, t.r3h, vl, vh)));
    best_h = max(best_h, vec4<f32>(row_max(t.r4l, t.r4h, vl, vh), row_max(t.r5l, t.r5h, vl, vh),
                                   row_max(t.r6l, t.r6h, vl, vh), row_max(t.r7l, t.r7h, vl, vh)));
  }
  // Merge the 16 lanes of each row: lanes 0..7 store, lanes 8..15 fold in, then one thread per row.
  let lane = tx % 8u;
  for (var half: u32 = 0u; half < 2u; half = half + 1u) {
    if ((tx / 8u) == half) {
      let b = 4u * ty;
      let rows_l = vec4<u32>(b, b + 1u, b + 2u, b + 3u) * 8u + lane;
      let rows_h = (vec4<u32>(b, b + 1u, b + 2u, b + 3u) + 64u) * 8u + lane;
      if (half == 0u) {
        lanes[rows_l.x] = best_l.x; lanes[rows_l.y] = best_l.y; lanes[rows_l.z] = best_l.z; lanes[rows_l.w] = best_l.w;
        lanes[rows_h.x] = best_h.x; lanes[rows_h.y] = best_h.y; lanes[rows_h.z] = best_h.z; lanes[rows_h.w] = best_h.w;
      } else {
        lanes[rows_l.x] = max(lanes[rows_l.x], best_l.x); lanes[rows_l.y] = max(lanes[rows_l.y], best_l.y);
        lanes[rows_l.z] = max(lanes[rows_l.z], best_l.z); lanes[rows_l.w] = max(lanes[rows_l.w], best_l.w);
        lanes[rows_h.x] = max(lanes[rows_h.x], best_h.x); lanes[rows_h.y] = max(lanes[rows_h.y], best_h.y);
        lanes[rows_h.z] = max(lanes[rows_h.z], best_h.z); lanes[rows_h.w] = max(lanes[rows_h.w], best_h.w);
      }
    }
    workgroupBarrier();
  }
  if (tid < 128u) {
    var r = NEG;
    for (var l: u32 = 0u; l < 8u; l = l + 1u) { r = max(r, lanes[tid * 8u + l]); }
    let row = row0 + tid;
    if (row < p.N) { out[row * p.out_stride + p.out_off] = r; }
  }
}
