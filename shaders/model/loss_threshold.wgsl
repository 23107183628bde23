// loss_threshold.wgsl — anchor thresholds R_i = max_k ⟨x_i, pool_k⟩ (hp-method.md §5.1), fused dot + max:
// the N×K similarity matrix is never stored.
//
// Bindings (group 0):
//   0 x     read        [N, d] row-major (f̂ with Pool_ag, or ŝ̄ with Pool_sp)
//   1 pool  read        [K, d]
//   2 out   read_write  R_i written at out[i*out_stride + out_off] (the HP aux tensor, slot 0 or 1)
//   3 p     uniform
// Workgroup: 16×16 threads, 64 rows × 64 pool entries per tile, K-step 16, 4×4 dots per thread (the GEMM
// recipe of gemm.wgsl), running max per row in registers; 16 lanes per row merged in workgroup memory.
// Grid: ceil(N/64) workgroups, linearised as wid.x + wid.y·num_workgroups.x (grid1d).
//
// wrapper: core/model/loss.ts
// reference: core/model/loss_ref.ts thresholdsRef
// test: tests/model/loss_test.ts

struct Params { N: u32, K: u32, d: u32, out_stride: u32, out_off: u32, _p0: u32, _p1: u32, _p2: u32, }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> pool: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const NEG: f32 = -3.0e38;
var<workgroup> As: array<f32, 1024>; // [16 k][64 rows]
var<workgroup> Bs: array<f32, 1024>; // [16 k][64 pool entries]

fn load_x(row: u32, k: u32) -> f32 {
  if (row >= p.N || k >= p.d) { return 0.0; }
  return x[row * p.d + k];
}

fn load_pool(row: u32, k: u32) -> f32 {
  if (row >= p.K || k >= p.d) { return 0.0; }
  return pool[row * p.d + k];
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = (wid.x + wid.y * nwg.x) * 64u;
  let tid = lid.y * 16u + lid.x;
  let tm = lid.y * 4u;
  let tn = lid.x * 4u;
  var best = vec4<f32>(NEG);
  for (var col0: u32 = 0u; col0 < p.K; col0 = col0 + 64u) {
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0: u32 = 0u; k0 < p.d; k0 = k0 + 16u) {
      for (var q: u32 = 0u; q < 4u; q = q + 1u) {
        let e = tid + q * 256u;
        let m = e / 16u;
        let k = e % 16u;
        As[k * 64u + m] = load_x(row0 + m, k0 + k);
        Bs[k * 64u + m] = load_pool(col0 + m, k0 + k);
      }
      workgroupBarrier();
      for (var kk: u32 = 0u; kk < 16u; kk = kk + 1u) {
        let a = vec4<f32>(As[kk * 64u + tm], As[kk * 64u + tm + 1u], As[kk * 64u + tm + 2u], As[kk * 64u + tm + 3u]);
        let b = vec4<f32>(Bs[kk * 64u + tn], Bs[kk * 64u + tn + 1u], Bs[kk * 64u + tn + 2u], Bs[kk * 64u + tn + 3u]);
        acc0 = fma(vec4<f32>(a.x), b, acc0);
        acc1 = fma(vec4<f32>(a.y), b, acc1);
        acc2 = fma(vec4<f32>(a.z), b, acc2);
        acc3 = fma(vec4<f32>(a.w), b, acc3);
      }
      workgroupBarrier();
    }
    // Columns past K must not win the max.
    let valid = vec4<bool>(col0 + tn < p.K, col0 + tn + 1u < p.K, col0 + tn + 2u < p.K, col0 + tn + 3u < p.K);
    let neg = vec4<f32>(NEG);
    let m0 = select(neg, acc0, valid);
    let m1 = select(neg, acc1, valid);
    let m2 = select(neg, acc2, valid);
    let m3 = select(neg, acc3, valid);
    best = max(best, vec4<f32>(max(max(m0.x, m0.y), max(m0.z, m0.w)), max(max(m1.x, m1.y), max(m1.z, m1.w)),
                               max(max(m2.x, m2.y), max(m2.z, m2.w)), max(max(m3.x, m3.y), max(m3.z, m3.w))));
  }
  // Merge the 16 lanes of each row.
  As[(tm + 0u) * 16u + lid.x] = best.x;
  As[(tm + 1u) * 16u + lid.x] = best.y;
  As[(tm + 2u) * 16u + lid.x] = best.z;
  As[(tm + 3u) * 16u + lid.x] = best.w;
  workgroupBarrier();
  if (tid < 64u) {
    var r = NEG;
    for (var l: u32 = 0u; l < 16u; l = l + 1u) { r = max(r, As[tid * 16u + l]); }
    let row = row0 + tid;
    if (row < p.N) { out[row * p.out_stride + p.out_off] = r; }
  }
}
