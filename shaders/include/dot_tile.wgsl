// dot_tile.wgsl — not a kernel: the 64×64 Gram tile shared by model/loss_fwd.wgsl and
// model/loss_sparse_mask.wgsl (both include it after hash.wgsl and loss_common.wgsl). The including shader
// defines `load_m(which, row, k) -> f32` (0 outside the matrix) and runs a 16×16 workgroup; each thread
// keeps a 4×4 block (rows tm.., cols tn..), K-step 16 through As/Bs, which the includer may reuse as
// scratch between tiles.
//
// fragment: the 64×64 Gram tile of the dense loss forward and the sparse masks
// reference: core/model/loss_ref.ts gramRef
// test: tests/model/loss_test.ts

var<workgroup> As: array<f32, 1024>; // [16 k][64 rows]
var<workgroup> Bs: array<f32, 1024>; // [16 k][64 cols]

// 64×64 tile of ⟨m_i, m_j⟩ (rows row0.., cols col0..) of matrix `which`; this thread's 4×4 block.
fn dot_tile(which: u32, dim: u32, row0: u32, col0: u32, tid: u32, tm: u32, tn: u32) -> array<vec4<f32>, 4> {
  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k0: u32 = 0u; k0 < dim; k0 = k0 + 16u) {
    for (var q: u32 = 0u; q < 4u; q = q + 1u) {
      let e = tid + q * 256u;
      let m = e / 16u;
      let k = e % 16u;
      As[k * 64u + m] = load_m(which, row0 + m, k0 + k);
      Bs[k * 64u + m] = load_m(which, col0 + m, k0 + k);
    }
    workgroupBarrier();
    for (var kk: u32 = 0u; kk < 16u; kk = kk + 1u) {
      let a = vec4<f32>(As[kk * 64u + tm], As[kk * 64u + tm + 1u], As[kk * 64u + tm + 2u], As[kk * 64u + tm + 3u]);
      let b = vec4<f32>(Bs[kk * 64u + tn], Bs[kk * 64u + tn + 1u], Bs[kk * 64u + tn + 2u], Bs[kk * 64u + tn + 3u]);
      acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
      acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
      acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
      acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }
  return acc;
}
